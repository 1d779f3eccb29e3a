// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Acting as a job's owner. The system-wide daemon runs as root but must
// never create, write, rename or delete a file with more rights than the
// job's owner (the CVE-2020-0787 class, bits-api.md §8): every such file
// operation runs inside a FileIdentity of the owner. One implementation per
// OS (identity_posix.cc: Linux fsuid/fsgid and supplementary groups, which
// the kernel keeps per thread).

#ifndef OPENBITS_PLATFORM_IDENTITY_H_
#define OPENBITS_PLATFORM_IDENTITY_H_

#include <string>
#include <sys/types.h>
#include <vector>

#include "openbits/status.h"

namespace openbits::platform {

// A user's identity for file access and for running their programs.
struct UserIdentity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string home;
};

// Looks up the user of an owner string (the decimal uid on POSIX).
// E_ACCESSDENIED if there is no such user.
Result<UserIdentity> LookUpUser(const std::string& owner);

// While alive, the calling thread's file operations are checked against
// `user` instead of the process's identity (and only the calling thread's).
// Move-only; restores the previous identity when destroyed. A no-op object
// when the process already is that user.
class FileIdentity {
 public:
  static Result<FileIdentity> Assume(const UserIdentity& user);
  FileIdentity(FileIdentity&& other) noexcept;
  FileIdentity& operator=(FileIdentity&&) = delete;
  FileIdentity(const FileIdentity&) = delete;
  FileIdentity& operator=(const FileIdentity&) = delete;
  ~FileIdentity();

 private:
  FileIdentity() = default;
  bool active_ = false;
  std::vector<gid_t> saved_groups_;
};

}  // namespace openbits::platform

#endif  // OPENBITS_PLATFORM_IDENTITY_H_
