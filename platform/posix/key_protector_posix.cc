// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Keys as files in a private directory. A key file is
//   "OBK1" | wrap (1 byte) | body
// where wrap 0 means the body is the key itself and wrap 1 means the body is
// AES-256-GCM(kek, key) with kek = SHA-256 of the systemd credential
// "openbits-vault-kek" ($CREDENTIALS_DIRECTORY, LoadCredentialEncrypted=),
// which systemd keeps sealed to the machine (TPM2 or its host key). Without
// that credential, the file's mode (0600), its owner and its directory's
// (0700, same owner) are the protection, and they are checked on every load.

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <openssl/sha.h>

#include "openbits/hresult.h"

#include "platform/aead.h"
#include "platform/file_system.h"
#include "platform/key_protector.h"

namespace openbits::platform {
namespace {

constexpr char kMagic[4] = {'O', 'B', 'K', '1'};
constexpr std::uint8_t kPlain = 0;
constexpr std::uint8_t kWrapped = 1;
constexpr const char* kSuffix = ".key";
constexpr const char* kKekCredential = "openbits-vault-kek";
constexpr std::size_t kMaxKeyFile = 4096;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string();
}

Status Errno(HResult code, const std::string& what, int err) {
  return Status(code, what + ": " + std::strerror(err));
}

std::string OctalMode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name.front() == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Reads the whole file behind `fd` (at most kMaxKeyFile bytes).
Result<SecretBuffer> ReadAll(int fd, const std::string& what) {
  SecretBuffer buf(kMaxKeyFile + 1);
  std::size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno(kEAccessDenied, "read " + what, errno);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > kMaxKeyFile) return Status(kNteBadData, what + " is too large to be a key file");
  buf.Truncate(got);
  return buf;
}

class FileKeyProtector final : public KeyProtector {
 public:
  explicit FileKeyProtector(std::string directory) : directory_(std::move(directory)) {
    while (directory_.size() > 1 && directory_.back() == '/') directory_.pop_back();
  }

  std::string Describe() const override { return directory_; }

  Result<SecretBuffer> Load(const std::string& name) override {
    if (!ValidName(name)) return Status(kEInvalidArg, "bad key name " + name);
    auto dir = OpenPrivateDirectory(/*create=*/false);
    if (!dir.ok()) return dir.status();
    const std::string file = directory_ + "/" + name + kSuffix;
    const int fd = ::openat(dir->get(), (name + kSuffix).c_str(),
                            O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && errno == ENOENT) return Status(kNteNoKey, "no key file " + file);
    if (fd < 0 && errno == ELOOP) {
      return Status(kEAccessDenied, "the key file " + file + " is a symbolic link; refusing it");
    }
    if (fd < 0) return Errno(kEAccessDenied, "open " + file, errno);
    ScopedFd owned(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return Errno(kEAccessDenied, "stat " + file, errno);
    if (!S_ISREG(st.st_mode)) return Status(kEAccessDenied, file + " is not a regular file");
    if (st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
      return Status(kEAccessDenied, "the key file " + file + " has mode " + OctalMode(st.st_mode) +
                                        " and owner uid " + std::to_string(st.st_uid) +
                                        "; it must be mode 0600 and owned by uid " +
                                        std::to_string(::geteuid()) + " (refusing to use it)");
    }
    auto content = ReadAll(fd, file);
    if (!content.ok()) return content.status();
    return Decode(*content, name, file);
  }

  Status Store(const std::string& name, const SecretBuffer& key) override {
    if (!ValidName(name)) return Status(kEInvalidArg, "bad key name " + name);
    auto dir = OpenPrivateDirectory(/*create=*/true);
    if (!dir.ok()) return dir.status();
    auto encoded = Encode(key, name);
    if (!encoded.ok()) return encoded.status();
    const std::string temp = "." + name + ".tmp";
    (void)::unlinkat(dir->get(), temp.c_str(), 0);
    const int fd = ::openat(dir->get(), temp.c_str(),
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return Errno(kEAccessDenied, "create " + directory_ + "/" + temp, errno);
    ScopedFd owned(fd);
    std::size_t done = 0;
    while (done < encoded->size()) {
      const ssize_t n = ::write(fd, encoded->data() + done, encoded->size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        (void)::unlinkat(dir->get(), temp.c_str(), 0);
        return Errno(err == ENOSPC ? kEDiskFull : kEAccessDenied, "write key file", err);
      }
      done += static_cast<std::size_t>(n);
    }
    if (::fchmod(fd, 0600) != 0 || ::fsync(fd) != 0) {
      const int err = errno;
      (void)::unlinkat(dir->get(), temp.c_str(), 0);
      return Errno(kEAccessDenied, "sync key file", err);
    }
    owned.reset();
    if (::renameat(dir->get(), temp.c_str(), dir->get(), (name + kSuffix).c_str()) != 0) {
      const int err = errno;
      (void)::unlinkat(dir->get(), temp.c_str(), 0);
      return Errno(kEAccessDenied, "rename key file", err);
    }
    if (::fsync(dir->get()) != 0) return Errno(kEAccessDenied, "sync " + directory_, errno);
    return Status::Ok();
  }

  Status Remove(const std::string& name) override {
    if (!ValidName(name)) return Status(kEInvalidArg, "bad key name " + name);
    auto dir = OpenPrivateDirectory(/*create=*/false);
    if (!dir.ok()) return dir.status().code() == kNteNoKey ? Status::Ok() : dir.status();
    if (::unlinkat(dir->get(), (name + kSuffix).c_str(), 0) != 0) {
      if (errno == ENOENT) return Status::Ok();
      return Errno(kEAccessDenied, "remove key " + name, errno);
    }
    if (::fsync(dir->get()) != 0) return Errno(kEAccessDenied, "sync " + directory_, errno);
    return Status::Ok();
  }

  Result<std::vector<std::string>> List(const std::string& prefix) override {
    std::vector<std::string> names;
    auto dir = OpenPrivateDirectory(/*create=*/false);
    if (!dir.ok()) {
      if (dir.status().code() == kNteNoKey) return names;
      return dir.status();
    }
    const int fd = ::dup(dir->get());
    if (fd < 0) return Errno(kEFail, "dup", errno);
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      ::close(fd);
      return Errno(kEFail, "read " + directory_, errno);
    }
    const std::string suffix = kSuffix;
    const std::string interrupted = "." + prefix;
    while (dirent* entry = ::readdir(d)) {
      const std::string n = entry->d_name;
      if (n.rfind(interrupted, 0) == 0 && n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0) {
        (void)::unlinkat(dir->get(), n.c_str(), 0);  // a Store() cut short by a crash
        continue;
      }
      if (n.size() <= suffix.size() || n.compare(n.size() - suffix.size(), suffix.size(), suffix))
        continue;
      if (n.rfind(prefix, 0) != 0 || n.front() == '.') continue;
      names.push_back(n.substr(0, n.size() - suffix.size()));
    }
    ::closedir(d);
    return names;
  }

 private:
  // Opens the key directory, refusing one that others could read or write.
  Result<ScopedFd> OpenPrivateDirectory(bool create) {
    if (directory_.empty() || directory_.front() != '/') {
      return Status(kEInvalidArg, "the key directory must be an absolute path");
    }
    if (create) OPENBITS_RETURN_IF_ERROR(MakeDirectories(directory_, 0700));
    const int fd = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return Status(kNteNoKey, "no key directory " + directory_);
    if (fd < 0) return Errno(kEAccessDenied, "open key directory " + directory_, errno);
    ScopedFd owned(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return Errno(kEAccessDenied, "stat " + directory_, errno);
    if (st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
      return Status(kEAccessDenied, "the key directory " + directory_ + " has mode " +
                                        OctalMode(st.st_mode) + " and owner uid " +
                                        std::to_string(st.st_uid) +
                                        "; it must be mode 0700 and owned by uid " +
                                        std::to_string(::geteuid()) + " (refusing to use it)");
    }
    return owned;
  }

  // The key-encryption key from systemd's credentials, if the service has one.
  Result<SecretBuffer> KeyEncryptionKey() {
    const std::string dir = Env("CREDENTIALS_DIRECTORY");
    if (dir.empty()) return Status(kNteNoKey, "no systemd credentials");
    const std::string path = dir + "/" + kKekCredential;
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Status(kNteNoKey, "no systemd credential " + std::string(kKekCredential));
    ScopedFd owned(fd);
    auto content = ReadAll(fd, path);
    if (!content.ok()) return content.status();
    if (content->size() < 32) {
      return Status(kNteBadData, "the systemd credential " + std::string(kKekCredential) +
                                     " is shorter than 32 bytes");
    }
    SecretBuffer kek(kAeadKeyBytes);
    SHA256(content->data(), content->size(), kek.data());
    return kek;
  }

  static std::vector<std::uint8_t> WrapAssociatedData(const std::string& name) {
    const std::string label = "openbits key wrap v1:" + name;
    return {label.begin(), label.end()};
  }

  Result<SecretBuffer> Encode(const SecretBuffer& key, const std::string& name) {
    auto kek = KeyEncryptionKey();
    if (!kek.ok() && kek.status().code() != kNteNoKey) return kek.status();
    SecretBuffer out;
    if (kek.ok()) {
      auto wrapped = AeadSeal(*kek, WrapAssociatedData(name), std::span(key.data(), key.size()));
      if (!wrapped.ok()) return wrapped.status();
      out = SecretBuffer(sizeof kMagic + 1 + wrapped->size());
      std::memcpy(out.data() + sizeof kMagic + 1, wrapped->data(), wrapped->size());
      out.data()[sizeof kMagic] = kWrapped;
    } else {
      out = SecretBuffer(sizeof kMagic + 1 + key.size());
      std::memcpy(out.data() + sizeof kMagic + 1, key.data(), key.size());
      out.data()[sizeof kMagic] = kPlain;
    }
    std::memcpy(out.data(), kMagic, sizeof kMagic);
    return out;
  }

  Result<SecretBuffer> Decode(const SecretBuffer& content, const std::string& name,
                              const std::string& file) {
    if (content.size() < sizeof kMagic + 1 || std::memcmp(content.data(), kMagic, 4) != 0) {
      return Status(kNteBadData, file + " is not an openbits key file");
    }
    const std::uint8_t wrap = content.data()[sizeof kMagic];
    std::span<const std::uint8_t> body(content.data() + sizeof kMagic + 1,
                                       content.size() - sizeof kMagic - 1);
    if (wrap == kPlain) return SecretBuffer(body.data(), body.size());
    if (wrap != kWrapped) return Status(kNteBadData, file + " has an unknown key format");
    auto kek = KeyEncryptionKey();
    if (!kek.ok()) {
      return Status(kNteNoKey, file + " is sealed with the systemd credential " +
                                   std::string(kKekCredential) + ", which is not available (" +
                                   kek.status().message() + ")");
    }
    auto key = AeadOpen(*kek, WrapAssociatedData(name), body);
    if (!key.ok()) {
      return Status(kNteBadData, file + " does not open with the systemd credential " +
                                     std::string(kKekCredential));
    }
    return key;
  }

  std::string directory_;
};

}  // namespace

std::unique_ptr<KeyProtector> NewKeyProtector(const std::string& location) {
  return std::make_unique<FileKeyProtector>(location);
}

std::string DefaultKeyLocation() {
  if (std::string dir = Env("OPENBITS_KEY_DIR"); !dir.empty()) return dir;
  if (std::string xdg = Env("XDG_CONFIG_HOME"); !xdg.empty() && xdg.front() == '/') {
    return xdg + "/openbits/keys";
  }
  if (std::string home = Env("HOME"); !home.empty()) return home + "/.config/openbits/keys";
  return {};
}

std::string SystemKeyLocation() { return "/etc/openbits/keys"; }

}  // namespace openbits::platform
