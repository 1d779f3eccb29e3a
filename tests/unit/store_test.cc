// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "store/store.h"

#include <fstream>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "openbits/hresult.h"

#include "tests/support/test_support.h"

namespace openbits::store {
namespace {

using openbits::testing::TempDir;

int UserVersion(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
  sqlite3_step(st);
  int v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

JobRecord SampleJob() {
  JobRecord j;
  j.id = Guid::Generate();
  j.sequence = 42;
  j.owner = "1000";
  j.state = JobState::kTransientError;
  j.priority = JobPriority::kHigh;
  j.display_name = "nightly \"backup\" ünïcode";
  j.description = "desc";
  j.notify_program = "/bin/true";
  j.notify_parameters = "true --flag";
  j.error_code = HttpErrorCode(503);
  j.error_context = ErrorContext::kRemoteFile;
  j.error_file = 1;
  j.error_count = 3;
  FileRecord a;
  a.index = 0;
  a.remote_name = "http://example.test/a";
  a.local_name = "/tmp/a";
  a.temp_name = "BIT0123.tmp";
  a.bytes_total = 1000;
  a.remote_size = 1000;
  a.bytes_transferred = 1000;
  a.completed = true;
  a.etag = "\"abc\"";
  FileRecord b;
  b.index = 1;
  b.remote_name = "https://example.test/b";
  b.local_name = "/tmp/b";
  b.ranges = {{0, 100}, {5000, kLengthToEof}};
  j.files = {a, b};
  return j;
}

TEST(StoreTest, FreshDatabaseGetsTheLatestSchema) {
  TempDir dir;
  auto store = Store::Open(dir / "q.db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->SchemaVersion(), SchemaMigrations().back().version);
  store->reset();
  EXPECT_EQ(UserVersion(dir / "q.db"), SchemaMigrations().back().version);
}

TEST(StoreTest, JobsAndFilesRoundTrip) {
  TempDir dir;
  JobRecord job = SampleJob();
  {
    auto store = Store::Open(dir / "q.db");
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->InsertJob(job).ok());
  }
  auto store = Store::Open(dir / "q.db");
  ASSERT_TRUE(store.ok());
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  const JobRecord& j = (*jobs)[0];
  EXPECT_EQ(j.id, job.id);
  EXPECT_EQ(j.display_name, job.display_name);
  EXPECT_EQ(j.state, JobState::kTransientError);
  EXPECT_EQ(j.priority, JobPriority::kHigh);
  EXPECT_EQ(j.error_code, HttpErrorCode(503));
  EXPECT_EQ(j.error_count, 3u);
  EXPECT_EQ(j.notify_program, "/bin/true");
  EXPECT_EQ(j.notify_parameters, "true --flag");
  ASSERT_EQ(j.files.size(), 2u);
  EXPECT_TRUE(j.files[0].completed);
  EXPECT_EQ(j.files[0].etag, "\"abc\"");
  EXPECT_EQ(j.files[1].bytes_total, kSizeUnknown);
  EXPECT_EQ(j.files[1].remote_size, kSizeUnknown);
  EXPECT_EQ(j.files[1].ranges, job.files[1].ranges);
}

TEST(StoreTest, ManyJobsLoadInCreationOrderEachWithItsOwnFilesAndSecrets) {
  // Rows come back in id order and are merged by id; random ids make that
  // order unrelated to creation order.
  TempDir dir;
  auto store = Store::Open(dir / "q.db");
  ASSERT_TRUE(store.ok());
  constexpr int kJobs = 200;
  for (int n = 0; n < kJobs; ++n) {
    JobRecord j;
    j.id = Guid::Generate();
    j.sequence = (n * 7919) % kJobs + 1;  // inserted out of creation order
    j.owner = "1000";
    j.display_name = "job " + std::to_string(j.sequence);
    for (int f = 0; f < static_cast<int>(j.sequence % 4); ++f) {
      FileRecord file;
      file.index = static_cast<std::uint32_t>(f);
      file.remote_name =
          "http://example.test/" + std::to_string(j.sequence) + "/" + std::to_string(f);
      file.local_name = "/tmp/" + std::to_string(j.sequence) + "-" + std::to_string(f);
      j.files.push_back(file);
    }
    if (j.sequence % 3 == 0) {
      j.secrets.push_back(
          {"credential/server/basic", {static_cast<std::uint8_t>(j.sequence % 256)}});
    }
    ASSERT_TRUE((*store)->InsertJob(j).ok());
  }
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_EQ(jobs->size(), static_cast<std::size_t>(kJobs));
  for (int i = 0; i < kJobs; ++i) {
    const JobRecord& j = (*jobs)[static_cast<std::size_t>(i)];
    ASSERT_EQ(j.sequence, i + 1);
    EXPECT_EQ(j.display_name, "job " + std::to_string(j.sequence));
    ASSERT_EQ(j.files.size(), static_cast<std::size_t>(j.sequence % 4));
    for (std::size_t f = 0; f < j.files.size(); ++f) {
      EXPECT_EQ(j.files[f].local_name,
                "/tmp/" + std::to_string(j.sequence) + "-" + std::to_string(f));
    }
    ASSERT_EQ(j.secrets.size(), j.sequence % 3 == 0 ? 1u : 0u);
    if (!j.secrets.empty()) {
      EXPECT_EQ(j.secrets[0].sealed[0], j.sequence % 256);
    }
  }
}

TEST(RareStringTest, ReadsAndCopiesLikeAString) {
  RareString none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.str(), "");
  RareString set = std::string("proxy:3128");
  EXPECT_FALSE(set.empty());
  EXPECT_EQ(set.size(), 10u);
  EXPECT_EQ(set, "proxy:3128");
  RareString copy = set;
  copy = "other";
  EXPECT_EQ(set, "proxy:3128");  // a deep copy
  EXPECT_EQ(copy, "other");
  copy = std::string();
  EXPECT_TRUE(copy.empty());
  const std::string& view = set;
  EXPECT_EQ(view, "proxy:3128");
  EXPECT_EQ("http://" + set, "http://proxy:3128");
  RareString moved = std::move(set);
  EXPECT_EQ(moved, "proxy:3128");
}

TEST(StoreTest, UpdatesAndDeletesPersist) {
  TempDir dir;
  JobRecord job = SampleJob();
  auto store = Store::Open(dir / "q.db");
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->InsertJob(job).ok());
  job.state = JobState::kSuspended;
  ASSERT_TRUE((*store)->UpdateJob(job).ok());
  job.files[1].bytes_transferred = 77;
  ASSERT_TRUE((*store)->UpdateFile(job.id, job.files[1]).ok());
  JobRecord other = SampleJob();
  other.sequence = 1;
  ASSERT_TRUE((*store)->InsertJob(other).ok());
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ((*jobs)[0].id, other.id);  // creation order
  EXPECT_EQ((*jobs)[1].state, JobState::kSuspended);
  EXPECT_EQ((*jobs)[1].files[1].bytes_transferred, 77u);
  ASSERT_TRUE((*store)->DeleteJob(job.id).ok());
  jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].files.size(), 2u);  // the other job's files are intact
}

TEST(StoreTest, ATransactionThatFailsLeavesNothing) {
  TempDir dir;
  auto store = Store::Open(dir / "q.db");
  ASSERT_TRUE(store.ok());
  JobRecord job = SampleJob();
  Status st = (*store)->RunInTransaction([&]() -> Status {
    OPENBITS_RETURN_IF_ERROR((*store)->InsertJob(job));
    return Status(kEFail, "abort");
  });
  EXPECT_EQ(st.code(), kEFail);
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok());
  EXPECT_TRUE(jobs->empty());
}

TEST(StoreTest, AnUnsyncedTransactionCommitsOrRollsBackLikeAnyOther) {
  TempDir dir;
  JobRecord job = SampleJob();
  {
    auto store = Store::Open(dir / "q.db");
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->InsertJob(job).ok());
    Status failed = (*store)->RunInUnsyncedTransaction([&]() -> Status {
      job.files[0].bytes_transferred = 5;
      OPENBITS_RETURN_IF_ERROR((*store)->UpdateFile(job.id, job.files[0]));
      return Status(kEFail, "abort");
    });
    EXPECT_EQ(failed.code(), kEFail);
    ASSERT_TRUE((*store)
                    ->RunInUnsyncedTransaction([&] {
                      job.files[1].completed = true;
                      return (*store)->UpdateFile(job.id, job.files[1]);
                    })
                    .ok());
    job.state = JobState::kTransferred;
    ASSERT_TRUE((*store)->UpdateJob(job).ok());  // a synced commit after it
  }
  auto store = Store::Open(dir / "q.db");
  ASSERT_TRUE(store.ok());
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].files[0].bytes_transferred, 1000u);  // the rolled-back 5 is not there
  EXPECT_TRUE((*jobs)[0].files[1].completed);
  EXPECT_EQ((*jobs)[0].state, JobState::kTransferred);
}

TEST(StoreTest, MigrationsRunInOrderAndOnlyOnce) {
  TempDir dir;
  const std::vector<Migration> current = SchemaMigrations();
  {
    auto store = Store::OpenWithMigrationsForTest(dir / "q.db", current);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->InsertJob(SampleJob()).ok());
  }
  std::vector<Migration> next = current;
  const int version = current.back().version + 1;
  next.push_back({version,
                  "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT);"
                  "INSERT INTO settings VALUES ('x', 'y');"});
  {
    auto store = Store::OpenWithMigrationsForTest(dir / "q.db", next);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_EQ((*store)->SchemaVersion(), version);
    auto jobs = (*store)->LoadJobs();
    ASSERT_TRUE(jobs.ok());
    EXPECT_EQ(jobs->size(), 1u);  // data survived the migration
  }
  // Reopening does not run the migration again (it would fail: table exists).
  auto again = Store::OpenWithMigrationsForTest(dir / "q.db", next);
  EXPECT_TRUE(again.ok()) << again.status().ToString();
}

TEST(StoreTest, AVersion1QueueIsUpgradedWithItsJobs) {
  TempDir dir;
  {
    // A queue as schema version 1 wrote it, job and file included.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir / "q.db").c_str(), &db), SQLITE_OK);
    const std::string sql =
        std::string(SchemaMigrations()[0].sql) +
        "PRAGMA user_version = 1;"
        "INSERT INTO jobs VALUES (x'00112233445566778899AABBCCDDEEFF', 1, '1000',"
        " 0, 3, 2, 'old', '', 600, 1209600, 7776000, 3, 500, '', 0, 0, 1, 1,"
        " 0, 0, 0, -1, '', 0, 0, 0);"
        "INSERT INTO files VALUES (x'00112233445566778899AABBCCDDEEFF', 0,"
        " 'http://h/a', '/tmp/a', '', '', -1, -1, 0, 0, 0, '', '');";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_close(db);
  }
  auto store = Store::Open(dir / "q.db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->SchemaVersion(), SchemaMigrations().back().version);
  auto jobs = (*store)->LoadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].display_name, "old");
  EXPECT_EQ((*jobs)[0].notify_program, "");
  ASSERT_EQ((*jobs)[0].files.size(), 1u);
  EXPECT_EQ((*jobs)[0].files[0].remote_name, "http://h/a");
}

TEST(StoreTest, AFailingMigrationRollsBackCompletely) {
  TempDir dir;
  const std::vector<Migration> current = SchemaMigrations();
  const int version = current.back().version;
  ASSERT_TRUE(Store::OpenWithMigrationsForTest(dir / "q.db", current).ok());
  std::vector<Migration> broken = current;
  broken.push_back({version + 1, "CREATE TABLE half (a); THIS IS NOT SQL;"});
  auto store = Store::OpenWithMigrationsForTest(dir / "q.db", broken);
  EXPECT_FALSE(store.ok());
  EXPECT_EQ(UserVersion(dir / "q.db"), version);
  std::vector<Migration> fixed = current;
  fixed.push_back({version + 1, "CREATE TABLE half (a);"});
  EXPECT_TRUE(Store::OpenWithMigrationsForTest(dir / "q.db", fixed).ok());  // "half" rolled back
}

TEST(StoreTest, ADatabaseFromANewerVersionIsRefused) {
  TempDir dir;
  std::vector<Migration> future = SchemaMigrations();
  future.push_back({99, "SELECT 1;"});
  ASSERT_TRUE(Store::OpenWithMigrationsForTest(dir / "q.db", future).ok());
  auto store = Store::Open(dir / "q.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), kBgEDatabaseCorrupt);
}

TEST(StoreTest, AFileThatIsNotADatabaseIsRefused) {
  TempDir dir;
  {
    std::ofstream garbage(dir / "q.db");
    for (int i = 0; i < 1000; ++i) garbage << "this is not an sqlite database ";
  }
  auto store = Store::Open(dir / "q.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), kBgEDatabaseCorrupt);
}

}  // namespace
}  // namespace openbits::store
