// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/wait.h>
#include <vector>

#include "openbits/hresult.h"

#include "platform/file_system.h"
#include "platform/paths.h"
#include "platform/proxy_resolver.h"

extern char** environ;

namespace openbits::platform {
namespace {

constexpr std::size_t kMaxAnswer = 64 * 1024;

// Where the helper is: $OPENBITS_PROXY_RESOLVER, beside the running
// executable (build trees, tests), or where `make install` puts it.
std::string HelperPath() {
  if (const char* path = std::getenv("OPENBITS_PROXY_RESOLVER"); path != nullptr && *path) {
    return path;
  }
  const std::string beside = ExecutableDirectory() + "/openbits-proxy-resolver";
  if (!ExecutableDirectory().empty() && ::access(beside.c_str(), X_OK) == 0) return beside;
  return OPENBITS_PROXY_RESOLVER_INSTALLED_PATH;
}

bool IsProxyVariable(std::string_view entry) {
  for (std::string_view name :
       {"http_proxy=", "HTTP_PROXY=", "https_proxy=", "HTTPS_PROXY=", "ftp_proxy=", "FTP_PROXY=",
        "all_proxy=", "ALL_PROXY=", "no_proxy=", "NO_PROXY="}) {
    if (entry.rfind(name, 0) == 0) return true;
  }
  return false;
}

class HelperResolver final : public ProxyResolver {
 public:
  HelperResolver(ProxyDiscovery mode, std::string script_url)
      : mode_(mode), script_url_(std::move(script_url)) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
      cancel_read_ = ScopedFd(fds[0]);
      cancel_write_ = ScopedFd(fds[1]);
    }
  }

  void Cancel() override {
    cancelled_ = true;
    if (cancel_write_.valid()) (void)!::write(cancel_write_.get(), "x", 1);
  }
  ~HelperResolver() override {
    std::lock_guard<std::mutex> lock(mu_);
    Stop();
  }

  void Prepare() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!cancelled_ && pid_ <= 0) (void)Start();
  }

  Result<std::vector<std::string>> ProxiesFor(const std::string& url,
                                              std::chrono::milliseconds timeout) override {
    for (char c : url) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
        return Status(kEInvalidArg, "the URL has a blank or control character");
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return Status(kEAbort, "proxy discovery was cancelled");
    if (pid_ <= 0) OPENBITS_RETURN_IF_ERROR(Start());
    auto answer = Ask(url + "\n", timeout);
    if (!answer.ok()) {
      Stop();  // a helper stuck in a PAC script is not asked again
      return answer.status();
    }
    if (answer->rfind("error ", 0) == 0) {
      return Status(kWinHttpAutoProxyServiceError, "proxy discovery: " + answer->substr(6));
    }
    std::vector<std::string> proxies;
    std::size_t i = 0;
    while (i < answer->size()) {
      const std::size_t end = std::min(answer->find(' ', i), answer->size());
      if (end > i) proxies.push_back(answer->substr(i, end - i));
      i = end + 1;
    }
    if (proxies.empty()) proxies.push_back("direct://");
    return proxies;
  }

 private:
  Status Start() {
    const std::string helper = HelperPath();
    if (::access(helper.c_str(), X_OK) != 0) {
      return Status(kWinHttpAutoProxyServiceError,
                    "proxy discovery: cannot run " + helper + ": " + std::strerror(errno));
    }
    std::vector<std::string> env;
    const bool autodetect = mode_ == ProxyDiscovery::kAutodetect;
    for (char** e = environ; *e != nullptr; ++e) {
      // AUTODETECT ignores the configured proxies: libproxy is told to
      // discover (WPAD) or to run the given script, nothing else.
      if (autodetect && IsProxyVariable(*e)) continue;
      if (std::string_view(*e).rfind("PX_", 0) == 0) continue;
      env.emplace_back(*e);
    }
    if (autodetect) {
      env.push_back("http_proxy=" +
                    (script_url_.empty() ? std::string("wpad://") : "pac+" + script_url_));
    }
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string program = helper;
    std::vector<char*> argv = {program.data(), nullptr};

    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      return Status(kWinHttpAutoProxyServiceError,
                    std::string("proxy discovery: socketpair: ") + std::strerror(errno));
    }
    ScopedFd ours(fds[0]);
    ScopedFd theirs(fds[1]);
    const int child_end = theirs.get();
    // posix_spawn, not fork: copying the page tables of a daemon with a big
    // heap and many threads costs milliseconds that the first lookup waits.
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, child_end, 0);
    posix_spawn_file_actions_adddup2(&actions, child_end, 1);
    pid_t pid = -1;
    const int spawned = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
      return Status(kWinHttpAutoProxyServiceError,
                    "proxy discovery: cannot start " + helper + ": " + std::strerror(spawned));
    }
    pid_ = pid;
    fd_ = std::move(ours);
    buffer_.clear();
    return Status::Ok();
  }

  void Stop() {
    fd_.reset();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }

  Result<std::string> Ask(const std::string& request, std::chrono::milliseconds timeout) {
    std::size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n =
          ::send(fd_.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return Status(kWinHttpAutoProxyServiceError, "proxy discovery: the helper is gone");
      }
      sent += static_cast<std::size_t>(n);
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      if (buffer_.size() > kMaxAnswer) {
        return Status(kWinHttpAutoProxyServiceError, "proxy discovery: the answer is too long");
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return Status(kWinHttpAutodetectionFailed,
                      "proxy discovery gave no answer within " +
                          std::to_string(timeout.count() / 1000) +
                          " s (a PAC script that does not finish, or an unreachable one)");
      }
      pollfd p[2] = {{fd_.get(), POLLIN, 0}, {cancel_read_.get(), POLLIN, 0}};
      const int ready = ::poll(p, 2, static_cast<int>(left.count()));
      if (cancelled_) return Status(kEAbort, "proxy discovery was cancelled");
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char chunk[4096];
      const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return Status(kWinHttpAutoProxyServiceError,
                      "proxy discovery: the helper stopped (see the daemon's log)");
      }
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  const ProxyDiscovery mode_;
  const std::string script_url_;
  std::atomic<bool> cancelled_{false};
  ScopedFd cancel_read_;
  ScopedFd cancel_write_;
  std::mutex mu_;
  pid_t pid_ = -1;
  ScopedFd fd_;
  std::string buffer_;
};

}  // namespace

bool ProxyResolutionAvailable() {
  static const bool available =
      OPENBITS_HAVE_PROXY_RESOLVER != 0 && ::access(HelperPath().c_str(), X_OK) == 0;
  return available;
}

std::unique_ptr<ProxyResolver> NewProxyResolver(ProxyDiscovery mode, std::string script_url) {
  return std::make_unique<HelperResolver>(mode, std::move(script_url));
}

}  // namespace openbits::platform
