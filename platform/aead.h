// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// AES-256-GCM through OpenSSL EVP: the one authenticated cipher openbits
// uses (the credential vault's records and wrapped key files). Kept beside
// the key protectors because both they and the vault need it.

#ifndef OPENBITS_PLATFORM_AEAD_H_
#define OPENBITS_PLATFORM_AEAD_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "openbits/status.h"

#include "platform/secret_buffer.h"

namespace openbits::platform {

inline constexpr std::size_t kAeadKeyBytes = 32;
inline constexpr std::size_t kAeadNonceBytes = 12;
inline constexpr std::size_t kAeadTagBytes = 16;

// Encrypts `plaintext` under `key` (32 bytes) with a fresh random nonce,
// authenticating `associated` too. Returns nonce || ciphertext || tag.
Result<std::vector<std::uint8_t>> AeadSeal(const SecretBuffer& key,
                                           std::span<const std::uint8_t> associated,
                                           std::span<const std::uint8_t> plaintext);

// Reverses AeadSeal. Fails with NTE_BAD_DATA when the record is truncated,
// was changed, was sealed for other associated data or under another key.
Result<SecretBuffer> AeadOpen(const SecretBuffer& key, std::span<const std::uint8_t> associated,
                              std::span<const std::uint8_t> sealed);

}  // namespace openbits::platform

#endif  // OPENBITS_PLATFORM_AEAD_H_
