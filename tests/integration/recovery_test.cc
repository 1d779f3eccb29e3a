// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// A crash in the middle of Complete() or Cancel() is finished on the next
// open. The crash is simulated by writing the queue's state as it is at that
// instant (pending action recorded, files partly renamed) with the store
// API, then opening the queue.

#include <cstdio>

#include <gtest/gtest.h>

#include "openbits/openbits.h"

#include "store/store.h"
#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::FileExists;
using testing::ListDirectory;
using testing::NginxServer;
using testing::Sha256OfFile;
using testing::TempDir;

class RecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok()) << server_.error();
    sha_a_ = testing::WriteTestFile(server_.root() + "/a.bin", 70000, 1);
    sha_b_ = testing::WriteTestFile(server_.root() + "/b.bin", 90000, 2);
    options_.state_directory = state_ / "queue";
    options_.key_directory = state_ / "keys";
  }

  // Downloads a.bin and b.bin into a TRANSFERRED job and closes the queue.
  Guid TransferredJob() {
    auto manager = Manager::Open(options_);
    EXPECT_TRUE(manager.ok());
    auto job = *(*manager)->CreateJob("recover");
    EXPECT_TRUE(job->SetPriority(JobPriority::kForeground).ok());
    EXPECT_TRUE(job->AddFile(server_.Url("/a.bin"), dest_ / "a.bin").ok());
    EXPECT_TRUE(job->AddFile(server_.Url("/b.bin"), dest_ / "b.bin").ok());
    auto watcher = testing::Watch(*job);
    EXPECT_TRUE(job->Resume().ok());
    EXPECT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
    return job->GetId();
  }

  // Rewrites the job as a crash at that moment would have left it.
  void CrashState(const Guid& id, store::PendingAction action, bool first_renamed) {
    auto store = store::Store::Open(state_ / "queue/queue.db");
    ASSERT_TRUE(store.ok());
    auto jobs = (*store)->LoadJobs();
    ASSERT_TRUE(jobs.ok());
    ASSERT_EQ(jobs->size(), 1u);
    store::JobRecord job = (*jobs)[0];
    ASSERT_EQ(job.id, id);
    job.pending = action;
    ASSERT_TRUE((*store)->UpdateJob(job).ok());
    if (first_renamed) {
      store::FileRecord& f = job.files[0];
      ASSERT_EQ(::rename((dest_ / f.temp_name).c_str(), (dest_ / "a.bin").c_str()), 0);
      f.renamed = true;
      ASSERT_TRUE((*store)->UpdateFile(id, f).ok());
    }
  }

  NginxServer server_;
  TempDir state_;
  TempDir dest_;
  ManagerOptions options_;
  std::string sha_a_, sha_b_;
};

TEST_F(RecoveryTest, AnInterruptedCompleteIsFinishedOnOpen) {
  const Guid id = TransferredJob();
  CrashState(id, store::PendingAction::kComplete, /*first_renamed=*/true);
  auto manager = Manager::Open(options_);
  ASSERT_TRUE(manager.ok());
  EXPECT_EQ((*manager)->GetJob(id).status().code(), kBgENotFound);
  EXPECT_EQ(ListDirectory(dest_.path()), (std::vector<std::string>{"a.bin", "b.bin"}));
  EXPECT_EQ(Sha256OfFile(dest_ / "a.bin"), sha_a_);
  EXPECT_EQ(Sha256OfFile(dest_ / "b.bin"), sha_b_);
}

TEST_F(RecoveryTest, AnInterruptedCancelIsFinishedOnOpen) {
  const Guid id = TransferredJob();
  CrashState(id, store::PendingAction::kCancel, /*first_renamed=*/false);
  auto manager = Manager::Open(options_);
  ASSERT_TRUE(manager.ok());
  EXPECT_EQ((*manager)->GetJob(id).status().code(), kBgENotFound);
  EXPECT_TRUE(ListDirectory(dest_.path()).empty());
}

TEST_F(RecoveryTest, ATruncatedTemporaryFileLowersTheCheckpointAndIsFetchedAgain) {
  const Guid id = TransferredJob();
  std::string temp;
  {
    auto store = store::Store::Open(state_ / "queue/queue.db");
    ASSERT_TRUE(store.ok());
    temp = dest_ / (*(*store)->LoadJobs())[0].files[1].temp_name;
  }
  ASSERT_EQ(::truncate(temp.c_str(), 1000), 0);  // lost data (disk trouble)
  auto manager = Manager::Open(options_);
  ASSERT_TRUE(manager.ok());
  auto job = *(*manager)->GetJob(id);
  auto watcher = testing::Watch(*job);
  // Requeued by itself: the missing bytes are fetched again.
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(Sha256OfFile(dest_ / "b.bin"), sha_b_);
  auto log = server_.AccessLogFor("/b.bin");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].range, "bytes=1000-");
}

TEST_F(RecoveryTest, BytesWrittenBeforeTheFirstCheckpointAreFetchedAgainIntoTheSameFile) {
  const Guid id = TransferredJob();
  std::string temp;
  {
    // A crash after the file was created and written to, before its first
    // checkpoint: the store knows the name and no bytes.
    auto store = store::Store::Open(state_ / "queue/queue.db");
    ASSERT_TRUE(store.ok());
    store::JobRecord job = (*(*store)->LoadJobs())[0];
    job.state = JobState::kSuspended;
    ASSERT_TRUE((*store)->UpdateJob(job).ok());
    store::FileRecord& f = job.files[1];
    f.bytes_transferred = 0;
    f.completed = false;
    ASSERT_TRUE((*store)->UpdateFile(id, f).ok());
    temp = dest_ / f.temp_name;
  }
  {
    // Longer than the file will be: only a restart from a truncated file
    // gives the right bytes.
    std::FILE* garbage = std::fopen(temp.c_str(), "ab");
    ASSERT_NE(garbage, nullptr);
    EXPECT_GE(std::fputs("never checkpointed", garbage), 0);
    EXPECT_EQ(std::fclose(garbage), 0);
  }
  auto manager = Manager::Open(options_);
  ASSERT_TRUE(manager.ok());
  auto job = *(*manager)->GetJob(id);
  auto watcher = testing::Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(Sha256OfFile(dest_ / "b.bin"), sha_b_);
  EXPECT_EQ(ListDirectory(dest_.path()), (std::vector<std::string>{"a.bin", "b.bin"}));
  auto log = server_.AccessLogFor("/b.bin");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].range, log[0].range);  // from the start again
}

}  // namespace
}  // namespace openbits
