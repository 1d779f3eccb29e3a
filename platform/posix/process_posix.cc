// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include <fcntl.h>
#include <grp.h>
#include <spawn.h>
#include <unistd.h>

#include <sys/wait.h>

#include "openbits/hresult.h"

#include "platform/process.h"

extern char** environ;

namespace openbits::platform {
namespace {

// fork + drop to `user` + exec: posix_spawn cannot change the identity.
// Everything the child needs is prepared before fork; the child then only
// makes system calls (a multi-threaded parent allows nothing else).
Result<int> SpawnAs(const std::string& program, std::vector<char*>& argv,
                    const UserIdentity& user) {
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

Result<int> SpawnProcess(const std::string& program, const std::vector<std::string>& args,
                         const std::optional<UserIdentity>& run_as) {
  std::vector<std::string> owned = args;
  std::vector<char*> argv;
  for (auto& a : owned) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (run_as) return SpawnAs(program, argv, *run_as);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, program.c_str(), &actions, &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) return Status(kEFileNotFound, "cannot start " + program);
  return static_cast<int>(pid);
}

ProcessExit PollProcess(int pid) {
  int status = 0;
  const pid_t done = ::waitpid(pid, &status, WNOHANG);
  if (done == 0) return ProcessExit::kRunning;
  return done > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? ProcessExit::kSucceeded
                                                                   : ProcessExit::kFailed;
}

}  // namespace openbits::platform
