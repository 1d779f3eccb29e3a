// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The credential vault: seals each secret of a job with AES-256-GCM under a
// data key that never enters the database (platform::KeyProtector keeps
// it). A record is bound to its row: the associated data holds the job id
// and the secret's purpose, so a record copied to another job or purpose
// does not open. docs/vault.md has the record format and the threat model.
//
// Used from one thread at a time (the engine's), like the Store.

#ifndef OPENBITS_STORE_VAULT_H_
#define OPENBITS_STORE_VAULT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "openbits/status.h"
#include "openbits/types.h"

#include "platform/key_protector.h"
#include "platform/secret_buffer.h"
#include "store/store.h"

namespace openbits::store {

class Vault {
 public:
  // Opens the vault kept in `store`, with its keys in `keys`. A key that is
  // missing or is not the one the secrets were sealed with is not an error
  // here: the secrets sealed under it fail to open (NTE_NO_KEY) and new
  // secrets get a new key. A key the protector refuses (wrong owner or
  // mode: E_ACCESSDENIED) is an error: the caller must not start.
  static Result<std::unique_ptr<Vault>> Open(Store& store,
                                             std::unique_ptr<platform::KeyProtector> keys);

  ~Vault();

  // Seals `plaintext` for `purpose` of job `job`. Creates the vault's key on
  // first use.
  Result<std::vector<std::uint8_t>> Seal(const Guid& job, std::string_view purpose,
                                         std::span<const std::uint8_t> plaintext);

  // Opens a record sealed for (`job`, `purpose`). NTE_BAD_DATA when the
  // record was altered, belongs to another job or purpose, or is not a vault
  // record; NTE_NO_KEY when its key is missing or wrong. Never returns
  // plaintext that did not pass authentication.
  Result<platform::SecretBuffer> Unseal(const Guid& job, std::string_view purpose,
                                        std::span<const std::uint8_t> sealed) const;

  // Re-seals every secret in the store under a new key, in one transaction,
  // then forgets the old key. If any secret does not open, nothing changes
  // and the error names it. A crash at any point leaves every secret
  // readable (docs/vault.md, "Rotation").
  Status RotateKey();

  // Problems found at Open() (missing or wrong keys), for the log.
  const std::vector<std::string>& warnings() const { return warnings_; }

  // The key generation new secrets are sealed under; 0 before the first.
  std::uint32_t active_generation() const { return active_; }

 private:
  Vault(Store& store, std::unique_ptr<platform::KeyProtector> keys);

  Status Load();
  Status EnsureActiveKey();
  std::string KeyName(std::uint32_t generation) const;
  std::uint32_t HighestGeneration() const;
  void RemoveUnusedKeys(const std::vector<std::uint32_t>& keep);

  Store& store_;
  std::unique_ptr<platform::KeyProtector> keys_;
  std::string vault_id_;  // hex; empty until the first secret is sealed
  std::uint32_t active_ = 0;
  std::map<std::uint32_t, platform::SecretBuffer> loaded_;
  std::map<std::uint32_t, Status> unavailable_;
  std::map<std::string, std::vector<std::uint8_t>> values_;
  std::vector<std::string> warnings_;
};

}  // namespace openbits::store

#endif  // OPENBITS_STORE_VAULT_H_
