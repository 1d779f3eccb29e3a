// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The checks a file must pass before it joins a job (AddFile*, CreateJobs):
// its URL, its local name and destination directory (as the job's owner),
// ranges against the job's settings, and the URL password split off into
// the vault. One copy, for every caller.

#ifndef OPENBITS_ENGINE_JOB_VALIDATION_H_
#define OPENBITS_ENGINE_JOB_VALIDATION_H_

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "openbits/status.h"
#include "openbits/types.h"

#include "engine/owner_access.h"
#include "store/records.h"
#include "store/vault.h"

namespace openbits::engine {

// An http or https URL of at most 2,200 characters, with a host and no
// blank or control character; user information as auth::SplitUserInfo takes.
Status ValidateRemoteUrl(std::string_view url);

// The local name's syntax: absolute, at most 4,096 bytes, a file, no control
// character, no . or .. component, not inside `state_dir`. The directory's
// checks (platform::CheckDestinationDirectory) are the caller's, once per
// directory.
Status ValidateLocalName(std::string_view path, const std::string& state_dir);

// What a job's destination directory looked like when files were added.
struct DestinationCheck {
  Status status;  // CheckDestinationDirectory's answer
  // Listed when many new files go there: a name not in it needs no lookup.
  std::optional<std::unordered_set<std::string>> names;
};

// What the checks need of the engine.
struct FileCheckContext {
  OwnerAccess& owners;
  store::Vault& vault;
  const std::string& state_directory;
};

// Validates `files` for `job` and turns them into records (not stored yet),
// appended to `out`; URL passwords are sealed into `secrets`. `directories`
// remembers each destination directory's check across calls for the same
// owner (null: within this call only). Nothing is appended on error.
Status BuildFileRecords(const store::JobRecord& job, const std::vector<FileInfo>& files,
                        const std::vector<FileRange>* ranges, const FileCheckContext& context,
                        std::vector<store::FileRecord>* out,
                        std::vector<store::SecretRecord>* secrets,
                        std::unordered_map<std::string, DestinationCheck>* directories = nullptr);

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_JOB_VALIDATION_H_
