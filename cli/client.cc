// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "cli/client.h"

#include <errno.h>
#include <spawn.h>
#include <unistd.h>

#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <vector>

#include "openbits/hresult.h"

#include "platform/paths.h"
#include "platform/secret_buffer.h"

extern char** environ;

namespace openbits::cli {
namespace {

int ConnectTo(const std::string& path, int* error) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    *error = ENAMETOOLONG;
    return -1;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = errno;
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    *error = errno;
    ::close(fd);
    return -1;
  }
  return fd;
}

// openbitsd beside this executable, else the name for a PATH search.
std::string DaemonProgram() {
  const std::string dir = platform::ExecutableDirectory();
  if (!dir.empty()) {
    const std::string beside = dir + "/openbitsd";
    if (::access(beside.c_str(), X_OK) == 0) return beside;
  }
  return "openbitsd";
}

Status StartDaemon(const std::string& state_dir, const std::string& socket_path) {
  std::vector<std::string> args = {DaemonProgram(), "--state-dir", state_dir, "--socket",
                                   socket_path};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
    return Status(kEFileNotFound, "cannot start openbitsd (not beside bitsadmin, not on PATH)");
  }
  // openbitsd returns once its socket listens (it detaches a child to run).
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status(kEFail, "openbitsd did not start; see " + state_dir + "/openbitsd.log");
  }
  return Status::Ok();
}

}  // namespace

Result<DaemonClient> DaemonClient::Connect(const std::string& state_dir,
                                           const std::string& socket_path, bool autostart) {
  int error = 0;
  int fd = ConnectTo(socket_path, &error);
  if (fd < 0 && autostart && (error == ENOENT || error == ECONNREFUSED)) {
    OPENBITS_RETURN_IF_ERROR(StartDaemon(state_dir, socket_path));
    fd = ConnectTo(socket_path, &error);
  }
  if (fd < 0) {
    return Status(kEFail, "cannot reach openbitsd at " + socket_path + ": " + std::strerror(error));
  }
  return DaemonClient(fd);
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
  std::size_t newline;
  while ((newline = pending_.find('\n')) == std::string::npos) {
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status(kEFail, "openbitsd closed the connection");
    pending_.append(buf, static_cast<std::size_t>(n));
  }
  const std::string line = pending_.substr(0, newline);
  pending_.erase(0, newline + 1);
  json reply = json::parse(line, nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) {
    return Status(kEFail, "openbitsd sent a malformed reply");
  }
  if (reply.contains("error")) {
    const json& e = reply["error"];
    HResult code = kEFail;
    if (e.contains("data") && e["data"].contains("hresult")) {
      code = static_cast<HResult>(e["data"]["hresult"].get<std::uint32_t>());
    } else if (e.value("code", 0) == -32602 || e.value("code", 0) == -32600) {
      code = kEInvalidArg;
    }
    return Status(code, e.value("message", std::string("error")));
  }
  return reply.value("result", json::object());
}

}  // namespace openbits::cli
