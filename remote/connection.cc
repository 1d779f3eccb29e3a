// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "remote/connection.h"

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

extern char** environ;

namespace openbits::remote {
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

Status StartDaemon(const std::string& state_dir, const std::string& socket_path,
                   const std::string& program) {
  std::vector<std::string> args = {program.empty() ? DaemonProgram() : program, "--state-dir",
                                   state_dir, "--socket", socket_path};
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

Result<int> ConnectToDaemon(const std::string& state_dir, const std::string& socket_path,
                            bool autostart, const std::string& daemon_program) {
  int error = 0;
  int fd = ConnectTo(socket_path, &error);
  if (fd < 0 && autostart && (error == ENOENT || error == ECONNREFUSED)) {
    OPENBITS_RETURN_IF_ERROR(StartDaemon(state_dir, socket_path, daemon_program));
    fd = ConnectTo(socket_path, &error);
  }
  if (fd < 0) {
    return Status(kEFail, "cannot reach openbitsd at " + socket_path + ": " + std::strerror(error));
  }
  return fd;
}

}  // namespace openbits::remote
