// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Credentials as the vault stores them, and the user information of URLs.
// The vault (store/vault.h) seals opaque bytes under a purpose string; this
// file decides the purposes and the plaintext layout of a credential:
//   kind (1 byte: 0 implicit, 1 explicit) | user length (4, big endian) |
//   user name | password
// (docs/vault.md).

#ifndef OPENBITS_AUTH_CREDENTIALS_H_
#define OPENBITS_AUTH_CREDENTIALS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "openbits/status.h"
#include "openbits/types.h"

#include "platform/secret_buffer.h"

namespace openbits::auth {

inline constexpr std::size_t kMaxUserNameLength = 300;
inline constexpr std::size_t kMaxPasswordLength = 65536;

// "credential/server/basic", ... and back.
std::string CredentialPurpose(AuthTarget target, AuthScheme scheme);
bool ParseCredentialPurpose(std::string_view purpose, CredentialSlot* slot);
// The password that was embedded in file `index`'s URL.
std::string UrlPasswordPurpose(std::uint32_t index);

struct Credential {
  bool implicit = false;
  platform::SecretBuffer user_name;
  platform::SecretBuffer password;
};

// Checks SetCredentials arguments by BITS's rules (see Job::SetCredentials).
// `user_name` and `password` are ignored when `implicit`.
Status ValidateCredentials(AuthTarget target, AuthScheme scheme, bool implicit,
                           std::string_view user_name, std::string_view password);

platform::SecretBuffer EncodeCredential(bool implicit, std::string_view user_name,
                                        std::string_view password);
// NTE_BAD_DATA if `plain` is not an encoded credential.
Result<Credential> DecodeCredential(const platform::SecretBuffer& plain);

// A URL split at its user information.
struct UrlUserInfo {
  bool has_password = false;
  std::string user_name;            // percent-decoded; empty if none
  platform::SecretBuffer password;  // percent-decoded
  // The URL to store and show: the password replaced by "****".
  std::string redacted_url;
  // The URL without any user information (what is sent on the wire).
  std::string bare_url;
};

// Splits `url`. E_INVALIDARG when the authority holds more than one "@"
// (user information that parsers could read differently).
Result<UrlUserInfo> SplitUserInfo(std::string_view url);

}  // namespace openbits::auth

#endif  // OPENBITS_AUTH_CREDENTIALS_H_
