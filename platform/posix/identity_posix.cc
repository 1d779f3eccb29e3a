// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Linux keeps the filesystem uid and gid and the supplementary groups per
// thread, but glibc's setgroups() broadcasts to every thread of the
// process. The raw system calls below change only the calling thread,
// which is what a daemon whose other threads keep working as root needs.

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sys/syscall.h>

#include "openbits/hresult.h"

#include "platform/identity.h"

namespace openbits::platform {

Result<UserIdentity> LookUpUser(const std::string& owner) {
  char* end = nullptr;
  errno = 0;
  const unsigned long uid = std::strtoul(owner.c_str(), &end, 10);
  if (owner.empty() || *end != '\0' || errno != 0) {
    return Status(kEAccessDenied, "the owner \"" + owner + "\" is not a user id");
  }
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(static_cast<uid_t>(uid), &pw, buffer.data(), buffer.size(), &found) != 0 ||
      found == nullptr) {
    return Status(kEAccessDenied, "no user with id " + owner);
  }
  UserIdentity user;
  user.uid = pw.pw_uid;
  user.gid = pw.pw_gid;
  user.home = pw.pw_dir != nullptr ? pw.pw_dir : "";
  int count = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<std::size_t>(count));
    if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &count) < 0) {
      return Status(kEAccessDenied, "cannot read the groups of user " + owner);
    }
  }
  groups.resize(static_cast<std::size_t>(count));
  user.groups = std::move(groups);
  return user;
}

Result<FileIdentity> FileIdentity::Assume(const UserIdentity& user) {
  FileIdentity identity;
  if (user.uid == ::geteuid()) return identity;  // nothing to drop
  const int count = ::getgroups(0, nullptr);
  identity.saved_groups_.resize(static_cast<std::size_t>(count > 0 ? count : 0));
  if (count > 0 && ::getgroups(count, identity.saved_groups_.data()) < 0) {
    return Status(kEAccessDenied, "cannot read this thread's groups");
  }
  // Groups and gid first: once fsuid is not root, they cannot be changed
  // back without the capabilities that the fsuid change drops.
  if (::syscall(SYS_setgroups, user.groups.size(), user.groups.data()) != 0) {
    return Status(kEAccessDenied, "cannot take the groups of uid " + std::to_string(user.uid));
  }
  ::syscall(SYS_setfsgid, user.gid);
  ::syscall(SYS_setfsuid, user.uid);
  // setfsuid reports the previous value, never an error: read it back.
  const long fsuid = ::syscall(SYS_setfsuid, static_cast<uid_t>(-1));
  const long fsgid = ::syscall(SYS_setfsgid, static_cast<gid_t>(-1));
  identity.active_ = true;  // the destructor restores whatever was changed
  if (fsuid != static_cast<long>(user.uid) || fsgid != static_cast<long>(user.gid)) {
    return Status(kEAccessDenied, "cannot act as uid " + std::to_string(user.uid));
  }
  return identity;
}

FileIdentity::FileIdentity(FileIdentity&& other) noexcept
    : active_(other.active_), saved_groups_(std::move(other.saved_groups_)) {
  other.active_ = false;
}

FileIdentity::~FileIdentity() {
  if (!active_) return;
  // fsuid back first: restoring groups needs the capability it gives back.
  ::syscall(SYS_setfsuid, ::geteuid());
  ::syscall(SYS_setfsgid, ::getegid());
  ::syscall(SYS_setgroups, saved_groups_.size(), saved_groups_.data());
}

}  // namespace openbits::platform
