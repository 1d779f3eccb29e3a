// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The finished-file group commit (engine/durability.h) against a fake sink
// and fake disk operations: when batches start, that a completion is
// committed only after its sync, and what a failed write, sync or commit,
// and a shutdown with a batch in flight, do to each file.

#include "engine/durability.h"

#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <gtest/gtest.h>

#include "openbits/hresult.h"

namespace openbits::engine {
namespace {

struct Settlement {
  std::uint32_t index;
  bool wanted;
  SettledFile how;
};

// Records what the batcher does, in the order it happens (the sync runs on
// the sync thread, the rest on the test's thread).
class FakeSink final : public CompletionSink {
 public:
  bool Wanted(const FinishedFile& file) override { return unwanted.count(file.file.index) == 0; }
  Status Commit(const std::vector<const FinishedFile*>& files) override {
    std::vector<std::uint32_t> indexes;
    for (const FinishedFile* f : files) indexes.push_back(f->file.index);
    std::lock_guard lock(mutex);
    events.push_back("commit");
    commits.push_back(indexes);
    return commit_status;
  }
  void Settled(const FinishedFile& file, bool wanted, const SettledFile& how) override {
    std::lock_guard lock(mutex);
    events.push_back("settled " + std::to_string(file.file.index));
    settled.push_back(Settlement{file.file.index, wanted, how});
  }
  std::size_t settled_count() {
    std::lock_guard lock(mutex);
    return settled.size();
  }
  const Settlement* Of(std::uint32_t index) {
    for (const Settlement& s : settled) {
      if (s.index == index) return &s;
    }
    return nullptr;
  }

  std::mutex mutex;
  std::set<std::uint32_t> unwanted;
  Status commit_status;
  std::vector<std::string> events;
  std::vector<std::vector<std::uint32_t>> commits;
  std::vector<Settlement> settled;
};

class DurabilityTest : public ::testing::Test {
 protected:
  DurabilityTest() {
    disk_.sync = [this](const std::vector<const platform::ScopedFd*>& fds) {
      std::vector<Status> out;
      std::lock_guard lock(sink_.mutex);
      sink_.events.push_back("sync " + std::to_string(fds.size()));
      for (const platform::ScopedFd* fd : fds) {
        out.push_back(failing_syncs_.count(fd) != 0 ? Status(kEFail, "the disk failed")
                                                    : Status::Ok());
      }
      ++sync_calls_;
      return out;
    };
    disk_.prepare = [](const platform::ScopedFd&, const store::FileRecord&) {
      return Status::Ok();
    };
  }

  std::unique_ptr<FinishedFileBatcher> MakeBatcher(BatchPolicy policy) {
    return std::make_unique<FinishedFileBatcher>(io_, writes_, sync_pool_, sink_, disk_, policy);
  }

  FinishedFile File(std::uint32_t index) {
    FinishedFile f;
    f.target = std::make_shared<WriteTarget>();
    f.target->fd = std::make_shared<platform::ScopedFd>();
    f.target->end = 1000 + index;
    f.file.index = index;
    f.file.completed = true;
    return f;
  }

  // Runs the engine side until `count` files are settled (false after 30 s).
  bool RunUntilSettled(std::size_t count) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (sink_.settled_count() < count) {
      if (std::chrono::steady_clock::now() > give_up) return false;
      io_.run_one_for(std::chrono::milliseconds(10));
    }
    return true;
  }

  boost::asio::io_context io_;
  // Keeps run_one_for waiting for the sync thread's handler instead of
  // returning at once when nothing is queued yet.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  WriteQueue writes_;
  boost::asio::thread_pool sync_pool_{1};
  FakeSink sink_;
  BatchDiskOps disk_;
  std::set<const platform::ScopedFd*> failing_syncs_;
  int sync_calls_ = 0;  // written on the sync thread, read after it settled
};

constexpr BatchPolicy kNeverByTime{3, std::chrono::hours(1)};

TEST_F(DurabilityTest, FilesWaitUntilABatchIsFullThenSyncTogether) {
  auto batcher = MakeBatcher(kNeverByTime);
  batcher->Add(File(0));
  batcher->Add(File(1));
  io_.poll();
  EXPECT_EQ(batcher->waiting(), 2u);
  batcher->Add(File(2));
  ASSERT_TRUE(RunUntilSettled(3));
  EXPECT_EQ(sync_calls_, 1);  // one sync for the three, not one per file
  ASSERT_EQ(sink_.commits.size(), 1u);
  EXPECT_EQ(sink_.commits[0], (std::vector<std::uint32_t>{0, 1, 2}));
  EXPECT_EQ(batcher->waiting(), 0u);
}

TEST_F(DurabilityTest, TheWindowStartsABatchOfFewFiles) {
  auto batcher = MakeBatcher(BatchPolicy{64, std::chrono::milliseconds(5)});
  batcher->Add(File(0));
  ASSERT_TRUE(RunUntilSettled(1));
  EXPECT_TRUE(sink_.Of(0)->how.status.ok());
}

TEST_F(DurabilityTest, HurryStartsABatchAtOnce) {
  auto batcher = MakeBatcher(kNeverByTime);
  batcher->Add(File(7));
  batcher->Hurry();
  ASSERT_TRUE(RunUntilSettled(1));
  EXPECT_TRUE(sink_.Of(7)->how.status.ok());
  EXPECT_TRUE(sink_.Of(7)->how.published);
}

TEST_F(DurabilityTest, ACompletionIsCommittedOnlyAfterItsSync) {
  auto batcher = MakeBatcher(kNeverByTime);
  for (std::uint32_t i = 0; i < 3; ++i) batcher->Add(File(i));
  ASSERT_TRUE(RunUntilSettled(3));
  EXPECT_EQ(sink_.events,
            (std::vector<std::string>{"sync 3", "commit", "settled 0", "settled 1", "settled 2"}));
}

TEST_F(DurabilityTest, AFailedSyncIsNotCommittedAndKeepsNoByte) {
  auto batcher = MakeBatcher(kNeverByTime);
  FinishedFile bad = File(1);
  failing_syncs_.insert(bad.target->fd.get());
  batcher->Add(File(0));
  batcher->Add(std::move(bad));
  batcher->Add(File(2));
  ASSERT_TRUE(RunUntilSettled(3));
  ASSERT_EQ(sink_.commits.size(), 1u);
  EXPECT_EQ(sink_.commits[0], (std::vector<std::uint32_t>{0, 2}));
  const Settlement* failed = sink_.Of(1);
  EXPECT_FALSE(failed->how.status.ok());
  EXPECT_EQ(failed->how.kept, 0u);
  EXPECT_FALSE(failed->how.published);
  EXPECT_TRUE(sink_.Of(0)->how.status.ok());
}

TEST_F(DurabilityTest, AFailedWriteKeepsTheBytesBeforeIt) {
  auto batcher = MakeBatcher(kNeverByTime);
  FinishedFile bad = File(0);
  bad.target->error = Status(kEFail, "no space left on the device");
  bad.target->end = 4096;
  batcher->Add(std::move(bad));
  batcher->Hurry();
  ASSERT_TRUE(RunUntilSettled(1));
  EXPECT_TRUE(sink_.commits.empty());
  EXPECT_EQ(sink_.Of(0)->how.status.message(), "no space left on the device");
  EXPECT_EQ(sink_.Of(0)->how.kept, 4096u);  // synced, so still claimable
}

TEST_F(DurabilityTest, AFailedCommitFailsEveryDurableFileOfTheBatch) {
  auto batcher = MakeBatcher(kNeverByTime);
  sink_.commit_status = Status(kBgEDatabaseCorrupt, "the commit failed");
  for (std::uint32_t i = 0; i < 3; ++i) batcher->Add(File(i));
  ASSERT_TRUE(RunUntilSettled(3));
  for (std::uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(sink_.Of(i)->how.status.code(), kBgEDatabaseCorrupt);
    EXPECT_FALSE(sink_.Of(i)->how.published);
    EXPECT_EQ(sink_.Of(i)->how.kept, 0u);
  }
}

TEST_F(DurabilityTest, AFileItsJobNoLongerWantsIsSyncedButNotCommitted) {
  auto batcher = MakeBatcher(kNeverByTime);
  sink_.unwanted.insert(1);
  for (std::uint32_t i = 0; i < 3; ++i) batcher->Add(File(i));
  ASSERT_TRUE(RunUntilSettled(3));
  EXPECT_EQ(sink_.commits[0], (std::vector<std::uint32_t>{0, 2}));
  EXPECT_FALSE(sink_.Of(1)->wanted);
}

TEST_F(DurabilityTest, FlushSettlesTheBatchInFlightAndTheWaitingFilesOnce) {
  auto batcher = MakeBatcher(kNeverByTime);
  batcher->Add(File(0));
  batcher->Hurry();  // in flight now
  batcher->Add(File(1));
  batcher->Add(File(2));  // waiting for the next batch
  batcher->Flush();       // on this thread, without the engine loop
  EXPECT_EQ(sink_.settled_count(), 3u);
  EXPECT_EQ(batcher->waiting(), 0u);
  io_.poll();  // the in-flight batch's own handler finds it settled
  EXPECT_EQ(sink_.settled_count(), 3u);
  batcher->Add(File(3));  // after a flush no batch starts by itself
  batcher->Hurry();
  io_.poll();
  EXPECT_EQ(sink_.settled_count(), 3u);
  EXPECT_EQ(batcher->waiting(), 1u);
}

}  // namespace
}  // namespace openbits::engine
