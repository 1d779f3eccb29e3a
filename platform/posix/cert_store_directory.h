// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The directory certificate stores (docs/tls.md), for the OS files that
// build on them: ReadCertStore is exactly this on Linux and other Unix
// systems; on macOS the Keychain is read as well.

#ifndef OPENBITS_PLATFORM_POSIX_CERT_STORE_DIRECTORY_H_
#define OPENBITS_PLATFORM_POSIX_CERT_STORE_DIRECTORY_H_

#include <string>
#include <string_view>

#include "platform/cert_store.h"

namespace openbits::platform {

// ReadCertStore's contract, for directories only.
Result<CertStoreContents> ReadDirectoryCertStore(const CertStoreRoots& roots,
                                                 const std::string& home,
                                                 CertStoreLocation location,
                                                 std::string_view store_name,
                                                 const SecretBuffer* password);

}  // namespace openbits::platform

#endif  // OPENBITS_PLATFORM_POSIX_CERT_STORE_DIRECTORY_H_
