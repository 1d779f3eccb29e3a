// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Local faults under a running transfer: a full disk (a tmpfs the test
// mounts, 1 MiB), the destination directory removed, the temporary file
// deleted. The job ends TRANSIENT_ERROR or ERROR with context LOCAL_FILE,
// never leaves a partial file at its final name, and resumes once the
// cause is gone. Mounting needs root: skipped otherwise.

#include <unistd.h>

#include <cstdio>
#include <set>
#include <sys/mount.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "openbits/openbits.h"

#include "tests/support/fault_server.h"
#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::Fault;
using testing::FaultServer;
using testing::TempDir;

class DiskFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ManagerOptions options;
    options.state_directory = state_ / "queue";
    options.key_directory = state_ / "keys";
    options.stall_timeout = std::chrono::seconds(1);
    auto m = Manager::Open(options);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
  }
  void TearDown() override {
    manager_.reset();
    if (mounted_) ::umount2(small_.path().c_str(), MNT_DETACH);
  }

  // Mounts a tmpfs of `bytes` on small_; false (test skipped) if impossible.
  bool MountSmall(std::uint64_t bytes) {
    if (::geteuid() != 0) return false;
    const std::string data = "size=" + std::to_string(bytes) + ",mode=0755";
    mounted_ = ::mount("tmpfs", small_.path().c_str(), "tmpfs", 0, data.c_str()) == 0;
    return mounted_;
  }

  std::shared_ptr<Job> NewJob(const std::string& url, const std::string& local) {
    auto job = *manager_->CreateJob("disk");
    EXPECT_TRUE(job->SetPriority(JobPriority::kForeground).ok());
    EXPECT_TRUE(job->AddFile(url, local).ok());
    return job;
  }

  // The job ends TRANSIENT_ERROR with ERROR_DISK_FULL on the local file.
  static void ExpectDiskFull(Job& job, testing::JobWatcher& watcher) {
    ASSERT_EQ(watcher.WaitForOutcome(job), JobState::kTransientError);
    auto error = job.GetError();
    ASSERT_TRUE(error.ok());
    EXPECT_EQ(error->code, kEDiskFull);
    EXPECT_EQ(error->context, ErrorContext::kLocalFile);
  }

  static std::string DescribeError(Job& job) {
    auto error = job.GetError();
    if (!error.ok()) return "no error";
    return error->description + " (code " + std::to_string(error->code) + ", after " +
           std::to_string(job.GetProgress().files_transferred) + " files)";
  }

  TempDir state_;
  TempDir small_;
  TempDir dest_;
  bool mounted_ = false;
  std::unique_ptr<Manager> manager_;
};

TEST_F(DiskFaultTest, AFullDiskIsTransientAndTheJobResumesWhenSpaceReturns) {
  if (!MountSmall(1 << 20)) GTEST_SKIP() << "cannot mount a tmpfs (needs root)";
  FaultServer server(Fault::kNone, {3 << 20, 0, 0});
  const std::string local = small_ / "big.bin";
  auto job = NewJob(server.Url(), local);
  auto watcher = testing::Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_NO_FATAL_FAILURE(ExpectDiskFull(*job, *watcher));
  EXPECT_FALSE(testing::FileExists(local));  // nothing at the final name
  const std::uint64_t kept = job->GetProgress().bytes_transferred;
  EXPECT_GT(kept, 0u);

  // Space returns: the job resumes where it stopped and completes.
  ASSERT_EQ(::mount("tmpfs", small_.path().c_str(), "tmpfs", MS_REMOUNT, "size=16777216"), 0);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  const auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].range, "bytes=" + std::to_string(kept) + "-");
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(local), testing::Sha256Of(server.Body(0)));
}

TEST_F(DiskFaultTest, SmallFilesFillingTheDiskAreFetchedAgainWhenSpaceReturns) {
  // One file after another: their bytes are written on the write thread,
  // many files at once, so a full disk shows when their batch is synced.
  if (!MountSmall(1 << 20)) GTEST_SKIP() << "cannot mount a tmpfs (needs root)";
  FaultServer server(Fault::kNone, {16 * 1024, 0, 0});
  auto job = *manager_->CreateJob("many");
  ASSERT_TRUE(job->SetPriority(JobPriority::kForeground).ok());
  constexpr int kFiles = 100;  // 1.6 MiB
  for (int i = 0; i < kFiles; ++i) {
    ASSERT_TRUE(
        job->AddFile(server.Url("/f" + std::to_string(i)), small_ / ("f" + std::to_string(i)))
            .ok());
  }
  auto watcher = testing::Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_NO_FATAL_FAILURE(ExpectDiskFull(*job, *watcher));
  EXPECT_LT(job->GetProgress().files_transferred, static_cast<std::uint32_t>(kFiles));

  ASSERT_EQ(::mount("tmpfs", small_.path().c_str(), "tmpfs", MS_REMOUNT, "size=16777216"), 0);
  ASSERT_TRUE(job->Resume().ok());
  // A file that failed after the job's first error is fetched again, not
  // reported as an error of this run.
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred) << DescribeError(*job);
  ASSERT_TRUE(job->Complete().ok());
  const std::string expected = testing::Sha256Of(server.Body(0));
  for (int i = 0; i < kFiles; ++i) {
    EXPECT_EQ(testing::Sha256OfFile(small_ / ("f" + std::to_string(i))), expected) << i;
  }
}

TEST_F(DiskFaultTest, TheDestinationDirectoryRemovedMidJobIsAFatalLocalError) {
  FaultServer server(Fault::kStall, {1 << 20, -1, 0});
  const std::string dir = dest_ / "sub";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  auto job = NewJob(server.Url(), dir + "/file.bin");
  auto watcher = testing::Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_TRUE(
      watcher->WaitUntil(*job, [](Job& j) { return j.GetProgress().bytes_transferred > 0; }));
  std::string out;
  ASSERT_EQ(testing::RunProgram({"/bin/rm", "-rf", dir}, &out), 0);
  ASSERT_TRUE(job->Suspend().ok());  // checkpoints into the deleted directory
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kError);
  auto error = job->GetError();
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->context, ErrorContext::kLocalFile);
  EXPECT_EQ(error->code, kEPathNotFound);
  EXPECT_FALSE(testing::FileExists(dir));
  ASSERT_TRUE(job->Cancel().ok());
}

TEST_F(DiskFaultTest, ATemporaryFileDeletedUnderARunningTransferIsFetchedAgain) {
  FaultServer server(Fault::kStall, {1 << 20, 1, 0});
  const std::string local = dest_ / "file.bin";
  auto job = NewJob(server.Url(), local);
  auto watcher = testing::Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_TRUE(
      watcher->WaitUntil(*job, [](Job& j) { return j.GetProgress().bytes_transferred > 0; }));
  const std::string temp = job->EnumFiles()[0]->GetTemporaryName();
  ASSERT_FALSE(temp.empty());
  ASSERT_EQ(::unlink(temp.c_str()), 0);
  ASSERT_TRUE(job->Suspend().ok());
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  const auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].range, "bytes=0-");  // from the start: the bytes were gone
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(local), testing::Sha256Of(server.Body(0)));
}

TEST_F(DiskFaultTest, ADestinationMadeReadOnlyMidJobIsAFatalLocalErrorUntilItIsWritable) {
  if (!MountSmall(16 << 20)) GTEST_SKIP() << "cannot mount a tmpfs (needs root)";
  FaultServer server(Fault::kStall, {1 << 20, 1, 0});
  const std::string local = small_ / "file.bin";
  auto job = NewJob(server.Url(), local);
  auto watcher = testing::Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_TRUE(
      watcher->WaitUntil(*job, [](Job& j) { return j.GetProgress().bytes_transferred > 0; }));
  ASSERT_TRUE(job->Suspend().ok());  // the temporary file is closed
  const std::uint64_t kept = job->GetProgress().bytes_transferred;
  // Read-only for root too (a mode change would not stop root).
  ASSERT_EQ(::mount("tmpfs", small_.path().c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr), 0);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kError);
  auto error = job->GetError();
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->code, kEAccessDenied);
  EXPECT_EQ(error->context, ErrorContext::kLocalFile);
  EXPECT_EQ(error->local_name, local);
  EXPECT_FALSE(testing::FileExists(local));
  EXPECT_EQ(job->GetProgress().bytes_transferred, kept);  // nothing forgotten

  // Writable again: the user resumes and the job continues where it stopped.
  ASSERT_EQ(::mount("tmpfs", small_.path().c_str(), "tmpfs", MS_REMOUNT, nullptr), 0);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  const auto requests = server.Requests();
  ASSERT_GE(requests.size(), 2u);
  EXPECT_EQ(requests.back().range, "bytes=" + std::to_string(kept) + "-");
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(local), testing::Sha256Of(server.Body(0)));
}

// The queue's own disk full: operations fail with ERROR_DISK_FULL, and
// nothing that was acknowledged is lost, then or after a restart.
TEST_F(DiskFaultTest, AFullQueueDiskFailsOperationsClearlyAndLosesNothing) {
  if (!MountSmall(2 << 20)) GTEST_SKIP() << "cannot mount a tmpfs (needs root)";
  manager_.reset();
  ManagerOptions options;
  options.state_directory = small_ / "queue";
  options.key_directory = state_ / "keys";
  auto opened = Manager::Open(options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  manager_ = std::move(*opened);

  std::set<Guid> acknowledged;
  for (int i = 0; i < 20; ++i) {
    auto created = manager_->CreateJob("before-" + std::to_string(i));
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    ASSERT_TRUE(
        (*created)
            ->AddFile("http://127.0.0.1:9/f" + std::to_string(i), dest_ / ("f" + std::to_string(i)))
            .ok());
    acknowledged.insert((*created)->GetId());
  }
  // Fill what is left of the disk.
  const std::string filler = small_ / "filler";
  {
    std::FILE* f = std::fopen(filler.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    const std::string block(64 << 10, 'x');
    while (std::fwrite(block.data(), 1, block.size(), f) == block.size()) {
    }
    std::fclose(f);
  }
  // The journal may reuse space it already holds, so some writes still
  // succeed; creating jobs until one fails ends within the disk's size.
  std::shared_ptr<Job> last;
  bool refused_description = false;
  Status failure;
  for (int i = 0; i < 20000 && failure.ok(); ++i) {
    auto created = manager_->CreateJob("full-" + std::to_string(i));
    if (!created.ok()) {
      failure = created.status();
      break;
    }
    last = *created;
    acknowledged.insert(last->GetId());
    failure = last->SetDescription(std::string(2000, 'd'));
    refused_description = !failure.ok();
  }
  ASSERT_FALSE(failure.ok()) << "the disk never filled";
  EXPECT_EQ(failure.code(), kEDiskFull) << failure.ToString();
  std::printf("the queue's disk filled after %zu jobs: %s\n", acknowledged.size(),
              failure.ToString().c_str());
  // A refused change is not half made: the job still shows the old value.
  if (refused_description) {
    EXPECT_EQ(last->GetDescription(), "");
  }

  auto ids = [&] {
    std::set<Guid> listed;
    auto jobs = manager_->EnumJobs();
    EXPECT_TRUE(jobs.ok());
    if (jobs.ok()) {
      for (auto& j : *jobs) listed.insert(j->GetId());
    }
    return listed;
  };
  EXPECT_EQ(ids(), acknowledged);

  // Space returns: the queue works again, and a restart finds every job.
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  auto after = manager_->CreateJob("after");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  acknowledged.insert((*after)->GetId());
  manager_.reset();
  opened = Manager::Open(options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  manager_ = std::move(*opened);
  EXPECT_EQ(ids(), acknowledged);
}

}  // namespace
}  // namespace openbits
