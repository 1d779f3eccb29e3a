// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The file operations the engine needs, expressed so that every user-chosen
// path is resolved once to a directory handle and then used handle-relative
// (the lesson of CVE-2020-0787: never re-resolve a path by name between check
// and use, never follow a link at the last component).
//
// One implementation per OS: file_system_posix.cc (Linux, macOS, BSD). Errors
// are mapped to HRESULTs at exactly one place per OS.

#ifndef OPENBITS_PLATFORM_FILE_SYSTEM_H_
#define OPENBITS_PLATFORM_FILE_SYSTEM_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "openbits/status.h"

namespace openbits::platform {

// A move-only owner of an OS file descriptor (or HANDLE on Windows).
class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : fd_(other.release()) {}
  ScopedFd& operator=(ScopedFd&& other) noexcept;
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd();

  bool valid() const { return fd_ >= 0; }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset();

 private:
  int fd_ = -1;
};

// Splits "/a/b/c.bin" into "/a/b" and "c.bin". REQUIRES: absolute path.
struct PathParts {
  std::string directory;
  std::string name;
};
Result<PathParts> SplitAbsolutePath(std::string_view path);

bool IsAbsolutePath(std::string_view path);

// Creates `path` and its missing parents with `mode`.
Status MakeDirectories(const std::string& path, unsigned mode);

// Opens an existing directory for handle-relative operations.
Result<ScopedFd> OpenDirectory(const std::string& path);

// Creates a new file `name` in `dir`; fails with ERROR_FILE_EXISTS if anything
// (a link included) already has that name.
Result<ScopedFd> CreateExclusive(const ScopedFd& dir, const std::string& name, unsigned mode);

// The same for `name` in the directory `directory` (an absolute path),
// without opening the directory first.
Result<ScopedFd> CreateExclusive(const std::string& directory, const std::string& name,
                                 unsigned mode);

// Opens an existing regular file `name` in `dir` for reading and writing;
// refuses a symbolic link at the last component.
Result<ScopedFd> OpenExisting(const ScopedFd& dir, const std::string& name);

// Writes all of [data, data+size) at `offset`.
Status WriteAt(const ScopedFd& fd, const void* data, std::size_t size, std::uint64_t offset);

// Flushes the file's data (and the metadata needed to read it) to stable
// storage.
Status SyncData(const ScopedFd& fd);

// SyncData for several files at once, one result per file. Where the OS
// can flush a whole file system in one step (Linux's syncfs), files on the
// same file system share one flush instead of paying one each.
std::vector<Status> SyncDataOfFiles(const std::vector<const ScopedFd*>& files);

// Asks the OS to start writing [offset, offset+length) to storage now,
// without waiting. Spreads the disk work over the download so that the
// next SyncData finds little left to do. A no-op where unsupported.
void StartWriteback(const ScopedFd& fd, std::uint64_t offset, std::uint64_t length);

// Makes renames and creations inside the directory durable.
Status SyncDirectory(const ScopedFd& dir);

Status Truncate(const ScopedFd& fd, std::uint64_t size);

Result<std::uint64_t> FileSize(const ScopedFd& fd);

// Renames `from` to `to` inside `dir`, replacing `to` if it exists.
Status RenameAt(const ScopedFd& dir, const std::string& from, const std::string& to);

// Removes `name` from `dir`. Missing files are not an error.
Status RemoveAt(const ScopedFd& dir, const std::string& name);

// True if `name` exists in `dir` (without following a final link).
bool ExistsAt(const ScopedFd& dir, const std::string& name);

// Sets the permission bits of an open file.
Status SetMode(const ScopedFd& fd, unsigned mode);

// The permission bits of `name` in `dir`; fails when it is missing, a link,
// or anything but a regular file.
Result<unsigned> RegularFileModeAt(const ScopedFd& dir, const std::string& name);

Status SetModificationTime(const ScopedFd& fd, std::chrono::system_clock::time_point when);

// Checks that `path` (absolute) can become a downloaded file: its directory
// exists and the caller may write there; `path` is not a directory, device,
// FIFO or socket (Complete would replace it); and the directory, with its
// symbolic links resolved, is not inside `forbidden_root` (when not empty).
// E_INVALIDARG, ERROR_PATH_NOT_FOUND or E_ACCESSDENIED with the reason.
Status CheckDestination(const std::string& path, const std::string& forbidden_root);
// The two halves of CheckDestination: everything about the directory (the
// same answer for every file in it, so a caller adding many files asks once
// per directory), and everything about the name itself.
Status CheckDestinationDirectory(const std::string& directory, const std::string& forbidden_root);
Status CheckDestinationName(const std::string& path);
// The names in `directory` (without "." and ".."), or an error if it holds
// more than `at_most`: a caller checking many new names in one directory
// reads it once and looks up only the names it finds there.
Result<std::vector<std::string>> NamesIn(const std::string& directory, std::size_t at_most);

// Takes an exclusive advisory lock on `path` (created if missing) for as
// long as the returned descriptor lives. E_ACCESSDENIED if another holder
// exists.
Result<ScopedFd> LockFile(const std::string& path);

}  // namespace openbits::platform

#endif  // OPENBITS_PLATFORM_FILE_SYSTEM_H_
