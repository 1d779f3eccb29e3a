// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The persistent job queue: one SQLite database in WAL mode.
//
// A Store is used from one thread at a time (the engine's). Every mutating
// call is one transaction unless it runs inside RunInTransaction(), which
// groups several into one commit (one fsync).

#ifndef OPENBITS_STORE_STORE_H_
#define OPENBITS_STORE_STORE_H_

#include <functional>
#include <memory>
#include <string>
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

  // Every job with its files, in creation order.
  virtual Result<std::vector<JobRecord>> LoadJobs() = 0;

  // Inserts the job and its files.
  virtual Status InsertJob(const JobRecord& job) = 0;
  // Rewrites the job's own columns (not its files).
  virtual Status UpdateJob(const JobRecord& job) = 0;
  // Deletes the job and its files.
  virtual Status DeleteJob(const Guid& id) = 0;
  // Inserts files of an existing job.
  virtual Status InsertFiles(const Guid& id, const std::vector<FileRecord>& files) = 0;
  // Rewrites one file's columns.
  virtual Status UpdateFile(const Guid& id, const FileRecord& file) = 0;

  // Runs `body` in one transaction: committed if it returns ok, rolled back
  // otherwise. Nested calls join the outer transaction.
  virtual Status RunInTransaction(const std::function<Status()>& body) = 0;
};

}  // namespace openbits::store

#endif  // OPENBITS_STORE_STORE_H_
