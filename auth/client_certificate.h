// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Choosing a job's client certificate from a certificate store
// (SetClientCertificateByID / ByName). Policy only: platform/cert_store.h
// reads the stores.

#ifndef OPENBITS_AUTH_CLIENT_CERTIFICATE_H_
#define OPENBITS_AUTH_CLIENT_CERTIFICATE_H_

#include <array>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "openbits/status.h"

#include "platform/cert_store.h"
#include "platform/secret_buffer.h"

namespace openbits::auth {

// What to look for: a thumbprint, or else a subject substring.
struct CertificateQuery {
  const std::array<std::uint8_t, 20>* thumbprint = nullptr;
  std::string_view subject;
};

// The index in `store.certificates` of the first certificate that matches
// and qualifies (has its private key, is valid at `now`). Errors, for the
// best candidate that does not qualify: CERT_E_EXPIRED, CRYPT_E_NO_KEY_PROPERTY;
// with no candidate: ERROR_INVALID_PASSWORD when a protected file did not
// open, else CRYPT_E_NOT_FOUND. Messages name files, never key material.
Result<std::size_t> SelectClientCertificate(const platform::CertStoreContents& store,
                                            const CertificateQuery& query, std::time_t now);

// True if `subject` occurs, ignoring ASCII case, in the subject name of
// the DER certificate, written as "CN=a,O=b", or in one of its attribute
// values (the semantics of CERT_FIND_SUBJECT_STR).
bool SubjectContains(const std::vector<std::uint8_t>& der, std::string_view subject);

// The certificate's common name (its simple display name), or "".
std::string CommonName(const std::vector<std::uint8_t>& der);

// SHA-1 of the DER encoding: the Windows thumbprint.
std::array<std::uint8_t, 20> Thumbprint(const std::vector<std::uint8_t>& der);

// "1A2B..." (40 upper-case hex digits); and back, with blanks allowed
// between digits (bitsadmin's form). E_INVALIDARG unless 40 hex digits.
std::string ThumbprintHex(const std::array<std::uint8_t, 20>& thumbprint);
Result<std::array<std::uint8_t, 20>> ParseThumbprint(std::string_view text);

}  // namespace openbits::auth

#endif  // OPENBITS_AUTH_CLIENT_CERTIFICATE_H_
