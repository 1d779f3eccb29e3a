// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "tests/support/fault_server.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>
#include <random>
#include <sys/socket.h>

namespace openbits::testing {
namespace {

constexpr std::size_t kMaxRequestBytes = 16 * 1024;
constexpr int kReadTimeoutMs = 30000;
constexpr int kStallLimitMs = 60000;

std::string MakeBody(std::uint64_t size, std::uint32_t seed) {
  std::mt19937 random(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(random() & 0xff);
  return out;
}

bool SendAll(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool SendAll(int fd, const std::string& text) { return SendAll(fd, text.data(), text.size()); }

// Paces a slow fault: waits up to `ms` for the client to hang up (the event
// that ends the fault early). True if it did.
bool ClientLeft(int fd, int ms) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, ms) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// Closes with a TCP reset instead of a FIN.
void Reset(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

std::string HeaderValue(const std::string& head, const std::string& name) {
  std::size_t at = 0;
  while ((at = head.find("\r\n", at)) != std::string::npos) {
    at += 2;
    if (head.size() - at > name.size() + 1 &&
        std::equal(name.begin(), name.end(), head.begin() + static_cast<long>(at),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); }) &&
        head[at + name.size()] == ':') {
      std::size_t start = at + name.size() + 1;
      while (start < head.size() && head[start] == ' ') ++start;
      const std::size_t end = head.find("\r\n", start);
      return head.substr(start, end - start);
    }
  }
  return {};
}

}  // namespace

FaultServer::FaultServer(Fault fault, Options options) : fault_(fault), options_(options) {
  bodies_[0] = MakeBody(options_.size, 1);
  // The changed file is also longer: a size mix-up cannot go unnoticed.
  bodies_[1] = MakeBody(options_.size + 12345, 2);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 64) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return;
  }
  listen_fd_ = fd;
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { Accept(); });
}

FaultServer::~FaultServer() {
  stopping_ = true;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::lock_guard lock(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);  // wakes stalled handlers
  }
  for (std::thread& t : connections_) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

std::string FaultServer::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<FaultServer::Request> FaultServer::Requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void FaultServer::Accept() {
  while (!stopping_) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_ || (errno != EINTR && errno != ECONNABORTED)) return;
      continue;
    }
    std::lock_guard lock(mu_);
    open_fds_.push_back(fd);
    connections_.emplace_back([this, fd] { Serve(fd); });
  }
}

void FaultServer::Serve(int fd) {
  std::string head;
  char buffer[4096];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < kMaxRequestBytes) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kReadTimeoutMs) <= 0) break;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    head.append(buffer, static_cast<std::size_t>(n));
  }
  if (head.find("\r\n\r\n") != std::string::npos) {
    Request request;
    const std::size_t sp1 = head.find(' ');
    const std::size_t sp2 = head.find(' ', sp1 + 1);
    request.method = head.substr(0, sp1);
    request.path = head.substr(sp1 + 1, sp2 - sp1 - 1);
    request.range = HeaderValue(head, "Range");
    request.if_range = HeaderValue(head, "If-Range");
    request.at = std::chrono::steady_clock::now();
    int index;
    {
      std::lock_guard lock(mu_);
      index = static_cast<int>(requests_.size());
      requests_.push_back(request);
    }
    Respond(fd, request, index);
  }
  std::lock_guard lock(mu_);
  open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
  ::close(fd);
}

void FaultServer::Respond(int fd, const Request& request, int index) {
  // Faults of a resumed request need a first request that stops half-way.
  const bool on_resume = fault_ == Fault::kWrongContentRange ||
                         fault_ == Fault::kEarlierContentRange || fault_ == Fault::kIgnoreRange;
  const int fault_index = on_resume ? index - 1 : index;
  const bool faulty =
      fault_index >= 0 && (options_.faulty_requests < 0 || fault_index < options_.faulty_requests);
  const Fault f = on_resume && index == 0 ? Fault::kResetMidBody : (faulty ? fault_ : Fault::kNone);
  const int version = version_;
  const std::string& body = bodies_[version];
  const std::uint64_t size = body.size();
  const bool use_etag = fault_ != Fault::kChangeLastModified;
  const std::string etag = f == Fault::kEtagEveryRequest ? "\"r" + std::to_string(index) + "\""
                                                         : "\"v" + std::to_string(version) + "\"";
  const std::string last_modified =
      version == 0 ? "Mon, 02 Jan 2023 10:00:00 GMT" : "Tue, 03 Jan 2023 10:00:00 GMT";

  if (f == Fault::kEndlessRedirect || f == Fault::kRedirectLoop) {
    std::string target = "/hop" + std::to_string(index + 1);
    if (f == Fault::kRedirectLoop) target = request.path == "/a" ? "/b" : "/a";
    SendAll(fd, "HTTP/1.1 302 Found\r\nLocation: " + target +
                    "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return;
  }
  if (f == Fault::kEndlessHeaders) {
    if (!SendAll(fd, "HTTP/1.1 200 OK\r\n")) return;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kStallLimitMs);
    for (int i = 0; !stopping_ && std::chrono::steady_clock::now() < deadline; ++i) {
      const std::string piece = i % 16 == 15 ? "\r\n" : (i % 16 == 0 ? "X-Slow: " : "a");
      if (!SendAll(fd, piece) || ClientLeft(fd, 50)) return;  // the client gave up
    }
    return;
  }
  if (f == Fault::k503 || f == Fault::k503RetryAfter) {
    std::string response = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n";
    if (f == Fault::k503RetryAfter) {
      response += "Retry-After: " + std::to_string(options_.retry_after_seconds) + "\r\n";
    }
    SendAll(fd, response + "Connection: close\r\n\r\n");
    return;
  }

  // Range: "bytes=N-" or "bytes=N-M", honoured when If-Range still matches.
  std::uint64_t first = 0;
  std::uint64_t last = size - 1;
  bool partial = false;
  if (request.range.rfind("bytes=", 0) == 0) {
    const std::string spec = request.range.substr(6);
    const std::size_t dash = spec.find('-');
    const bool validator_matches = request.if_range.empty() || f == Fault::kEtagEveryRequest ||
                                   request.if_range == (use_etag ? etag : last_modified);
    if (dash != std::string::npos && validator_matches && f != Fault::kIgnoreRange) {
      first = std::stoull(spec.substr(0, dash));
      if (dash + 1 < spec.size())
        last = std::min<std::uint64_t>(std::stoull(spec.substr(dash + 1)), size - 1);
      partial = true;
    }
  }
  if (partial && first >= size) {
    SendAll(fd, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */" +
                    std::to_string(size) + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    return;
  }
  if (f == Fault::kWrongContentRange && partial) {
    // A part of the file after the one asked for, honestly labelled: taken,
    // it would leave a hole.
    first = std::min(last, first + 1000);
  }
  if (f == Fault::kEarlierContentRange && partial) {
    // From before the byte asked for, covering it, honestly labelled.
    first = first >= 1000 ? first - 1000 : 0;
  }
  const bool absurd = f == Fault::kAbsurdLength;
  if (absurd) partial = false;
  std::string head = partial ? "HTTP/1.1 206 Partial Content\r\n" : "HTTP/1.1 200 OK\r\n";
  if (!partial) {
    first = 0;
    last = size - 1;
  }
  const std::uint64_t length = last - first + 1;
  if (partial) {
    head += "Content-Range: bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" +
            std::to_string(size) + "\r\n";
  }
  head += "Content-Length: " + (absurd ? std::string("1000000000000000") : std::to_string(length)) +
          "\r\n";
  head += "Accept-Ranges: bytes\r\nContent-Type: application/octet-stream\r\n";
  if (use_etag) head += "ETag: " + etag + "\r\n";
  head += "Last-Modified: " + last_modified + "\r\n";
  if (f == Fault::kGzip) head += "Content-Encoding: gzip\r\n";
  head += f == Fault::kBrokenKeepAlive ? "\r\n" : "Connection: close\r\n\r\n";

  if (f == Fault::kSlowHeaders) {
    for (char c : head) {
      if (!SendAll(fd, &c, 1) || ClientLeft(fd, 2)) return;
    }
  } else if (!SendAll(fd, head)) {
    return;
  }
  const char* data = body.data() + first;
  switch (f) {
    case Fault::kResetMidBody:
    case Fault::kChangeEtag:
    case Fault::kChangeLastModified:
      SendAll(fd, data, length / 2);
      Reset(fd);
      if (f != Fault::kResetMidBody) version_ = 1;
      return;
    case Fault::kCloseEarly:
      SendAll(fd, data, length / 2);
      ::shutdown(fd, SHUT_WR);
      return;
    case Fault::kStall: {
      SendAll(fd, data, length / 2);
      // Silence until the client gives up (or the server stops).
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(kStallLimitMs);
      while (!stopping_ && std::chrono::steady_clock::now() < deadline && !ClientLeft(fd, 1000)) {
      }
      return;
    }
    case Fault::kLongerBody:
      SendAll(fd, data, length);
      SendAll(fd, std::string(1000, 'X'));
      return;
    default:
      SendAll(fd, data, length);
      return;
  }
}

}  // namespace openbits::testing
