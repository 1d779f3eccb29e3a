// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Small OS services: randomness and the identity of the calling user.
// One implementation per OS (system_posix.cc).

#ifndef OPENBITS_PLATFORM_SYSTEM_H_
#define OPENBITS_PLATFORM_SYSTEM_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace openbits::platform {

// Fills `size` bytes at `out` from the OS's cryptographic random source.
// Aborts the process if no such source works (it cannot be done safely
// without one).
void FillRandom(void* out, std::size_t size);

// The calling process's user, as the owner string stored with jobs (on
// POSIX the decimal effective uid).
std::string CurrentUserId();

// The mode a newly created regular file gets from this process: 0666 less
// the umask.
unsigned DefaultFileMode();

// The owner of the file at `path` as an owner string (like CurrentUserId),
// or "" if it cannot be examined. Symbolic links are not followed.
std::string OwnerOf(const std::string& path);

// True when the caller may see and change every user's jobs (root on POSIX).
bool IsAdministrator();

// Returns memory the heap holds free to the OS where the allocator can
// (glibc keeps freed memory otherwise); a no-op elsewhere.
void ReleaseFreedMemory();

}  // namespace openbits::platform

#endif  // OPENBITS_PLATFORM_SYSTEM_H_
