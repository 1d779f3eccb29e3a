// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "store/store.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <deque>
#include <iterator>
#include <string>
#include <string_view>

#include "openbits/hresult.h"

#include "platform/c_handles.h"

namespace openbits::store {
namespace {

constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE jobs (
  id                     BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
  sequence               INTEGER NOT NULL,
  owner                  TEXT NOT NULL,
  type                   INTEGER NOT NULL,
  state                  INTEGER NOT NULL,
  priority               INTEGER NOT NULL,
  display_name           TEXT NOT NULL,
  description            TEXT NOT NULL,
  minimum_retry_delay_s  INTEGER NOT NULL,
  no_progress_timeout_s  INTEGER NOT NULL,
  maximum_download_time_s INTEGER NOT NULL,
  notify_flags           INTEGER NOT NULL,
  min_notification_interval_ms INTEGER NOT NULL,
  custom_headers         TEXT NOT NULL,
  dynamic_content        INTEGER NOT NULL,
  ever_resumed           INTEGER NOT NULL,
  creation_time_ms       INTEGER NOT NULL,
  modification_time_ms   INTEGER NOT NULL,
  completion_time_ms     INTEGER NOT NULL,
  error_code             INTEGER NOT NULL,
  error_context          INTEGER NOT NULL,
  error_file             INTEGER NOT NULL,
  error_description      TEXT NOT NULL,
  error_count            INTEGER NOT NULL,
  active_time_ms         INTEGER NOT NULL,
  pending                INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX jobs_by_owner ON jobs (owner, sequence);
CREATE INDEX jobs_by_sequence ON jobs (sequence);
CREATE TABLE files (
  job_id            BLOB NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  idx               INTEGER NOT NULL,
  remote_name       TEXT NOT NULL,
  local_name        TEXT NOT NULL,
  temp_name         TEXT NOT NULL,
  ranges            TEXT NOT NULL,
  bytes_total       INTEGER NOT NULL,
  remote_size       INTEGER NOT NULL,
  bytes_transferred INTEGER NOT NULL,
  completed         INTEGER NOT NULL,
  renamed           INTEGER NOT NULL,
  etag              TEXT NOT NULL,
  last_modified     TEXT NOT NULL,
  PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
)sql";

constexpr const char* kSchemaV2 = R"sql(
ALTER TABLE jobs ADD COLUMN notify_program TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN notify_parameters TEXT NOT NULL DEFAULT '';
)sql";

constexpr const char* kSchemaV3 = R"sql(
CREATE TABLE secrets (
  job_id   BLOB NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  purpose  TEXT NOT NULL,
  sealed   BLOB NOT NULL,
  PRIMARY KEY (job_id, purpose)
) WITHOUT ROWID;
CREATE TABLE vault (
  name     TEXT PRIMARY KEY NOT NULL,
  value    BLOB NOT NULL
) WITHOUT ROWID;
)sql";

constexpr const char* kSchemaV4 = R"sql(
ALTER TABLE jobs ADD COLUMN proxy_usage INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN proxy_list TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN proxy_bypass TEXT NOT NULL DEFAULT '';
)sql";

constexpr const char* kSchemaV5 = R"sql(
ALTER TABLE jobs ADD COLUMN http_method TEXT NOT NULL DEFAULT 'GET';
)sql";

// Custom headers move to the vault (purpose "custom-headers"): the engine
// seals what a version 7 queue holds in jobs.custom_headers when it opens
// the queue, as the store cannot seal. No SQL changes; the version tells an
// older build not to read a queue whose headers it would not find.
constexpr const char* kSchemaV8 = R"sql(
SELECT 1;
)sql";

constexpr const char* kSchemaV7 = R"sql(
ALTER TABLE jobs ADD COLUMN max_concurrent_files INTEGER NOT NULL DEFAULT 1;
)sql";

constexpr const char* kSchemaV6 = R"sql(
ALTER TABLE jobs ADD COLUMN security_flags INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cert_location INTEGER NOT NULL DEFAULT -1;
ALTER TABLE jobs ADD COLUMN cert_store TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN cert_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN cert_subject TEXT NOT NULL DEFAULT '';
)sql";

Status SqliteError(sqlite3* db, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : "out of memory";
  int code = db != nullptr ? sqlite3_errcode(db) : SQLITE_NOMEM;
  HResult hr = kEFail;
  switch (code & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      hr = kBgEDatabaseCorrupt;
      break;
    case SQLITE_FULL:
      hr = kEDiskFull;
      break;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      hr = kEAccessDenied;
      break;
    case SQLITE_NOMEM:
      hr = kEOutOfMemory;
      break;
    default:
      break;
  }
  return Status(hr, std::move(message));
}

// int64 storage of an unsigned 64-bit size: kSizeUnknown is stored as -1.
std::int64_t ToDb(std::uint64_t v) { return static_cast<std::int64_t>(v); }
std::uint64_t FromDb(std::int64_t v) { return static_cast<std::uint64_t>(v); }

std::string EncodeRanges(const std::vector<FileRange>& ranges) {
  std::string out;
  for (const FileRange& r : ranges) {
    if (!out.empty()) out += ',';
    out += std::to_string(r.initial_offset);
    out += ':';
    out += r.length == kLengthToEof ? std::string("eof") : std::to_string(r.length);
  }
  return out;
}

bool DecodeRanges(std::string_view text, std::vector<FileRange>* out) {
  out->clear();
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    auto colon = item.find(':');
    if (colon == std::string_view::npos) return false;
    FileRange r;
    auto off = item.substr(0, colon);
    auto len = item.substr(colon + 1);
    if (std::from_chars(off.data(), off.data() + off.size(), r.initial_offset).ec != std::errc()) {
      return false;
    }
    if (len == "eof") {
      r.length = kLengthToEof;
    } else if (std::from_chars(len.data(), len.data() + len.size(), r.length).ec != std::errc()) {
      return false;
    }
    out->push_back(r);
  }
  return true;
}

class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Statement& Bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& Bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // For text that outlives this Statement (it clears its bindings when it
  // goes): SQLite reads it in place instead of copying it.
  Statement& BindStable(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Statement& BindStable(int i, const Guid& id) {
    sqlite3_bind_blob(stmt_, i, id.bytes.data(), 16, SQLITE_STATIC);
    return *this;
  }
  Statement& Bind(int i, std::span<const std::uint8_t> v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& Bind(int i, const Guid& id) {
    sqlite3_bind_blob(stmt_, i, id.bytes.data(), 16, SQLITE_TRANSIENT);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(stmt_); }
  Status Run(std::string_view what) {
    int rc = Step();
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return SqliteError(db_, what);
    return Status::Ok();
  }
  std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(p),
                                      static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  std::vector<std::uint8_t> Blob(int col) const {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, col));
    return p == nullptr ? std::vector<std::uint8_t>()
                        : std::vector<std::uint8_t>(
                              p, p + static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  bool GuidAt(int col, Guid* out) const {
    if (sqlite3_column_bytes(stmt_, col) != 16) return false;
    std::memcpy(out->bytes.data(), sqlite3_column_blob(stmt_, col), 16);
    return true;
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(CPtr<sqlite3> db) : db_(std::move(db)) {}

  Status Prepare() {
    const char* sql[] = {
        // kInsertJob
        "INSERT INTO jobs VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,"
        "?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25,?26,?27,?28,?29,?30,?31,?32,?33,?34,?35,?36,"
        "?37,?38)",
        // kUpdateJob
        "UPDATE jobs SET sequence=?2, owner=?3, type=?4, state=?5, priority=?6,"
        " display_name=?7, description=?8, minimum_retry_delay_s=?9,"
        " no_progress_timeout_s=?10, maximum_download_time_s=?11, notify_flags=?12,"
        " min_notification_interval_ms=?13, custom_headers=?14, dynamic_content=?15,"
        " ever_resumed=?16, creation_time_ms=?17, modification_time_ms=?18,"
        " completion_time_ms=?19, error_code=?20, error_context=?21, error_file=?22,"
        " error_description=?23, error_count=?24, active_time_ms=?25, pending=?26,"
        " notify_program=?27, notify_parameters=?28, proxy_usage=?29, proxy_list=?30,"
        " proxy_bypass=?31, http_method=?32, security_flags=?33, cert_location=?34,"
        " cert_store=?35, cert_hash=?36, cert_subject=?37, max_concurrent_files=?38 WHERE id=?1",
        // kDeleteJob
        "DELETE FROM jobs WHERE id=?1",
        // kInsertFile
        "INSERT INTO files VALUES (?1,?2,?3,?4,?5,?6,?7,?13,?8,?9,?10,?11,?12)",
        // kUpdateFile
        "UPDATE files SET remote_name=?3, local_name=?4, temp_name=?5, ranges=?6,"
        " bytes_total=?7, remote_size=?13, bytes_transferred=?8, completed=?9, renamed=?10, "
        "etag=?11,"
        " last_modified=?12 WHERE job_id=?1 AND idx=?2",
        // kSelectJobs
        "SELECT id, sequence, owner, type, state, priority, display_name, description,"
        " minimum_retry_delay_s, no_progress_timeout_s, maximum_download_time_s,"
        " notify_flags, min_notification_interval_ms, custom_headers, dynamic_content,"
        " ever_resumed, creation_time_ms, modification_time_ms, completion_time_ms,"
        " error_code, error_context, error_file, error_description, error_count,"
        " active_time_ms, pending, notify_program, notify_parameters, proxy_usage, proxy_list,"
        " proxy_bypass, http_method, security_flags, cert_location, cert_store, cert_hash,"
        " cert_subject, max_concurrent_files FROM jobs"
        " ORDER BY id",
        // kSelectFiles
        "SELECT job_id, idx, remote_name, local_name, temp_name, ranges, bytes_total,"
        " bytes_transferred, completed, renamed, etag, last_modified, remote_size FROM files"
        " ORDER BY job_id, idx",
        // kPutSecret
        "INSERT OR REPLACE INTO secrets (job_id, purpose, sealed) VALUES (?1, ?2, ?3)",
        // kDeleteSecret
        "DELETE FROM secrets WHERE job_id=?1 AND purpose=?2",
        // kSelectSecrets
        "SELECT job_id, purpose, sealed FROM secrets ORDER BY job_id, purpose",
        // kSelectVault
        "SELECT name, value FROM vault",
        // kSetVault
        "INSERT OR REPLACE INTO vault (name, value) VALUES (?1, ?2)",
        // kDeleteVault
        "DELETE FROM vault WHERE name=?1",
    };
    static_assert(std::size(sql) + std::size(kControlSql) == kStatementCount);
    for (std::size_t i = 0; i < kStatementCount; ++i) {
      const char* text = i < std::size(sql) ? sql[i] : kControlSql[i - std::size(sql)];
      sqlite3_stmt* raw = nullptr;
      if (sqlite3_prepare_v3(db_.get(), text, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) !=
          SQLITE_OK) {
        return SqliteError(db_.get(), "prepare");
      }
      statements_[i].reset(raw);
    }
    return Status::Ok();
  }

  int SchemaVersion() override { return QueryUserVersion(db_.get()); }

  Status LoadJobsInto(const std::function<JobRecord*()>& new_record) override {
    std::vector<JobRecord*> jobs;  // in id order
    {
      Statement s = Use(kSelectJobs);
      int rc;
      while ((rc = s.Step()) == SQLITE_ROW) {
        JobRecord& j = *new_record();
        if (!s.GuidAt(0, &j.id)) return Status(kBgEDatabaseCorrupt, "bad job id");
        j.sequence = s.Int(1);
        j.owner = s.Text(2);
        j.type = static_cast<JobType>(s.Int(3));
        j.state = static_cast<JobState>(s.Int(4));
        j.priority = static_cast<JobPriority>(s.Int(5));
        j.display_name = s.Text(6);
        j.description = s.Text(7);
        j.minimum_retry_delay_s = static_cast<std::uint32_t>(s.Int(8));
        j.no_progress_timeout_s = static_cast<std::uint32_t>(s.Int(9));
        j.maximum_download_time_s = static_cast<std::uint32_t>(s.Int(10));
        j.notify_flags = static_cast<std::uint32_t>(s.Int(11));
        j.min_notification_interval_ms = static_cast<std::uint32_t>(s.Int(12));
        j.custom_headers = s.Text(13);
        j.dynamic_content = s.Int(14) != 0;
        j.ever_resumed = s.Int(15) != 0;
        j.creation_time_ms = s.Int(16);
        j.modification_time_ms = s.Int(17);
        j.completion_time_ms = s.Int(18);
        j.error_code = static_cast<HResult>(s.Int(19));
        j.error_context = static_cast<ErrorContext>(s.Int(20));
        j.error_file = s.Int(21);
        j.error_description = s.Text(22);
        j.error_count = static_cast<std::uint32_t>(s.Int(23));
        j.active_time_ms = s.Int(24);
        j.pending = static_cast<PendingAction>(s.Int(25));
        j.notify_program = s.Text(26);
        j.notify_parameters = s.Text(27);
        j.proxy_usage = static_cast<ProxyUsage>(s.Int(28));
        j.proxy_list = s.Text(29);
        j.proxy_bypass = s.Text(30);
        j.http_method = s.Text(31);
        j.security_flags = static_cast<std::uint32_t>(s.Int(32));
        j.cert_location = static_cast<int>(s.Int(33));
        j.cert_store = s.Text(34);
        j.cert_hash = s.Text(35);
        j.cert_subject = s.Text(36);
        j.max_concurrent_files = static_cast<std::uint32_t>(s.Int(37));
        if (static_cast<int>(j.state) < 0 || static_cast<int>(j.state) > 8 ||
            static_cast<int>(j.priority) < 0 || static_cast<int>(j.priority) > 3) {
          return Status(kBgEDatabaseCorrupt, "job row with an impossible state");
        }
        jobs.push_back(&j);
      }
      if (rc != SQLITE_DONE) return SqliteError(db_.get(), "load jobs");
    }
    // Jobs, files and secrets all come in job id order, the tables' own
    // order: each is one sequential scan, merged here. `cursor` only moves
    // forward; null when no job has `id`.
    auto job_at = [&jobs](const Guid& id, std::size_t* cursor) -> JobRecord* {
      while (*cursor < jobs.size() && jobs[*cursor]->id < id) ++*cursor;
      return *cursor < jobs.size() && jobs[*cursor]->id == id ? jobs[*cursor] : nullptr;
    };
    Statement s = Use(kSelectFiles);
    int rc;
    std::size_t cursor = 0;
    while ((rc = s.Step()) == SQLITE_ROW) {
      Guid id;
      if (!s.GuidAt(0, &id)) return Status(kBgEDatabaseCorrupt, "bad file job id");
      JobRecord* job = job_at(id, &cursor);
      if (job == nullptr) return Status(kBgEDatabaseCorrupt, "file row without a job");
      FileRecord f;
      f.index = static_cast<std::uint32_t>(s.Int(1));
      f.remote_name = s.Text(2);
      f.local_name = s.Text(3);
      f.temp_name = s.Text(4);
      if (!DecodeRanges(s.Text(5), &f.ranges)) {
        return Status(kBgEDatabaseCorrupt, "bad range list");
      }
      f.bytes_total = FromDb(s.Int(6));
      f.bytes_transferred = FromDb(s.Int(7));
      f.completed = s.Int(8) != 0;
      f.renamed = s.Int(9) != 0;
      f.etag = s.Text(10);
      f.last_modified = s.Text(11);
      f.remote_size = FromDb(s.Int(12));
      auto& files = job->files;
      if (f.index != files.size()) return Status(kBgEDatabaseCorrupt, "file index gap");
      files.push_back(std::move(f));
    }
    if (rc != SQLITE_DONE) return SqliteError(db_.get(), "load files");
    auto secrets = LoadSecrets();
    if (!secrets.ok()) return secrets.status();
    cursor = 0;
    for (auto& [id, secret] : *secrets) {
      JobRecord* job = job_at(id, &cursor);
      if (job == nullptr) return Status(kBgEDatabaseCorrupt, "secret row without a job");
      job->secrets.push_back(std::move(secret));
    }
    return Status::Ok();
  }

  Result<std::vector<std::pair<Guid, SecretRecord>>> LoadSecrets() override {
    std::vector<std::pair<Guid, SecretRecord>> out;
    Statement s = Use(kSelectSecrets);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      Guid id;
      if (!s.GuidAt(0, &id)) return Status(kBgEDatabaseCorrupt, "bad secret job id");
      out.emplace_back(id, SecretRecord{s.Text(1), s.Blob(2)});
    }
    if (rc != SQLITE_DONE) return SqliteError(db_.get(), "load secrets");
    return out;
  }

  Status PutSecret(const Guid& id, std::string_view purpose,
                   std::span<const std::uint8_t> sealed) override {
    return RunInTransaction([&]() -> Status {
      Statement s = Use(kPutSecret);
      s.Bind(1, id).Bind(2, purpose).Bind(3, sealed);
      return s.Run("store secret");
    });
  }

  Status DeleteSecret(const Guid& id, std::string_view purpose) override {
    return RunInTransaction([&]() -> Status {
      Statement s = Use(kDeleteSecret);
      s.Bind(1, id).Bind(2, purpose);
      return s.Run("delete secret");
    });
  }

  Result<std::map<std::string, std::vector<std::uint8_t>>> LoadVaultValues() override {
    std::map<std::string, std::vector<std::uint8_t>> out;
    Statement s = Use(kSelectVault);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out[s.Text(0)] = s.Blob(1);
    if (rc != SQLITE_DONE) return SqliteError(db_.get(), "load vault");
    return out;
  }

  Status SetVaultValue(std::string_view name, std::span<const std::uint8_t> value) override {
    return RunInTransaction([&]() -> Status {
      Statement s = Use(kSetVault);
      s.Bind(1, name).Bind(2, value);
      return s.Run("store vault value");
    });
  }

  Status DeleteVaultValue(std::string_view name) override {
    return RunInTransaction([&]() -> Status {
      Statement s = Use(kDeleteVault);
      s.Bind(1, name);
      return s.Run("delete vault value");
    });
  }

  Status InsertJob(const JobRecord& job) override {
    return RunInTransaction([&]() -> Status {
      {
        Statement s = Use(kInsertJob);
        BindJob(s, job);
        OPENBITS_RETURN_IF_ERROR(s.Run("insert job"));
      }
      for (const SecretRecord& secret : job.secrets) {
        OPENBITS_RETURN_IF_ERROR(PutSecret(job.id, secret.purpose, secret.sealed));
      }
      return InsertFilesNoTxn(job.id, job.files);
    });
  }

  Status UpdateJob(const JobRecord& job) override {
    return RunInTransaction([&]() -> Status {
      Statement s = Use(kUpdateJob);
      BindJob(s, job);
      return s.Run("update job");
    });
  }

  Status DeleteJob(const Guid& id) override {
    return RunInTransaction([&]() -> Status {
      Statement s = Use(kDeleteJob);
      s.Bind(1, id);
      return s.Run("delete job");
    });
  }

  Status InsertFiles(const Guid& id, const std::vector<FileRecord>& files) override {
    return RunInTransaction([&]() { return InsertFilesNoTxn(id, files); });
  }

  Status UpdateFile(const Guid& id, const FileRecord& f) override {
    return RunInTransaction([&]() -> Status {
      Statement s = Use(kUpdateFile);
      BindFile(s, id, f);
      return s.Run("update file");
    });
  }

  Status RunInTransaction(const std::function<Status()>& body) override {
    if (in_transaction_) return body();
    if (Status st = Control(kBegin); !st.ok()) return st;
    in_transaction_ = true;
    Status result = body();
    in_transaction_ = false;
    if (result.ok()) {
      Status commit = Control(kCommit);
      if (commit.ok()) return result;
      result = commit;
    }
    (void)Control(kRollback);
    return result;
  }

  Status RunInUnsyncedTransaction(const std::function<Status()>& body) override {
    if (in_transaction_) return body();
    // In WAL mode NORMAL skips the log's fsync at this commit only; the
    // next FULL commit syncs the log, and these frames with it.
    OPENBITS_RETURN_IF_ERROR(Control(kSyncNormal));
    Status result = RunInTransaction(body);
    Status restored = Control(kSyncFull);
    return result.ok() ? restored : result;
  }

  static Status Exec(sqlite3* db, const char* sql) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK) return Status::Ok();
    // SqliteError appends SQLite's message; name the statement, not the text.
    std::string_view statement(sql);
    statement = statement.substr(0, statement.find_first_of("\n(;"));
    if (statement.size() > 40) statement = statement.substr(0, 40);
    return SqliteError(db, "the queue database (" + std::string(statement) + ")");
  }

  static int QueryUserVersion(sqlite3* db) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &raw, nullptr) != SQLITE_OK) return -1;
    CPtr<sqlite3_stmt> stmt(raw);
    if (sqlite3_step(raw) != SQLITE_ROW) return -1;
    return sqlite3_column_int(raw, 0);
  }

 private:
  enum StatementId {
    kInsertJob,
    kUpdateJob,
    kDeleteJob,
    kInsertFile,
    kUpdateFile,
    kSelectJobs,
    kSelectFiles,
    kPutSecret,
    kDeleteSecret,
    kSelectSecrets,
    kSelectVault,
    kSetVault,
    kDeleteVault,
    kBegin,
    kCommit,
    kRollback,
    kSyncNormal,
    kSyncFull,
    kStatementCount
  };

  Statement Use(StatementId id) { return Statement(db_.get(), statements_[id].get()); }

  // The statements from kBegin on, in their order: run for every commit,
  // they are parsed once rather than each time by sqlite3_exec.
  static constexpr const char* kControlSql[] = {"BEGIN IMMEDIATE", "COMMIT", "ROLLBACK",
                                                "PRAGMA synchronous = NORMAL",
                                                "PRAGMA synchronous = FULL"};

  // Runs one of the transaction and pragma statements (the migrations, which
  // run before Prepare, use Exec).
  Status Control(StatementId id) {
    Statement s = Use(id);
    if (s.Step() == SQLITE_DONE) return Status::Ok();
    return SqliteError(db_.get(),
                       std::string("the queue database (") + kControlSql[id - kBegin] + ")");
  }

  static void BindJob(Statement& s, const JobRecord& j) {
    s.Bind(1, j.id)
        .Bind(2, j.sequence)
        .Bind(3, j.owner)
        .Bind(4, static_cast<std::int64_t>(j.type))
        .Bind(5, static_cast<std::int64_t>(j.state))
        .Bind(6, static_cast<std::int64_t>(j.priority))
        .Bind(7, j.display_name)
        .Bind(8, j.description)
        .Bind(9, std::int64_t{j.minimum_retry_delay_s})
        .Bind(10, std::int64_t{j.no_progress_timeout_s})
        .Bind(11, std::int64_t{j.maximum_download_time_s})
        .Bind(12, std::int64_t{j.notify_flags})
        .Bind(13, std::int64_t{j.min_notification_interval_ms})
        .Bind(14, j.custom_headers)
        .Bind(15, std::int64_t{j.dynamic_content})
        .Bind(16, std::int64_t{j.ever_resumed})
        .Bind(17, j.creation_time_ms)
        .Bind(18, j.modification_time_ms)
        .Bind(19, j.completion_time_ms)
        .Bind(20, std::int64_t{j.error_code})
        .Bind(21, static_cast<std::int64_t>(j.error_context))
        .Bind(22, j.error_file)
        .Bind(23, j.error_description)
        .Bind(24, std::int64_t{j.error_count})
        .Bind(25, j.active_time_ms)
        .Bind(26, static_cast<std::int64_t>(j.pending))
        .Bind(27, j.notify_program)
        .Bind(28, j.notify_parameters)
        .Bind(29, static_cast<std::int64_t>(j.proxy_usage))
        .Bind(30, j.proxy_list)
        .Bind(31, j.proxy_bypass)
        .Bind(32, j.http_method)
        .Bind(33, std::int64_t{j.security_flags})
        .Bind(34, std::int64_t{j.cert_location})
        .Bind(35, j.cert_store)
        .Bind(36, j.cert_hash)
        .Bind(37, j.cert_subject)
        .Bind(38, std::int64_t{j.max_concurrent_files});
  }

  // `id` and `f` must outlive `s` (one file's statement is run per call).
  static void BindFile(Statement& s, const Guid& id, const FileRecord& f) {
    s.BindStable(1, id)
        .Bind(2, std::int64_t{f.index})
        .BindStable(3, f.remote_name)
        .BindStable(4, f.local_name)
        .BindStable(5, f.temp_name)
        .Bind(6, EncodeRanges(f.ranges))  // a temporary: copied
        .Bind(7, ToDb(f.bytes_total))
        .Bind(8, ToDb(f.bytes_transferred))
        .Bind(9, std::int64_t{f.completed})
        .Bind(10, std::int64_t{f.renamed})
        .BindStable(11, f.etag)
        .BindStable(12, f.last_modified)
        .Bind(13, ToDb(f.remote_size));
  }

  Status InsertFilesNoTxn(const Guid& id, const std::vector<FileRecord>& files) {
    for (const FileRecord& f : files) {
      Statement s = Use(kInsertFile);
      BindFile(s, id, f);
      OPENBITS_RETURN_IF_ERROR(s.Run("insert file"));
    }
    return Status::Ok();
  }

  CPtr<sqlite3> db_;
  CPtr<sqlite3_stmt> statements_[kStatementCount];
  bool in_transaction_ = false;
};

Status Migrate(sqlite3* db, const std::vector<Migration>& migrations) {
  int version = SqliteStore::QueryUserVersion(db);
  if (version < 0) return SqliteError(db, "read schema version");
  const int latest = migrations.empty() ? 0 : migrations.back().version;
  if (version > latest) {
    return Status(kBgEDatabaseCorrupt,
                  "the queue database has schema version " + std::to_string(version) +
                      ", newer than this openbits understands (" + std::to_string(latest) + ")");
  }
  if (version == latest) return Status::Ok();
  // All pending steps in one transaction: one sync instead of one per
  // version (a new queue takes every step), and a failed step leaves the
  // queue as it was.
  OPENBITS_RETURN_IF_ERROR(SqliteStore::Exec(db, "BEGIN IMMEDIATE"));
  Status st;
  for (const Migration& m : migrations) {
    if (m.version <= version) continue;
    st = SqliteStore::Exec(db, m.sql);
    if (!st.ok()) {
      st = Status(st.code(), "schema migration to version " + std::to_string(m.version) +
                                 " failed: " + st.message());
      break;
    }
  }
  if (st.ok()) {
    std::string set = "PRAGMA user_version = " + std::to_string(latest);
    st = SqliteStore::Exec(db, set.c_str());
  }
  if (st.ok()) st = SqliteStore::Exec(db, "COMMIT");
  if (!st.ok()) {
    (void)SqliteStore::Exec(db, "ROLLBACK");
    return st;
  }
  return Status::Ok();
}

}  // namespace

const std::vector<Migration>& SchemaMigrations() {
  static const std::vector<Migration> migrations = {{1, kSchemaV1}, {2, kSchemaV2}, {3, kSchemaV3},
                                                    {4, kSchemaV4}, {5, kSchemaV5}, {6, kSchemaV6},
                                                    {7, kSchemaV7}, {8, kSchemaV8}};
  return migrations;
}

Result<std::vector<JobRecord>> Store::LoadJobs() {
  std::deque<JobRecord> loaded;  // stable addresses while filled
  OPENBITS_RETURN_IF_ERROR(LoadJobsInto([&] { return &loaded.emplace_back(); }));
  std::vector<JobRecord> jobs(std::make_move_iterator(loaded.begin()),
                              std::make_move_iterator(loaded.end()));
  std::sort(jobs.begin(), jobs.end(),
            [](const JobRecord& a, const JobRecord& b) { return a.sequence < b.sequence; });
  return jobs;
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  return OpenWithMigrationsForTest(path, SchemaMigrations());
}

Result<std::unique_ptr<Store>> Store::OpenWithMigrationsForTest(
    const std::string& path, const std::vector<Migration>& migrations) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &raw,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
      nullptr);
  CPtr<sqlite3> db(raw);
  if (rc != SQLITE_OK) return SqliteError(raw, "open " + path);
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, 5000);
  // WAL: readers never block the writer; synchronous=FULL makes every commit
  // durable before the API call that caused it returns. secure_delete
  // overwrites deleted rows instead of leaving them in free pages.
  for (const char* pragma :
       {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON",
        "PRAGMA secure_delete = ON", "PRAGMA temp_store = MEMORY"}) {
    Status st = SqliteStore::Exec(raw, pragma);
    if (!st.ok()) return st;
  }
  OPENBITS_RETURN_IF_ERROR(Migrate(raw, migrations));
  auto store = std::make_unique<SqliteStore>(std::move(db));
  OPENBITS_RETURN_IF_ERROR(store->Prepare());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace openbits::store
