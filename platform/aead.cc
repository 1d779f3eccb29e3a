// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "platform/aead.h"

#include <openssl/evp.h>

#include "openbits/hresult.h"

#include "platform/system.h"

namespace openbits::platform {
namespace {

struct CipherContextDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextDeleter>;

int Int(std::size_t n) { return static_cast<int>(n); }

}  // namespace

Result<std::vector<std::uint8_t>> AeadSeal(const SecretBuffer& key,
                                           std::span<const std::uint8_t> associated,
                                           std::span<const std::uint8_t> plaintext) {
  if (key.size() != kAeadKeyBytes) return Status(kEInvalidArg, "AES-256-GCM needs a 32-byte key");
  std::vector<std::uint8_t> out(kAeadNonceBytes + plaintext.size() + kAeadTagBytes);
  FillRandom(out.data(), kAeadNonceBytes);
  CipherContext ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), out.data()) != 1 ||
      (!associated.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, associated.data(),
                                                Int(associated.size())) != 1) ||
      (!plaintext.empty() && EVP_EncryptUpdate(ctx.get(), out.data() + kAeadNonceBytes, &len,
                                               plaintext.data(), Int(plaintext.size())) != 1) ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + kAeadNonceBytes + plaintext.size(), &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, Int(kAeadTagBytes),
                          out.data() + kAeadNonceBytes + plaintext.size()) != 1) {
    return Status(kEFail, "AES-256-GCM encryption failed");
  }
  return out;
}

Result<SecretBuffer> AeadOpen(const SecretBuffer& key, std::span<const std::uint8_t> associated,
                              std::span<const std::uint8_t> sealed) {
  if (key.size() != kAeadKeyBytes) return Status(kEInvalidArg, "AES-256-GCM needs a 32-byte key");
  if (sealed.size() < kAeadNonceBytes + kAeadTagBytes) {
    return Status(kNteBadData, "the sealed record is truncated");
  }
  const std::size_t body = sealed.size() - kAeadNonceBytes - kAeadTagBytes;
  SecretBuffer plain(body);
  std::uint8_t tag[kAeadTagBytes];
  std::copy(sealed.end() - kAeadTagBytes, sealed.end(), tag);
  CipherContext ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), sealed.data()) != 1 ||
      (!associated.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len, associated.data(),
                                                Int(associated.size())) != 1) ||
      (body != 0 && EVP_DecryptUpdate(ctx.get(), plain.data(), &len,
                                      sealed.data() + kAeadNonceBytes, Int(body)) != 1) ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, Int(kAeadTagBytes), tag) != 1) {
    return Status(kEFail, "AES-256-GCM decryption failed");
  }
  // The tag check: nothing of `plain` may be used unless this succeeds.
  if (EVP_DecryptFinal_ex(ctx.get(), plain.data() + body, &len) != 1) {
    return Status(kNteBadData,
                  "the sealed record failed authentication (changed, moved, or another key)");
  }
  return plain;
}

}  // namespace openbits::platform
