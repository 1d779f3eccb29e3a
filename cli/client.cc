// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "cli/client.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>
#include <sys/socket.h>

#include "openbits/hresult.h"

#include "daemon/connection.h"
#include "daemon/json_rpc.h"
#include "platform/secret_buffer.h"

namespace openbits::cli {

Result<DaemonClient> DaemonClient::Connect(const std::string& state_dir,
                                           const std::string& socket_path, bool autostart) {
  auto fd = daemon::ConnectToDaemon(state_dir, socket_path, autostart);
  if (!fd.ok()) return fd.status();
  return DaemonClient(*fd);
}

DaemonClient::~DaemonClient() {
  if (fd_ >= 0) ::close(fd_);
}

Result<nlohmann::json> DaemonClient::Call(const std::string& method, const nlohmann::json& params) {
  using nlohmann::json;
  const long id = next_id_++;
  std::string request =
      json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump(
          -1, ' ', false, json::error_handler_t::replace);
  request += '\n';
  for (std::size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return Status(kEFail, "the connection to openbitsd broke");
    }
    sent += static_cast<std::size_t>(n);
  }
  platform::Cleanse(request);  // it may have carried a password
  json reply;
  while (true) {
    auto line = NextLine(-1);
    if (!line.ok()) return line.status();
    reply = json::parse(*line, nullptr, false);
    if (reply.is_discarded() || !reply.is_object()) {
      return Status(kEFail, "openbitsd sent a malformed reply");
    }
    if (reply.contains("id")) break;
    ++events_seen_;  // a job.event that arrived before our reply
  }
  return daemon::ResultOfReply(std::move(reply));
}

Result<std::string> DaemonClient::NextLine(int timeout_ms) {
  std::size_t newline;
  // Only the bytes not searched yet: a reply of many megabytes arrives in
  // 64 KiB pieces, and searching from the start each time is quadratic.
  std::size_t searched = 0;
  while ((newline = pending_.find('\n', searched)) == std::string::npos) {
    searched = pending_.size();
    if (timeout_ms >= 0) {
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, timeout_ms);
      if (ready == 0) return Status(kWinHttpTimeout, "no message");
      if (ready < 0 && errno != EINTR) return Status(kEFail, "poll failed");
    }
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status(kEFail, "openbitsd closed the connection");
    pending_.append(buf, static_cast<std::size_t>(n));
  }
  std::string line = pending_.substr(0, newline);
  pending_.erase(0, newline + 1);
  return line;
}

bool DaemonClient::WaitForEvent(int timeout_ms) {
  if (events_seen_ > 0) {
    events_seen_ = 0;
    return true;
  }
  auto line = NextLine(timeout_ms);
  return line.ok();
}

}  // namespace openbits::cli
