// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Local faults under a running transfer: a full disk (a tmpfs the test
// mounts, 1 MiB), the destination directory removed, the temporary file
// deleted. The job ends TRANSIENT_ERROR or ERROR with context LOCAL_FILE,
// never leaves a partial file at its final name, and resumes once the
// cause is gone. Mounting needs root: skipped otherwise.

#include <unistd.h>

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
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransientError);
  auto error = job->GetError();
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->code, kEDiskFull);
  EXPECT_EQ(error->context, ErrorContext::kLocalFile);
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

}  // namespace
}  // namespace openbits
