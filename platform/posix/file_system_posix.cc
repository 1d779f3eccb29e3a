// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <string>
#include <string_view>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <vector>

#include "openbits/hresult.h"

#include "platform/file_system.h"

namespace openbits::platform {
namespace {

// The one place where errno becomes an HRESULT.
Status PosixError(std::string_view context, int err) {
  HResult code = kEFail;
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      code = kEPathNotFound;
      break;
    case EACCES:
    case EPERM:
    case EROFS:
    case ELOOP:  // a link where none is allowed
      code = kEAccessDenied;
      break;
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
    case EFBIG:
      code = kEDiskFull;
      break;
    case EEXIST:
      code = kEFileExists;
      break;
    case EMFILE:
    case ENFILE:
      code = kETooManyOpenFiles;
      break;
    case EIO:
      code = kEWriteFault;
      break;
    case ENOMEM:
      code = kEOutOfMemory;
      break;
    default:
      break;
  }
  std::string message(context);
  message += ": ";
  message += std::strerror(err);
  return Status(code, std::move(message));
}

}  // namespace

ScopedFd& ScopedFd::operator=(ScopedFd&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = other.release();
  }
  return *this;
}

ScopedFd::~ScopedFd() { reset(); }

void ScopedFd::reset() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool IsAbsolutePath(std::string_view path) { return !path.empty() && path.front() == '/'; }

Result<PathParts> SplitAbsolutePath(std::string_view path) {
  if (!IsAbsolutePath(path)) {
    return Status(kEInvalidArg, "not an absolute path");
  }
  const auto slash = path.find_last_of('/');
  PathParts parts;
  parts.directory = slash == 0 ? "/" : std::string(path.substr(0, slash));
  parts.name = std::string(path.substr(slash + 1));
  if (parts.name.empty() || parts.name == "." || parts.name == "..") {
    return Status(kEInvalidArg, "the path does not name a file");
  }
  return parts;
}

Status MakeDirectories(const std::string& path, unsigned mode) {
  if (path.empty()) return Status(kEInvalidArg, "empty directory path");
  std::string partial;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), mode) != 0 && errno != EEXIST) {
      return PosixError("mkdir " + partial, errno);
    }
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return PosixError("stat " + path, errno);
  if (!S_ISDIR(st.st_mode)) {
    return Status(kEPathNotFound, path + " is not a directory");
  }
  return Status::Ok();
}

Result<ScopedFd> OpenDirectory(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return PosixError("open directory " + path, errno);
  return ScopedFd(fd);
}

Result<ScopedFd> CreateExclusive(const ScopedFd& dir, const std::string& name, unsigned mode) {
  int fd =
      ::openat(dir.get(), name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return PosixError("create " + name, errno);
  return ScopedFd(fd);
}

Result<ScopedFd> CreateExclusive(const std::string& directory, const std::string& name,
                                 unsigned mode) {
  const std::string path = directory.back() == '/' ? directory + name : directory + "/" + name;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return PosixError("create " + path, errno);
  return ScopedFd(fd);
}

Result<ScopedFd> OpenExisting(const ScopedFd& dir, const std::string& name) {
  int fd = ::openat(dir.get(), name.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return PosixError("open " + name, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status(kEAccessDenied, name + " is not a regular file");
  }
  return ScopedFd(fd);
}

Status WriteAt(const ScopedFd& fd, const void* data, std::size_t size, std::uint64_t offset) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(fd.get(), p, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("write", errno);
    }
    if (n == 0) return Status(kEWriteFault, "write returned 0");
    p += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return Status::Ok();
}

Status SyncData(const ScopedFd& fd) {
#if defined(__APPLE__)
  // fsync on macOS does not reach the platter; F_FULLFSYNC does.
  if (::fcntl(fd.get(), F_FULLFSYNC) == 0) return Status::Ok();
  if (::fsync(fd.get()) == 0) return Status::Ok();
#elif defined(__linux__)
  if (::fdatasync(fd.get()) == 0) return Status::Ok();
#else
  if (::fsync(fd.get()) == 0) return Status::Ok();
#endif
  return PosixError("fsync", errno);
}

std::vector<Status> SyncDataOfFiles(const std::vector<const ScopedFd*>& files) {
  std::vector<Status> results(files.size());
#if defined(__linux__)
  // Files grouped by file system; a group of two or more takes one syncfs,
  // which writes every dirty page of that file system and flushes the
  // device once. A failed syncfs may be another file's trouble: the
  // group's files are then synced one by one so each gets its own answer.
  std::vector<bool> done(files.size(), false);
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (done[i]) continue;
    struct stat first {};
    if (::fstat(files[i]->get(), &first) != 0) continue;
    std::vector<std::size_t> group{i};
    for (std::size_t j = i + 1; j < files.size(); ++j) {
      struct stat other {};
      if (!done[j] && ::fstat(files[j]->get(), &other) == 0 && other.st_dev == first.st_dev) {
        group.push_back(j);
      }
    }
    if (group.size() < 2 || ::syncfs(files[i]->get()) != 0) continue;
    for (std::size_t j : group) done[j] = true;
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (!done[i]) results[i] = SyncData(*files[i]);
  }
#else
  for (std::size_t i = 0; i < files.size(); ++i) results[i] = SyncData(*files[i]);
#endif
  return results;
}

void StartWriteback(const ScopedFd& fd, std::uint64_t offset, std::uint64_t length) {
#if defined(__linux__)
  (void)::sync_file_range(fd.get(), static_cast<off64_t>(offset), static_cast<off64_t>(length),
                          SYNC_FILE_RANGE_WRITE);
#else
  (void)fd;
  (void)offset;
  (void)length;
#endif
}

Status SyncDirectory(const ScopedFd& dir) {
  if (::fsync(dir.get()) == 0) return Status::Ok();
  // Some file systems cannot fsync a directory; that is not a data error.
  if (errno == EINVAL || errno == EBADF) return Status::Ok();
  return PosixError("fsync directory", errno);
}

Status Truncate(const ScopedFd& fd, std::uint64_t size) {
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) == 0) return Status::Ok();
  return PosixError("truncate", errno);
}

Result<std::uint64_t> FileSize(const ScopedFd& fd) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return PosixError("stat", errno);
  return static_cast<std::uint64_t>(st.st_size);
}

Status RenameAt(const ScopedFd& dir, const std::string& from, const std::string& to) {
  if (::renameat(dir.get(), from.c_str(), dir.get(), to.c_str()) == 0) {
    return Status::Ok();
  }
  return PosixError("rename " + from + " to " + to, errno);
}

Status RemoveAt(const ScopedFd& dir, const std::string& name) {
  if (::unlinkat(dir.get(), name.c_str(), 0) == 0 || errno == ENOENT) {
    return Status::Ok();
  }
  return PosixError("remove " + name, errno);
}

bool ExistsAt(const ScopedFd& dir, const std::string& name) {
  struct stat st {};
  return ::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

Status SetMode(const ScopedFd& fd, unsigned mode) {
  if (::fchmod(fd.get(), static_cast<mode_t>(mode)) == 0) return Status::Ok();
  return PosixError("chmod", errno);
}

Result<unsigned> RegularFileModeAt(const ScopedFd& dir, const std::string& name) {
  struct stat st {};
  if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return PosixError("stat " + name, errno);
  }
  if (!S_ISREG(st.st_mode)) return Status(kEAccessDenied, name + " is not a regular file");
  return static_cast<unsigned>(st.st_mode & 07777);
}

Status SetModificationTime(const ScopedFd& fd, std::chrono::system_clock::time_point when) {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
  struct timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;  // leave the access time alone
  times[1].tv_sec = static_cast<time_t>(ns / 1000000000);
  times[1].tv_nsec = static_cast<long>(ns % 1000000000);
  if (::futimens(fd.get(), times) == 0) return Status::Ok();
  return PosixError("set modification time", errno);
}

Status CheckDestination(const std::string& path, const std::string& forbidden_root) {
  auto parts = SplitAbsolutePath(path);
  if (!parts.ok()) return parts.status();
  OPENBITS_RETURN_IF_ERROR(CheckDestinationDirectory(parts->directory, forbidden_root));
  return CheckDestinationName(path);
}

Status CheckDestinationDirectory(const std::string& directory, const std::string& forbidden_root) {
  struct stat st {};
  if (::stat(directory.c_str(), &st) != 0) {
    return PosixError("destination directory " + directory, errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status(kEPathNotFound, directory + " is not a directory");
  }
  if (!forbidden_root.empty()) {
    // A symbolic link among the parents may lead where the name does not say.
    char real_dir[PATH_MAX];
    char real_root[PATH_MAX];
    if (::realpath(directory.c_str(), real_dir) != nullptr &&
        ::realpath(forbidden_root.c_str(), real_root) != nullptr) {
      const std::string dir(real_dir);
      const std::string root(real_root);
      if (dir == root || dir.rfind(root == "/" ? root : root + "/", 0) == 0) {
        return Status(kEInvalidArg, "the destination directory " + directory +
                                        " leads into the queue's state directory");
      }
    }
  }
#if defined(O_TMPFILE)
  // An unnamed file that vanishes on close: the exact question "may this
  // identity create a file here", asked with the file-system identity of
  // the calling thread (access() would ask with the real uid, which is
  // root in the system daemon).
  const int probe = ::open(directory.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (probe >= 0) {
    ::close(probe);
  } else if (errno == EACCES || errno == EPERM || errno == EROFS || errno == ENOENT ||
             errno == ENOTDIR) {
    return PosixError("destination directory " + directory, errno);
  } else if (::access(directory.c_str(), W_OK | X_OK) != 0) {  // no O_TMPFILE there
    return PosixError("destination directory " + directory, errno);
  }
#else
  if (::access(directory.c_str(), W_OK | X_OK) != 0) {
    return PosixError("destination directory " + directory, errno);
  }
#endif
  return Status::Ok();
}

Result<std::vector<std::string>> NamesIn(const std::string& directory, std::size_t at_most) {
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) return PosixError("open directory " + directory, errno);
  std::vector<std::string> names;
  Status st;
  errno = 0;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name(entry->d_name);
    if (name == "." || name == "..") continue;
    if (names.size() == at_most) {
      st = Status(kEFail, directory + " holds more than " + std::to_string(at_most) + " names");
      break;
    }
    names.emplace_back(name);
  }
  if (st.ok() && errno != 0) st = PosixError("read directory " + directory, errno);
  ::closedir(dir);
  if (!st.ok()) return st;
  return names;
}

Status CheckDestinationName(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status(kEInvalidArg, path + " is a directory");
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
      return Status(kEInvalidArg, path + " is a device, FIFO or socket, not a file");
    }
  }
  return Status::Ok();
}

Result<ScopedFd> LockFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return PosixError("open lock file " + path, errno);
  ScopedFd owned(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status(kEAccessDenied,
                    "the queue in this state directory is already open in "
                    "another process (" +
                        path + " is locked)");
    }
    return PosixError("lock " + path, errno);
  }
  return owned;
}

}  // namespace openbits::platform
