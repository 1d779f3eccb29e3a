// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/notify_command.h"

#include <fcntl.h>
#include <grp.h>
#include <spawn.h>
#include <unistd.h>

#include "openbits/hresult.h"

extern char** environ;

namespace openbits::engine {
namespace {

constexpr std::size_t kMaxProgram = 4096;
constexpr std::size_t kMaxParameters = 4000;

std::string_view BaseName(std::string_view path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

Result<std::vector<std::string>> SplitCommandLine(std::string_view text) {
  std::vector<std::string> args;
  std::string current;
  bool in_token = false;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '\\' && i + 1 < text.size() && text[i + 1] == '"') {
        current += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        current += c;
      }
    } else if (c == ' ' || c == '\t') {
      if (in_token) args.push_back(std::move(current));
      current.clear();
      in_token = false;
    } else if (c == '"') {
      quoted = true;
      in_token = true;
    } else {
      current += c;
      in_token = true;
    }
  }
  if (quoted) return Status(kEInvalidArg, "unterminated quote in the parameters");
  if (in_token) args.push_back(std::move(current));
  return args;
}

Status ValidateNotifyCommand(std::string_view program, std::string_view parameters) {
  if (program.empty() && parameters.empty()) return Status::Ok();
  if (program.empty() || program.front() != '/') {
    return Status(kEInvalidArg, "the notification program must be an absolute path");
  }
  if (program.size() > kMaxProgram) return Status(kBgEStringTooLong, "program path too long");
  if (parameters.size() > kMaxParameters) {
    return Status(kBgEStringTooLong, "the parameters are longer than 4000 characters");
  }
  for (std::string_view s : {program, parameters}) {
    for (unsigned char c : s) {
      if (c < 0x20 && c != '\t') return Status(kEInvalidArg, "control character in the command");
    }
  }
  if (parameters.empty()) return Status::Ok();
  auto args = SplitCommandLine(parameters);
  if (!args.ok()) return args.status();
  if (args->empty() || ((*args)[0] != program && BaseName((*args)[0]) != BaseName(program))) {
    return Status(kEInvalidArg, "the parameters must start with the program's name");
  }
  return Status::Ok();
}

namespace {

// fork + drop to `user` + exec: posix_spawn cannot change the identity.
// Everything the child needs is prepared before fork; the child then only
// makes system calls (a multi-threaded parent allows nothing else).
Result<int> StartAs(const std::string& program, std::vector<char*>& argv,
                    const platform::UserIdentity& user) {
  std::vector<std::string> env_copy;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (entry.rfind("HOME=", 0) == 0 || entry.rfind("KRB5CCNAME=", 0) == 0) continue;
    env_copy.emplace_back(entry);
  }
  env_copy.push_back("HOME=" + user.home);
  std::vector<char*> envp;
  for (auto& e : env_copy) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string home = user.home.empty() ? "/" : user.home;
  const pid_t pid = ::fork();
  if (pid < 0) return Status(kEFail, "cannot fork for " + program);
  if (pid == 0) {
    ::setpgid(0, 0);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    if (::setgroups(user.groups.size(), user.groups.data()) != 0 || ::setgid(user.gid) != 0 ||
        ::setuid(user.uid) != 0 || (user.uid != 0 && ::setuid(0) == 0)) {
      _exit(126);  // never run the command with more rights than its owner
    }
    if (::chdir(home.c_str()) != 0) (void)::chdir("/");
    ::execve(program.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  return static_cast<int>(pid);
}

}  // namespace

Result<int> StartNotifyCommand(const std::string& program, std::string_view parameters,
                               const std::optional<platform::UserIdentity>& run_as) {
  std::vector<std::string> args;
  if (parameters.empty()) {
    args.push_back(program);
  } else {
    auto split = SplitCommandLine(parameters);
    if (!split.ok()) return split.status();
    args = std::move(*split);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (run_as) return StartAs(program, argv, *run_as);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  // Its own process group: a signal to the daemon's group does not reach it.
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, program.c_str(), &actions, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) return Status(kEFileNotFound, "cannot start " + program);
  return static_cast<int>(pid);
}

}  // namespace openbits::engine
