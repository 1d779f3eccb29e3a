// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/stat.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <openssl/rand.h>

#include "platform/system.h"

namespace openbits::platform {

void FillRandom(void* out, std::size_t size) {
  // OpenSSL's DRBG is seeded from the OS (getrandom, arc4random, BCrypt)
  // and is the same on every platform we build for.
  if (RAND_bytes(static_cast<unsigned char*>(out), static_cast<int>(size)) != 1) {
    std::fputs("openbits: no working random source\n", stderr);
    std::abort();
  }
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
