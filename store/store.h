// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The persistent job queue: one SQLite database in WAL mode.
//
// A Store is used from one thread at a time (the engine's). Every mutating
// call is one transaction unless it runs inside RunInTransaction(), which
// groups several into one commit (one fsync).

#ifndef OPENBITS_STORE_STORE_H_
#define OPENBITS_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "openbits/status.h"

#include "store/records.h"

namespace openbits::store {

// One schema step: SQL run in a transaction that also sets user_version.
struct Migration {
  int version;
  const char* sql;
};

// The migrations of this build, in order (docs/store_format.md).
const std::vector<Migration>& SchemaMigrations();

class Store {
 public:
  // Opens or creates the database at `path` and brings its schema up to
  // date. Fails with BG_E_DATABASE_CORRUPT when the file is not a queue
  // database or was written by a newer openbits.
  static Result<std::unique_ptr<Store>> Open(const std::string& path);
  // Same with an explicit migration list (tests).
  static Result<std::unique_ptr<Store>> OpenWithMigrationsForTest(
      const std::string& path, const std::vector<Migration>& migrations);

  virtual ~Store() = default;

  virtual int SchemaVersion() = 0;

  // Every job with its files and secrets, in creation order.
  Result<std::vector<JobRecord>> LoadJobs();
  // The same, each job filled in place in the record `new_record` returns
  // (which must stay valid until this returns), in job id order: the
  // tables' own order, so a big queue loads without sorting or moving
  // records. On failure some records may be partly filled.
  virtual Status LoadJobsInto(const std::function<JobRecord*()>& new_record) = 0;

  // Inserts the job, its files and its secrets.
  virtual Status InsertJob(const JobRecord& job) = 0;
  // Rewrites the job's own columns (not its files).
  virtual Status UpdateJob(const JobRecord& job) = 0;
  // Deletes the job and its files.
  virtual Status DeleteJob(const Guid& id) = 0;
  // Inserts files of an existing job.
  virtual Status InsertFiles(const Guid& id, const std::vector<FileRecord>& files) = 0;
  // Rewrites one file's columns.
  virtual Status UpdateFile(const Guid& id, const FileRecord& file) = 0;

  // Inserts or replaces one sealed secret of a job.
  virtual Status PutSecret(const Guid& id, std::string_view purpose,
                           std::span<const std::uint8_t> sealed) = 0;
  // Deletes one secret (no error if absent). Deleting a job deletes its
  // secrets.
  virtual Status DeleteSecret(const Guid& id, std::string_view purpose) = 0;
  // Every secret of every job, as (job, record) pairs.
  virtual Result<std::vector<std::pair<Guid, SecretRecord>>> LoadSecrets() = 0;

  // The vault's own small table (its id, active key generation and key
  // check values; never a key).
  virtual Result<std::map<std::string, std::vector<std::uint8_t>>> LoadVaultValues() = 0;
  virtual Status SetVaultValue(std::string_view name, std::span<const std::uint8_t> value) = 0;
  virtual Status DeleteVaultValue(std::string_view name) = 0;

  // Runs `body` in one transaction: committed if it returns ok, rolled back
  // otherwise. Nested calls join the outer transaction.
  virtual Status RunInTransaction(const std::function<Status()>& body) = 0;
  // The same, but the commit is not synced to disk: a killed process keeps
  // it, a power loss may undo it until the next synced commit (every other
  // transaction) writes the log out with it. Only for records whose loss
  // costs work done again, never data or a promise made to a caller.
  virtual Status RunInUnsyncedTransaction(const std::function<Status()>& body) = 0;
};

}  // namespace openbits::store

#endif  // OPENBITS_STORE_STORE_H_
