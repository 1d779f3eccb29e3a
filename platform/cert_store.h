// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Certificate stores: where client certificates, extra trust anchors and
// certificate revocation lists come from (SetClientCertificateByID/ByName,
// docs/tls.md). A store is named by a location (BG_CERT_STORE_LOCATION) and
// a store name ("MY", "ROOT", "CA", ...). One implementation per OS:
// cert_store_posix.cc reads directories of PEM and PKCS#12 files; Windows
// (the CryptoAPI system stores) and macOS (the Keychain) are to follow.
//
// Reading a store opens files: in system mode the caller holds the job
// owner's FileIdentity, so a user can never make the daemon read a key the
// user could not read.

#ifndef OPENBITS_PLATFORM_CERT_STORE_H_
#define OPENBITS_PLATFORM_CERT_STORE_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "openbits/status.h"
#include "openbits/types.h"

#include "platform/c_handles.h"
#include "platform/secret_buffer.h"

namespace openbits::platform {

// Directories holding one sub-directory per store name. Empty members mean
// the defaults: CURRENT_USER is ${XDG_DATA_HOME:-$HOME/.local/share}/openbits/
// certstores of the user (the process's environment when the user is the
// process's own, else <home>/.local/share/...), LOCAL_MACHINE is
// /etc/openbits/certstores.
struct CertStoreRoots {
  std::string current_user;
  std::string local_machine;
};

// One certificate of a store with what came in the same file.
struct StoredCertificate {
  CPtr<X509> certificate;
  CPtr<EVP_PKEY> key;             // null: the store has no private key for it
  std::vector<CPtr<X509>> chain;  // the file's other certificates (issuers)
  std::string file;               // base name, for messages
};

struct CertStoreContents {
  std::string directory;
  std::vector<StoredCertificate> certificates;  // by file name, then order in the file
  std::vector<CPtr<X509_CRL>> crls;
  // Password-protected files that did not open with the password given.
  std::vector<std::string> locked_files;
};

// The directory of store `store_name` at `location` for a user whose home
// directory is `home` (empty: the process's own environment). E_NOTIMPL for
// a location this system has no equivalent of; E_INVALIDARG for a store
// name that is empty, longer than 64 characters or not made of letters,
// digits, '-', '_' and '.' (never "." or ".."). The name is matched without
// regard to case against the existing directories.
Result<std::string> CertStoreDirectory(const CertStoreRoots& roots, const std::string& home,
                                       CertStoreLocation location, std::string_view store_name);

// Reads every certificate, private key and CRL in `directory`: PEM files
// (*.pem, *.crt, *.cer, *.key, *.crl; a key is paired with the certificate
// of the same file, or of the file with the same base name) and PKCS#12
// files (*.p12, *.pfx). Protected files open with `password` (may be null).
// Unreadable or malformed files are skipped, never fatal; symbolic links
// are followed only to files the caller may read. CRYPT_E_NOT_FOUND when
// the directory does not exist.
Result<CertStoreContents> ReadCertStore(const std::string& directory, const SecretBuffer* password);

// SHA-1 of the certificate's DER encoding (the Windows thumbprint).
std::array<std::uint8_t, 20> Thumbprint(X509* certificate);

}  // namespace openbits::platform

#endif  // OPENBITS_PLATFORM_CERT_STORE_H_
