// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Certificate stores as directories of PEM and PKCS#12 files (docs/tls.md).

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "openbits/hresult.h"

#include "platform/c_handles.h"
#include "platform/cert_store.h"
#include "platform/posix/cert_store_directory.h"

namespace openbits::platform {
namespace {

constexpr std::size_t kMaxFileBytes = 1 << 20;
constexpr std::size_t kMaxFiles = 1000;

bool EndsWith(const std::string& name, std::string_view suffix) {
  if (name.size() < suffix.size()) return false;
  return std::equal(suffix.rbegin(), suffix.rend(), name.rbegin(), [](char a, char b) {
    return a == std::tolower(static_cast<unsigned char>(b));
  });
}

bool EqualIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string Environment(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

std::string CurrentUserRoot(const CertStoreRoots& roots, const std::string& home) {
  if (!roots.current_user.empty()) return roots.current_user;
  std::string data;
  if (home.empty()) {
    data = Environment("XDG_DATA_HOME");
    if (data.empty() || data[0] != '/') {
      const std::string own_home = Environment("HOME");
      if (own_home.empty()) return {};
      data = own_home + "/.local/share";
    }
  } else {
    data = home + "/.local/share";
  }
  return data + "/openbits/certstores";
}

// The whole file, if it is a regular file of reasonable size.
bool ReadSmallFile(const std::string& path, std::string* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
            static_cast<std::size_t>(st.st_size) <= kMaxFileBytes;
  if (ok) {
    out->resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (ok && done < out->size()) {
      const ssize_t n = ::read(fd, out->data() + done, out->size() - done);
      if (n <= 0) {
        ok = n == 0;
        break;
      }
      done += static_cast<std::size_t>(n);
    }
    out->resize(done);
  }
  ::close(fd);
  return ok;
}

int PasswordCallback(char* buffer, int size, int /*rwflag*/, void* user) {
  const auto* password = static_cast<const SecretBuffer*>(user);
  if (password == nullptr || password->empty() ||
      password->size() > static_cast<std::size_t>(size)) {
    return -1;
  }
  std::memcpy(buffer, password->data(), password->size());
  return static_cast<int>(password->size());
}

// What a directory holds, as OpenSSL objects, before it is handed out.
struct Certificate {
  CPtr<X509> certificate;
  CPtr<EVP_PKEY> key;             // null: no private key for it
  std::vector<CPtr<X509>> chain;  // the file's other certificates (issuers)
  std::string file;
};

struct Directory {
  std::vector<Certificate> certificates;
  std::vector<CPtr<X509_CRL>> crls;
  std::vector<std::string> locked;
};

struct LooseKey {
  CPtr<EVP_PKEY> key;
};

std::vector<std::uint8_t> Der(X509* cert) {
  const int n = i2d_X509(cert, nullptr);
  if (n <= 0) return {};
  std::vector<std::uint8_t> out(static_cast<std::size_t>(n));
  unsigned char* p = out.data();
  i2d_X509(cert, &p);
  return out;
}

// The certificate, key and chain as an unencrypted PKCS#12 (no MAC either:
// it never leaves memory).
SecretBuffer IdentityPkcs12(const Certificate& c) {
  STACK_OF(X509)* chain = sk_X509_new_null();
  if (chain == nullptr) return {};
  for (const CPtr<X509>& issuer : c.chain) sk_X509_push(chain, issuer.get());
  CPtr<PKCS12> p12(
      PKCS12_create(nullptr, nullptr, c.key.get(), c.certificate.get(), chain, -1, -1, 0, -1, 0));
  sk_X509_free(chain);  // the certificates stay owned by `c`
  ERR_clear_error();
  if (!p12) return {};
  const int size = i2d_PKCS12(p12.get(), nullptr);
  if (size <= 0) return {};
  SecretBuffer out(static_cast<std::size_t>(size));
  unsigned char* p = out.data();
  i2d_PKCS12(p12.get(), &p);
  return out;
}

// A PEM file: certificates (the first one that matches a key of the file
// gets it), keys, CRLs. Returns false if the file is protected and did not
// open.
bool ReadPem(const std::string& text, const std::string& file, const SecretBuffer* password,
             Directory* out, std::vector<LooseKey>* keys) {
  // Certificates and CRLs; keys are read on their own below, because only
  // PEM_read_bio_PrivateKey opens every encrypted key format.
  std::vector<Certificate> certificates;
  {
    CPtr<BIO> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    if (!bio) return true;
    // No password here: a callback is still given, so OpenSSL never falls
    // back to prompting on a terminal.
    STACK_OF(X509_INFO)* infos =
        PEM_X509_INFO_read_bio(bio.get(), nullptr, &PasswordCallback, nullptr);
    ERR_clear_error();
    for (int i = 0; infos != nullptr && i < sk_X509_INFO_num(infos); ++i) {
      X509_INFO* info = sk_X509_INFO_value(infos, i);
      if (info->x509 != nullptr) {
        X509_up_ref(info->x509);
        Certificate c;
        c.certificate.reset(info->x509);
        c.file = file;
        certificates.push_back(std::move(c));
      }
      if (info->crl != nullptr) {
        X509_CRL_up_ref(info->crl);
        out->crls.emplace_back(info->crl);
      }
    }
    if (infos != nullptr) sk_X509_INFO_pop_free(infos, X509_INFO_free);
  }
  std::vector<CPtr<EVP_PKEY>> file_keys;
  bool locked = false;
  if (text.find("PRIVATE KEY-----") != std::string::npos) {
    CPtr<BIO> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    while (bio) {
      EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, &PasswordCallback,
                                              const_cast<SecretBuffer*>(password));
      if (key == nullptr) break;
      file_keys.emplace_back(key);
    }
    ERR_clear_error();
    locked = file_keys.empty() && (text.find("ENCRYPTED") != std::string::npos);
  }
  for (CPtr<EVP_PKEY>& key : file_keys) {
    bool used = false;
    for (Certificate& c : certificates) {
      if (!c.key && X509_check_private_key(c.certificate.get(), key.get()) == 1) {
        c.key = std::move(key);
        used = true;
        break;
      }
    }
    ERR_clear_error();
    if (!used) keys->push_back(LooseKey{std::move(key)});
  }
  // Every certificate of a file is a possible issuer of the others.
  for (std::size_t i = 0; i < certificates.size(); ++i) {
    for (std::size_t j = 0; j < certificates.size(); ++j) {
      if (i == j) continue;
      X509_up_ref(certificates[j].certificate.get());
      certificates[i].chain.emplace_back(certificates[j].certificate.get());
    }
  }
  for (Certificate& c : certificates) out->certificates.push_back(std::move(c));
  return !locked;
}

bool ReadPkcs12(const std::string& bytes, const std::string& file, const SecretBuffer* password,
                Directory* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  CPtr<PKCS12> p12(d2i_PKCS12(nullptr, &p, static_cast<long>(bytes.size())));
  if (!p12) {
    ERR_clear_error();
    return true;  // not PKCS#12 after all: skipped
  }
  // An unprotected file has an empty (or absent) password.
  const char* pass = nullptr;
  if (PKCS12_verify_mac(p12.get(), "", 0) == 1) {
    pass = "";
  } else if (PKCS12_verify_mac(p12.get(), nullptr, 0) == 1) {
    pass = nullptr;
  } else if (password != nullptr && !password->empty() &&
             PKCS12_verify_mac(p12.get(), password->c_str(), static_cast<int>(password->size())) ==
                 1) {
    pass = password->c_str();
  } else {
    ERR_clear_error();
    return false;
  }
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* ca = nullptr;
  if (PKCS12_parse(p12.get(), pass, &key, &cert, &ca) != 1) {
    ERR_clear_error();
    return false;
  }
  Certificate c;
  c.certificate.reset(cert);
  c.key.reset(key);
  c.file = file;
  for (int i = 0; ca != nullptr && i < sk_X509_num(ca); ++i) {
    c.chain.emplace_back(sk_X509_value(ca, i));  // takes the stack's reference
  }
  sk_X509_free(ca);
  if (c.certificate) out->certificates.push_back(std::move(c));
  return true;
}

Result<std::string> StoreDirectory(const CertStoreRoots& roots, const std::string& home,
                                   CertStoreLocation location, std::string_view store_name) {
  OPENBITS_RETURN_IF_ERROR(ValidateStoreName(store_name));
  std::string root;
  switch (location) {
    case CertStoreLocation::kCurrentUser:
      root = CurrentUserRoot(roots, home);
      if (root.empty()) {
        return Status(kCryptENotFound,
                      "the CURRENT_USER certificate stores have no home: neither XDG_DATA_HOME "
                      "nor HOME is set");
      }
      break;
    case CertStoreLocation::kLocalMachine:
      root = roots.local_machine.empty() ? "/etc/openbits/certstores" : roots.local_machine;
      break;
    default:
      return Status(kENotImpl, "the certificate store location " +
                                   std::string(CertStoreLocationName(location)) +
                                   " has no equivalent on this system; use CURRENT_USER or "
                                   "LOCAL_MACHINE (docs/tls.md)");
  }
  if (DIR* dir = ::opendir(root.c_str())) {
    while (dirent* entry = ::readdir(dir)) {
      if (EqualIgnoringCase(entry->d_name, store_name)) {
        std::string found = root + "/" + entry->d_name;
        ::closedir(dir);
        return found;
      }
    }
    ::closedir(dir);
  }
  return root + "/" + std::string(store_name);
}

Result<Directory> ReadDirectory(const std::string& directory, const SecretBuffer* password) {
  DIR* dir = ::opendir(directory.c_str());
  if (dir == nullptr) {
    return Status(kCryptENotFound, "the certificate store " + directory + " does not exist or " +
                                       "cannot be read: " + std::strerror(errno));
  }
  std::vector<std::string> names;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    names.emplace_back(entry->d_name);
    if (names.size() > kMaxFiles) break;
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());

  Directory out;
  std::vector<LooseKey> keys;
  for (const std::string& name : names) {
    const bool pkcs12 = EndsWith(name, ".p12") || EndsWith(name, ".pfx");
    const bool pem = EndsWith(name, ".pem") || EndsWith(name, ".crt") || EndsWith(name, ".cer") ||
                     EndsWith(name, ".key") || EndsWith(name, ".crl");
    if (!pkcs12 && !pem) continue;
    std::string bytes;
    if (!ReadSmallFile(directory + "/" + name, &bytes)) continue;
    bool opened = pkcs12 ? ReadPkcs12(bytes, name, password, &out)
                         : ReadPem(bytes, name, password, &out, &keys);
    Cleanse(bytes);
    if (!opened) out.locked.push_back(name);
  }
  // Keys kept in files of their own.
  for (LooseKey& loose : keys) {
    for (Certificate& c : out.certificates) {
      if (!c.key && X509_check_private_key(c.certificate.get(), loose.key.get()) == 1) {
        c.key = std::move(loose.key);
        break;
      }
    }
    ERR_clear_error();
  }
  return out;
}

}  // namespace

Result<CertStoreContents> ReadDirectoryCertStore(const CertStoreRoots& roots,
                                                 const std::string& home,
                                                 CertStoreLocation location,
                                                 std::string_view store_name,
                                                 const SecretBuffer* password) {
  auto directory = StoreDirectory(roots, home, location, store_name);
  if (!directory.ok()) return directory.status();
  auto read = ReadDirectory(*directory, password);
  if (!read.ok()) return read.status();
  CertStoreContents out;
  out.description = *directory;
  for (const Certificate& c : read->certificates) {
    StoredCertificate entry;
    entry.der = Der(c.certificate.get());
    if (c.key) entry.identity_p12 = IdentityPkcs12(c);
    entry.source = c.file;
    if (!entry.der.empty()) out.certificates.push_back(std::move(entry));
  }
  for (const CPtr<X509_CRL>& crl : read->crls) {
    const int n = i2d_X509_CRL(crl.get(), nullptr);
    if (n <= 0) continue;
    std::vector<std::uint8_t> der(static_cast<std::size_t>(n));
    unsigned char* p = der.data();
    i2d_X509_CRL(crl.get(), &p);
    out.crls.push_back(std::move(der));
  }
  out.locked = std::move(read->locked);
  return out;
}

#if !defined(__APPLE__)
Result<CertStoreContents> ReadCertStore(const CertStoreRoots& roots, const std::string& home,
                                        CertStoreLocation location, std::string_view store_name,
                                        const SecretBuffer* password) {
  return ReadDirectoryCertStore(roots, home, location, store_name, password);
}
#endif

}  // namespace openbits::platform
