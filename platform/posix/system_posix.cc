// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/stat.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__linux__)
#include <sys/random.h>
#endif

#include "platform/system.h"

namespace openbits::platform {

void FillRandom(void* out, std::size_t size) {
  // The kernel's generator directly: setting up OpenSSL's DRBG, seeded from
  // the same source, on its first call was 1.5% of the engine thread's
  // samples in a process that creates and downloads one job of 2,000 files.
#if defined(__linux__)
  auto* next = static_cast<unsigned char*>(out);
  while (size > 0) {
    const ssize_t n = ::getrandom(next, size, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fputs("openbits: no working random source\n", stderr);
      std::abort();
    }
    next += n;
    size -= static_cast<std::size_t>(n);
  }
#else
  arc4random_buf(out, size);  // macOS and the BSDs: never fails
#endif
}

unsigned DefaultFileMode() {
#if defined(__linux__)
  // Reading the umask without changing it, even briefly: other threads of
  // the embedding process may be creating files right now.
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    unsigned mask = 0;
    bool found = false;
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::sscanf(line, "Umask: %o", &mask) == 1) {
        found = true;
        break;
      }
    }
    std::fclose(f);
    if (found) return 0666u & ~mask;
  }
#endif
  const mode_t mask = ::umask(022);
  ::umask(mask);
  return 0666u & ~static_cast<unsigned>(mask);
}

std::string CurrentUserId() { return std::to_string(::geteuid()); }

bool IsAdministrator() { return ::geteuid() == 0; }

std::string OwnerOf(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {};
  return std::to_string(st.st_uid);
}

void ReleaseFreedMemory() {
#if defined(__GLIBC__)
  ::malloc_trim(0);
#endif
}

}  // namespace openbits::platform
