// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Certificate stores: where client certificates, extra trust anchors and
// certificate revocation lists come from (SetClientCertificateByID/ByName,
// docs/tls.md). A store is named by a location (BG_CERT_STORE_LOCATION) and
// a store name ("MY", "ROOT", "CA", ...). One implementation per OS:
// posix/cert_store_posix.cc reads directories of PEM and PKCS#12 files;
// windows/cert_store_windows.cc reads the CryptoAPI system stores;
// macos/cert_store_macos.cc reads the directories and the Keychain.
//
// Everything crosses this interface in DER and PKCS#12, so callers choose
// their own TLS library. Reading a store opens files: in system mode the
// caller holds the job owner's FileIdentity, so a user can never make the
// daemon read a key the user could not read.

#ifndef OPENBITS_PLATFORM_CERT_STORE_H_
#define OPENBITS_PLATFORM_CERT_STORE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "openbits/status.h"
#include "openbits/types.h"

#include "platform/secret_buffer.h"

namespace openbits::platform {

// Where the directory stores live (POSIX). Empty members mean the defaults:
// CURRENT_USER is <data>/openbits/certstores, <data> being the user's
// ${XDG_DATA_HOME:-$HOME/.local/share} (the process's environment for its
// own user, else <home>/.local/share), LOCAL_MACHINE is
// /etc/openbits/certstores. Ignored on Windows.
struct CertStoreRoots {
  std::string current_user;
  std::string local_machine;
};

// One certificate of a store.
struct StoredCertificate {
  std::vector<std::uint8_t> der;
  // The certificate, its private key and the issuers found with it, as an
  // unencrypted PKCS#12 (kept in memory only); empty when the store has no
  // usable private key for it.
  SecretBuffer identity_p12;
  std::string source;  // the file (or store) it came from, for messages
};

struct CertStoreContents {
  std::string description;                      // the directory, or "LOCAL_MACHINE\MY"
  std::vector<StoredCertificate> certificates;  // by file name, then order in the file
  std::vector<std::vector<std::uint8_t>> crls;  // DER
  // Password-protected files that did not open with the password given.
  std::vector<std::string> locked;
};

// Reads store `store_name` at `location` for a user whose home directory is
// `home` (empty: the process's own user). Store names are matched without
// regard to case. Errors: E_INVALIDARG for a store name that is empty,
// longer than 64 characters or not made of letters, digits, '-', '_' and
// '.' (never "." or ".."); E_NOTIMPL for a location this system has no
// equivalent of; CRYPT_E_NOT_FOUND when the store does not exist.
// Unreadable or malformed entries are skipped, never fatal. Protected
// PKCS#12 files and encrypted PEM keys open with `password` (may be null).
Result<CertStoreContents> ReadCertStore(const CertStoreRoots& roots, const std::string& home,
                                        CertStoreLocation location, std::string_view store_name,
                                        const SecretBuffer* password);

// E_INVALIDARG unless `store_name` is a valid store name (see above).
Status ValidateStoreName(std::string_view store_name);

}  // namespace openbits::platform

#endif  // OPENBITS_PLATFORM_CERT_STORE_H_
