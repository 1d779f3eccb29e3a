// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "store/vault.h"

#include <algorithm>
#include <cstring>
#include <set>

#include <openssl/hmac.h>

#include "openbits/hresult.h"

#include "platform/aead.h"
#include "platform/system.h"

namespace openbits::store {
namespace {

// Record: version (1) | key generation (4, big endian) | nonce | ct | tag.
constexpr std::uint8_t kRecordVersion = 1;
constexpr std::size_t kHeaderBytes = 5;
constexpr char kAssociatedLabel[] = "openbits-vault-v1";
constexpr char kCheckLabel[] = "openbits vault key check v1";
constexpr std::size_t kCheckBytes = 16;

constexpr char kIdName[] = "id";
constexpr char kActiveName[] = "active-generation";
constexpr char kCheckPrefix[] = "key-check/";

std::vector<std::uint8_t> EncodeU32(std::uint32_t v) {
  return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
          static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}

std::uint32_t DecodeU32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

// The generation a record was sealed under, or 0 if it is not a record.
std::uint32_t GenerationOf(std::span<const std::uint8_t> sealed) {
  if (sealed.size() < kHeaderBytes || sealed[0] != kRecordVersion) return 0;
  return DecodeU32(sealed.data() + 1);
}

std::vector<std::uint8_t> AssociatedData(std::span<const std::uint8_t> header, const Guid& job,
                                         std::string_view purpose) {
  // The label keeps its NUL: it separates the label from the header.
  std::vector<std::uint8_t> ad(sizeof kAssociatedLabel + header.size() + job.bytes.size() +
                               purpose.size());
  std::uint8_t* p = ad.data();
  std::memcpy(p, kAssociatedLabel, sizeof kAssociatedLabel);
  p += sizeof kAssociatedLabel;
  std::memcpy(p, header.data(), header.size());
  p += header.size();
  std::memcpy(p, job.bytes.data(), job.bytes.size());
  p += job.bytes.size();
  if (!purpose.empty()) std::memcpy(p, purpose.data(), purpose.size());
  return ad;
}

std::vector<std::uint8_t> KeyCheck(const platform::SecretBuffer& key) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(kCheckLabel), sizeof kCheckLabel - 1, mac, &len);
  return {mac, mac + kCheckBytes};
}

std::string Hex(const std::uint8_t* p, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

std::string CheckName(std::uint32_t generation) {
  return kCheckPrefix + std::to_string(generation);
}

}  // namespace

Vault::Vault(Store& store, std::unique_ptr<platform::KeyProtector> keys)
    : store_(store), keys_(std::move(keys)) {}

Vault::~Vault() = default;

Result<std::unique_ptr<Vault>> Vault::Open(Store& store,
                                           std::unique_ptr<platform::KeyProtector> keys) {
  std::unique_ptr<Vault> vault(new Vault(store, std::move(keys)));
  OPENBITS_RETURN_IF_ERROR(vault->Load());
  return vault;
}

std::string Vault::KeyName(std::uint32_t generation) const {
  return "vault-" + vault_id_ + "-" + std::to_string(generation);
}

std::uint32_t Vault::HighestGeneration() const {
  std::uint32_t highest = active_;
  for (const auto& [name, value] : values_) {
    if (name.rfind(kCheckPrefix, 0) == 0) {
      highest = std::max<std::uint32_t>(
          highest, static_cast<std::uint32_t>(std::stoul(name.substr(sizeof kCheckPrefix - 1))));
    }
  }
  return highest;
}

Status Vault::Load() {
  auto values = store_.LoadVaultValues();
  if (!values.ok()) return values.status();
  values_ = std::move(*values);
  auto id = values_.find(kIdName);
  if (id == values_.end()) return Status::Ok();  // no secret was ever sealed
  if (id->second.size() != 16) return Status(kBgEDatabaseCorrupt, "bad vault id");
  vault_id_ = Hex(id->second.data(), id->second.size());
  if (auto active = values_.find(kActiveName);
      active != values_.end() && active->second.size() == 4) {
    active_ = DecodeU32(active->second.data());
  }

  auto secrets = store_.LoadSecrets();
  if (!secrets.ok()) return secrets.status();
  std::set<std::uint32_t> needed;
  if (active_ != 0) needed.insert(active_);
  for (const auto& [job, secret] : *secrets) {
    if (std::uint32_t g = GenerationOf(secret.sealed); g != 0) needed.insert(g);
  }
  for (std::uint32_t generation : needed) {
    auto key = keys_->Load(KeyName(generation));
    if (!key.ok() && key.status().code() == kEAccessDenied) return key.status();
    Status problem;
    if (!key.ok()) {
      problem = Status(kNteNoKey, "the vault key " + KeyName(generation) + " is not available (" +
                                      key.status().message() + ")");
    } else {
      auto check = values_.find(CheckName(generation));
      if (key->size() != platform::kAeadKeyBytes || check == values_.end() ||
          check->second != KeyCheck(*key)) {
        problem =
            Status(kNteNoKey, "the key file " + KeyName(generation) + " in " + keys_->Describe() +
                                  " is not the key this queue's secrets were sealed with");
      }
    }
    if (problem.ok()) {
      loaded_.emplace(generation, std::move(*key));
    } else {
      warnings_.push_back(problem.message());
      unavailable_.emplace(generation, std::move(problem));
    }
  }
  // Keys left behind by an interrupted rotation or first use.
  RemoveUnusedKeys(std::vector<std::uint32_t>(needed.begin(), needed.end()));
  return Status::Ok();
}

void Vault::RemoveUnusedKeys(const std::vector<std::uint32_t>& keep) {
  if (vault_id_.empty()) return;
  const std::string prefix = "vault-" + vault_id_ + "-";
  auto names = keys_->List(prefix);
  if (!names.ok()) return;
  for (const std::string& name : *names) {
    const std::string suffix = name.substr(prefix.size());
    if (suffix.empty() || suffix.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto generation = static_cast<std::uint32_t>(std::stoul(suffix));
    if (std::find(keep.begin(), keep.end(), generation) == keep.end()) {
      (void)keys_->Remove(name);
    }
  }
}

Status Vault::EnsureActiveKey() {
  if (active_ != 0 && loaded_.count(active_) != 0) return Status::Ok();
  if (vault_id_.empty()) {
    // The id goes in first so that a key file stored below is always one
    // this queue knows about and can clean up after a crash.
    std::vector<std::uint8_t> id(16);
    platform::FillRandom(id.data(), id.size());
    OPENBITS_RETURN_IF_ERROR(store_.SetVaultValue(kIdName, id));
    values_[kIdName] = id;
    vault_id_ = Hex(id.data(), id.size());
  }
  const std::uint32_t generation = HighestGeneration() + 1;
  platform::SecretBuffer key(platform::kAeadKeyBytes);
  platform::FillRandom(key.data(), key.size());
  OPENBITS_RETURN_IF_ERROR(keys_->Store(KeyName(generation), key));
  const std::vector<std::uint8_t> check = KeyCheck(key);
  const std::vector<std::uint8_t> active = EncodeU32(generation);
  Status st = store_.RunInTransaction([&]() -> Status {
    OPENBITS_RETURN_IF_ERROR(store_.SetVaultValue(CheckName(generation), check));
    return store_.SetVaultValue(kActiveName, active);
  });
  if (!st.ok()) {
    (void)keys_->Remove(KeyName(generation));
    return st;
  }
  values_[CheckName(generation)] = check;
  values_[kActiveName] = active;
  active_ = generation;
  loaded_.emplace(generation, std::move(key));
  return Status::Ok();
}

Result<std::vector<std::uint8_t>> Vault::Seal(const Guid& job, std::string_view purpose,
                                              std::span<const std::uint8_t> plaintext) {
  OPENBITS_RETURN_IF_ERROR(EnsureActiveKey());
  std::vector<std::uint8_t> header = EncodeU32(active_);
  header.insert(header.begin(), kRecordVersion);
  auto body =
      platform::AeadSeal(loaded_.at(active_), AssociatedData(header, job, purpose), plaintext);
  if (!body.ok()) return body.status();
  header.insert(header.end(), body->begin(), body->end());
  return header;
}

Result<platform::SecretBuffer> Vault::Unseal(const Guid& job, std::string_view purpose,
                                             std::span<const std::uint8_t> sealed) const {
  const std::uint32_t generation = GenerationOf(sealed);
  if (generation == 0) {
    return Status(kNteBadData, "the sealed " + std::string(purpose) + " is not a vault record");
  }
  auto key = loaded_.find(generation);
  if (key == loaded_.end()) {
    auto why = unavailable_.find(generation);
    return Status(kNteNoKey,
                  "the " + std::string(purpose) + " cannot be opened: " +
                      (why != unavailable_.end()
                           ? why->second.message()
                           : "its key generation " + std::to_string(generation) + " is unknown"));
  }
  auto plain =
      platform::AeadOpen(key->second, AssociatedData(sealed.first(kHeaderBytes), job, purpose),
                         sealed.subspan(kHeaderBytes));
  if (!plain.ok()) {
    return Status(kNteBadData, "the sealed " + std::string(purpose) +
                                   " failed authentication: it was altered or belongs to "
                                   "another job or purpose");
  }
  return plain;
}

Status Vault::RotateKey() {
  auto secrets = store_.LoadSecrets();
  if (!secrets.ok()) return secrets.status();
  std::vector<platform::SecretBuffer> plain;
  plain.reserve(secrets->size());
  for (const auto& [job, secret] : *secrets) {
    auto opened = Unseal(job, secret.purpose, secret.sealed);
    if (!opened.ok()) {
      return Status(opened.status().code(), "key rotation stopped, nothing changed: job " +
                                                job.ToString() + ": " + opened.status().message());
    }
    plain.push_back(std::move(*opened));
  }
  if (vault_id_.empty()) return EnsureActiveKey();

  const std::uint32_t generation = HighestGeneration() + 1;
  platform::SecretBuffer key(platform::kAeadKeyBytes);
  platform::FillRandom(key.data(), key.size());
  // 1. The new key is durable before any record refers to it.
  OPENBITS_RETURN_IF_ERROR(keys_->Store(KeyName(generation), key));
  // 2. Every record and the active generation switch in one commit.
  std::vector<std::uint8_t> header = EncodeU32(generation);
  header.insert(header.begin(), kRecordVersion);
  const std::vector<std::uint8_t> check = KeyCheck(key);
  const std::vector<std::uint8_t> active = EncodeU32(generation);
  std::vector<std::string> stale_checks;
  for (const auto& [name, value] : values_) {
    if (name.rfind(kCheckPrefix, 0) == 0) stale_checks.push_back(name);
  }
  Status st = store_.RunInTransaction([&]() -> Status {
    for (std::size_t i = 0; i < secrets->size(); ++i) {
      const auto& [job, secret] = (*secrets)[i];
      auto body = platform::AeadSeal(key, AssociatedData(header, job, secret.purpose),
                                     std::span(plain[i].data(), plain[i].size()));
      if (!body.ok()) return body.status();
      std::vector<std::uint8_t> record = header;
      record.insert(record.end(), body->begin(), body->end());
      OPENBITS_RETURN_IF_ERROR(store_.PutSecret(job, secret.purpose, record));
    }
    for (const std::string& name : stale_checks) {
      OPENBITS_RETURN_IF_ERROR(store_.DeleteVaultValue(name));
    }
    OPENBITS_RETURN_IF_ERROR(store_.SetVaultValue(CheckName(generation), check));
    return store_.SetVaultValue(kActiveName, active);
  });
  if (!st.ok()) {
    (void)keys_->Remove(KeyName(generation));
    return st;
  }
  for (const std::string& name : stale_checks) values_.erase(name);
  values_[CheckName(generation)] = check;
  values_[kActiveName] = active;
  active_ = generation;
  loaded_.clear();
  unavailable_.clear();
  loaded_.emplace(generation, std::move(key));
  // 3. Old keys go last; if this is interrupted, the next Open() removes them.
  RemoveUnusedKeys({generation});
  return Status::Ok();
}

}  // namespace openbits::store
