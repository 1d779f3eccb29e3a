// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// A job's sealed secrets in memory (store::JobRecord::secrets, kept sorted
// by purpose) and the purposes besides credentials (auth/credentials.h).
// Opening one needs the vault; nothing here writes the store.

#ifndef OPENBITS_ENGINE_JOB_SECRETS_H_
#define OPENBITS_ENGINE_JOB_SECRETS_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "openbits/status.h"

#include "platform/secret_buffer.h"
#include "store/records.h"
#include "store/vault.h"

namespace openbits::engine {

inline constexpr std::string_view kCertificatePasswordPurpose = "client-certificate-password";
inline constexpr std::string_view kCustomHeadersPurpose = "custom-headers";
// The same, after MakeCustomHeadersWriteOnly (possibly an empty record: the
// job's later headers stay write-only too).
inline constexpr std::string_view kWriteOnlyCustomHeadersPurpose = "custom-headers-write-only";

inline std::span<const std::uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// The job's sealed secret `purpose`, or null.
const store::SecretRecord* FindSecret(const store::JobRecord& job, std::string_view purpose);
// Adds or replaces `secret`, keeping the order.
void KeepSecret(store::JobRecord& job, store::SecretRecord secret);
// Drops the secret `purpose`, if the job has it.
void ForgetSecret(store::JobRecord& job, std::string_view purpose);

// The job's custom headers as sent ("" when none); an error when they do
// not open.
Result<std::string> CustomHeadersOf(const store::Vault& vault, const store::JobRecord& job);
// The job's client certificate password (an empty buffer: none).
Result<platform::SecretBuffer> CertificatePasswordOf(const store::Vault& vault,
                                                     const store::JobRecord& job);

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_JOB_SECRETS_H_
