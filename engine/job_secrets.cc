// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/job_secrets.h"

#include <algorithm>
#include <utility>

namespace openbits::engine {

const store::SecretRecord* FindSecret(const store::JobRecord& job, std::string_view purpose) {
  auto it = std::lower_bound(
      job.secrets.begin(), job.secrets.end(), purpose,
      [](const store::SecretRecord& s, std::string_view p) { return s.purpose < p; });
  return it != job.secrets.end() && it->purpose == purpose ? &*it : nullptr;
}

void KeepSecret(store::JobRecord& job, store::SecretRecord secret) {
  auto it = std::lower_bound(
      job.secrets.begin(), job.secrets.end(), secret.purpose,
      [](const store::SecretRecord& s, const std::string& p) { return s.purpose < p; });
  if (it != job.secrets.end() && it->purpose == secret.purpose) {
    *it = std::move(secret);
  } else {
    job.secrets.insert(it, std::move(secret));
  }
}

void ForgetSecret(store::JobRecord& job, std::string_view purpose) {
  std::erase_if(job.secrets, [&](const store::SecretRecord& s) { return s.purpose == purpose; });
}

Result<std::string> CustomHeadersOf(const store::Vault& vault, const store::JobRecord& job) {
  const store::SecretRecord* secret = FindSecret(job, kWriteOnlyCustomHeadersPurpose);
  if (secret == nullptr) secret = FindSecret(job, kCustomHeadersPurpose);
  if (secret == nullptr) return std::string();
  auto plain = vault.Unseal(job.id, secret->purpose, secret->sealed);
  if (!plain.ok()) return plain.status();
  return std::string(plain->view());
}

Result<platform::SecretBuffer> CertificatePasswordOf(const store::Vault& vault,
                                                     const store::JobRecord& job) {
  const store::SecretRecord* secret = FindSecret(job, kCertificatePasswordPurpose);
  if (secret == nullptr) return platform::SecretBuffer();
  return vault.Unseal(job.id, secret->purpose, secret->sealed);
}

}  // namespace openbits::engine
