// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// openbits_timed_run OUT_FILE COMMAND [ARG...]
//
// Runs COMMAND and writes "WALL USER SYS" (seconds, microsecond precision)
// to OUT_FILE: wall time from a monotonic clock, user and system CPU of the
// command and every child it waited for (wait4's rusage). GNU time prints
// hundredths, which is 10% of a small-file run and more of its CPU time.
// Exits with the command's status (128 + signal if it was killed).

#include <spawn.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sys/resource.h>
#include <sys/wait.h>

extern char** environ;

namespace {

double Seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }

double Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s OUT_FILE COMMAND [ARG...]\n", argv[0]);
    return 2;
  }
  const double start = Now();
  pid_t pid = 0;
  if (int rc = posix_spawnp(&pid, argv[2], nullptr, nullptr, argv + 2, environ); rc != 0) {
    std::fprintf(stderr, "%s: cannot run %s: %s\n", argv[0], argv[2], std::strerror(rc));
    return 127;
  }
  int status = 0;
  rusage usage{};
  while (wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) {
      std::perror("wait4");
      return 125;
    }
  }
  const double wall = Now() - start;
  std::FILE* out = std::fopen(argv[1], "w");
  if (out == nullptr) {
    std::fprintf(stderr, "%s: cannot write %s: %s\n", argv[0], argv[1], std::strerror(errno));
    return 125;
  }
  std::fprintf(out, "%.6f %.6f %.6f\n", wall, Seconds(usage.ru_utime), Seconds(usage.ru_stime));
  if (std::fclose(out) != 0) return 125;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}
