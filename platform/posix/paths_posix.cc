// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include <limits.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "platform/paths.h"

namespace openbits::platform {
namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string();
}

}  // namespace

std::string DefaultStateDirectory() {
  if (std::string dir = Env("OPENBITS_STATE_DIR"); !dir.empty()) return dir;
  if (std::string xdg = Env("XDG_STATE_HOME"); !xdg.empty() && xdg.front() == '/') {
    return xdg + "/openbits";
  }
  if (std::string home = Env("HOME"); !home.empty()) return home + "/.local/state/openbits";
  return {};
}

std::string DefaultSocketPath(const std::string& state_directory) {
  if (std::string socket = Env("OPENBITS_SOCKET"); !socket.empty()) return socket;
  return state_directory + "/openbitsd.sock";
}

std::string ExecutableDirectory() {
#if defined(__linux__)
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string path(buf, static_cast<std::size_t>(n));
  return path.substr(0, path.find_last_of('/'));
#else
  return {};
#endif
}

}  // namespace openbits::platform
