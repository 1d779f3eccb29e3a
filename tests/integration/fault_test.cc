// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Lying and broken servers (tests/support/fault_server.h): for every fault
// the job ends with the correct file or with the documented error, and a
// file at its final name never holds wrong bytes (docs/reliability.md).

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

class FaultTest : public ::testing::Test {
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

  std::shared_ptr<Job> NewJob(const std::string& url, const std::string& name = "file.bin") {
    auto job = *manager_->CreateJob("fault");
    EXPECT_TRUE(job->SetPriority(JobPriority::kForeground).ok());
    EXPECT_TRUE(job->AddFile(url, dest_ / name).ok());
    return job;
  }
  std::string Dest(const std::string& name = "file.bin") const { return dest_ / name; }

  // Runs `job` until TRANSFERRED or ERROR, resuming it after each transient
  // error (as an application may, instead of waiting for the retry delay),
  // at most `resumes` times. Records every error code met.
  JobState Drive(Job& job, int resumes = 4) {
    auto watcher = testing::Watch(job);
    EXPECT_TRUE(job.Resume().ok());
    for (;;) {
      const JobState state = watcher->WaitForOutcome(job);
      if (state != JobState::kTransientError) return state;
      errors_.push_back(job.GetError()->code);
      if (resumes-- == 0) return state;
      EXPECT_TRUE(job.Resume().ok());
    }
  }

  // Completes the job and checks the published file is exactly `expected`.
  void ExpectPublished(Job& job, const std::string& expected) {
    ASSERT_TRUE(job.Complete().ok());
    EXPECT_EQ(testing::FileSizeOf(Dest()), expected.size());
    EXPECT_EQ(testing::Sha256OfFile(Dest()), testing::Sha256Of(expected));
  }

  // The byte offset a request resumed from ("bytes=N-"), or -1.
  static long long ResumeOffset(const FaultServer::Request& r) {
    if (r.range.rfind("bytes=", 0) != 0) return -1;
    return std::stoll(r.range.substr(6));
  }

  TempDir state_;
  TempDir dest_;
  std::unique_ptr<Manager> manager_;
  std::vector<HResult> errors_;
};

TEST_F(FaultTest, AResetMidBodyIsTransientAndTheTransferResumes) {
  FaultServer server(Fault::kResetMidBody, {});
  auto job = NewJob(server.Url());
  ASSERT_EQ(Drive(*job), JobState::kTransferred);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0], kWinHttpConnectionError);
  const auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_GT(ResumeOffset(requests[1]), 0);  // resumed, not restarted
  EXPECT_EQ(requests[1].if_range, "\"v0\"");
  ExpectPublished(*job, server.Body(0));
}

TEST_F(FaultTest, AKeepAliveConnectionTheServerClosedIsReplacedForTheNextFile) {
  // The server promises keep-alive but closes every connection after its
  // response: each next file finds its idle connection dead (or dying) and
  // gets a new one, without an error. (The engine keeps idle connections
  // registered with its reactor; one closed meanwhile leaves it on close.)
  FaultServer server(Fault::kBrokenKeepAlive, {64 << 10, -1, 0});
  auto job = *manager_->CreateJob("keep-alive");
  ASSERT_TRUE(job->SetPriority(JobPriority::kForeground).ok());
  constexpr int kFiles = 6;
  for (int i = 0; i < kFiles; ++i) {
    const std::string name = "f" + std::to_string(i);
    ASSERT_TRUE(job->AddFile(server.Url("/" + name), dest_ / name).ok());
  }
  ASSERT_EQ(Drive(*job, 0), JobState::kTransferred);
  EXPECT_TRUE(errors_.empty());
  EXPECT_EQ(server.Requests().size(), static_cast<std::size_t>(kFiles));
  ASSERT_TRUE(job->Complete().ok());
  for (int i = 0; i < kFiles; ++i) {
    EXPECT_EQ(testing::Sha256OfFile(dest_ / ("f" + std::to_string(i))),
              testing::Sha256Of(server.Body(0)));
  }
}

TEST_F(FaultTest, AStalledConnectionTimesOutAndTheTransferResumes) {
  FaultServer server(Fault::kStall, {});
  auto job = NewJob(server.Url());
  ASSERT_EQ(Drive(*job), JobState::kTransferred);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0], kWinHttpTimeout);
  EXPECT_GT(ResumeOffset(server.Requests().at(1)), 0);
  ExpectPublished(*job, server.Body(0));
}

TEST_F(FaultTest, ABodyShorterThanContentLengthIsTransient) {
  FaultServer server(Fault::kCloseEarly, {});
  auto job = NewJob(server.Url());
  ASSERT_EQ(Drive(*job), JobState::kTransferred);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0], kWinHttpConnectionError);
  EXPECT_GT(ResumeOffset(server.Requests().at(1)), 0);
  ExpectPublished(*job, server.Body(0));
}

TEST_F(FaultTest, AWrongContentRangeIsNeverWrittenAsData) {
  FaultServer server(Fault::kWrongContentRange, {});
  auto job = NewJob(server.Url());
  ASSERT_EQ(Drive(*job), JobState::kTransferred);
  ASSERT_EQ(errors_.size(), 2u);  // the reset, then the lie
  EXPECT_EQ(errors_[1], kBgEInvalidServerResponse);
  ExpectPublished(*job, server.Body(0));
}

TEST_F(FaultTest, AContentRangeStartingBeforeTheOffsetIsPlacedByItsHeader) {
  // Honest bytes that overlap what the file holds: the overlap is skipped,
  // the rest appended, and the job does not retry for ever.
  FaultServer server(Fault::kEarlierContentRange, {});
  auto job = NewJob(server.Url());
  ASSERT_EQ(Drive(*job), JobState::kTransferred);
  EXPECT_EQ(errors_.size(), 1u);  // only the reset
  const auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_GT(ResumeOffset(requests[1]), 1000);
  ExpectPublished(*job, server.Body(0));
}

TEST_F(FaultTest, A200ToARangeRequestRestartsTheFileWithThatBody) {
  FaultServer server(Fault::kIgnoreRange, {});
  auto job = NewJob(server.Url());
  ASSERT_EQ(Drive(*job), JobState::kTransferred);
  EXPECT_EQ(errors_.size(), 1u);  // only the reset
  const auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_GT(ResumeOffset(requests[1]), 0);
  ExpectPublished(*job, server.Body(0));
}

TEST_F(FaultTest, AChangedEtagRestartsTheFileWithTheNewVersion) {
  FaultServer server(Fault::kChangeEtag, {});
  auto job = NewJob(server.Url());
  ASSERT_EQ(Drive(*job), JobState::kTransferred);
  EXPECT_EQ(server.Requests().at(1).if_range, "\"v0\"");
  ExpectPublished(*job, server.Body(1));  // never half of each version
}

TEST_F(FaultTest, AChangedLastModifiedRestartsTheFileWithTheNewVersion) {
  FaultServer server(Fault::kChangeLastModified, {});
  auto job = NewJob(server.Url());
  ASSERT_EQ(Drive(*job), JobState::kTransferred);
  EXPECT_EQ(server.Requests().at(1).if_range, "Mon, 02 Jan 2023 10:00:00 GMT");
  ExpectPublished(*job, server.Body(1));
}

TEST_F(FaultTest, BytesBeyondContentLengthAreNotWritten) {
  FaultServer server(Fault::kLongerBody, {});
  auto job = NewJob(server.Url());
  ASSERT_EQ(Drive(*job), JobState::kTransferred);
  ExpectPublished(*job, server.Body(0));
}

TEST_F(FaultTest, AnAbsurdContentLengthIsNotBelieved) {
  FaultServer server(Fault::kAbsurdLength, {});
  auto job = NewJob(server.Url());
  ASSERT_EQ(Drive(*job), JobState::kTransferred);
  EXPECT_GE(errors_.size(), 1u);
  ExpectPublished(*job, server.Body(0));
}

TEST_F(FaultTest, SlowHeadersStillMakeProgress) {
  FaultServer server(Fault::kSlowHeaders, {});
  auto job = NewJob(server.Url());
  ASSERT_EQ(Drive(*job), JobState::kTransferred);
  EXPECT_TRUE(errors_.empty());
  ExpectPublished(*job, server.Body(0));
}

// The stall timer counts body bytes only: header bytes trickling in for
// ever do not keep a transfer slot.
TEST_F(FaultTest, HeadersThatNeverEndAreAStall) {
  FaultServer server(Fault::kEndlessHeaders, {});
  auto job = NewJob(server.Url());
  ASSERT_EQ(Drive(*job), JobState::kTransferred);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0], kWinHttpTimeout);
  ExpectPublished(*job, server.Body(0));
}

TEST_F(FaultTest, EndlessRedirectsAndRedirectLoopsAreFatal) {
  for (Fault fault : {Fault::kEndlessRedirect, Fault::kRedirectLoop}) {
    FaultServer server(fault, {1 << 16, -1, 0});
    auto job = NewJob(server.Url("/a"), "redirected.bin");
    ASSERT_EQ(Drive(*job), JobState::kError);
    EXPECT_EQ(job->GetError()->code, kWinHttpRedirectFailed);
    EXPECT_LE(server.Requests().size(), 12u);  // bounded
    EXPECT_FALSE(testing::FileExists(Dest("redirected.bin")));
    ASSERT_TRUE(job->Cancel().ok());
  }
}

TEST_F(FaultTest, AnEncodedBodyIsNotTakenForTheFile) {
  {
    FaultServer server(Fault::kGzip, {});
    auto job = NewJob(server.Url());
    ASSERT_EQ(Drive(*job), JobState::kTransferred);
    ASSERT_EQ(errors_.size(), 1u);
    EXPECT_EQ(errors_[0], kBgEInvalidServerResponse);
    ExpectPublished(*job, server.Body(0));
  }
  // A server that always encodes never gets its bytes published.
  FaultServer always(Fault::kGzip, {1 << 16, -1, 0});
  auto job = NewJob(always.Url(), "always.bin");
  EXPECT_EQ(Drive(*job, 2), JobState::kTransientError);
  EXPECT_EQ(job->GetProgress().bytes_transferred, 0u);
  EXPECT_FALSE(testing::FileExists(Dest("always.bin")));
  ASSERT_TRUE(job->Cancel().ok());
}

TEST_F(FaultTest, A503IsTransient) {
  FaultServer server(Fault::k503, {});
  auto job = NewJob(server.Url());
  ASSERT_EQ(Drive(*job), JobState::kTransferred);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0], HttpErrorCode(503));
  ExpectPublished(*job, server.Body(0));
}

TEST_F(FaultTest, RetryAfterHoldsTheAutomaticRetryBack) {
  FaultServer server(Fault::k503RetryAfter, {1 << 16, 1, 7});
  auto job = NewJob(server.Url());
  ASSERT_TRUE(job->SetMinimumRetryDelay(5).ok());  // the server asks for more
  auto watcher = testing::Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransientError);
  // No Resume() from here: the engine's retry timer brings the job back.
  ASSERT_TRUE(watcher->WaitUntil(
      *job, [](Job& j) { return j.GetState() == JobState::kTransferred; },
      std::chrono::seconds(60)));
  const auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_GE(requests[1].at - requests[0].at, std::chrono::seconds(7));
  ExpectPublished(*job, server.Body(0));
}

TEST_F(FaultTest, AFileThatKeepsChangingStopsTheAttemptAndIsNeverPublished) {
  // Two ranges of one file: every response carries a new ETag, so each
  // second range finds the file changed under the first and the file
  // restarts. The fourth restart in one attempt ends it, transient.
  FaultServer server(Fault::kEtagEveryRequest, {1 << 20, 8, 0});
  auto job = *manager_->CreateJob("fault");
  ASSERT_TRUE(job->SetPriority(JobPriority::kForeground).ok());
  ASSERT_TRUE(job->AddFileWithRanges(server.Url(), Dest(), {{0, 1000}, {5000, 1000}}).ok());
  auto watcher = testing::Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransientError);
  auto error = job->GetError();
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->code, kBgERemoteFileChanged);
  EXPECT_EQ(error->context, ErrorContext::kRemoteFile);
  EXPECT_EQ(server.Requests().size(), 8u);  // four times both ranges
  EXPECT_FALSE(testing::FileExists(Dest()));

  // The file holds still again: the job completes with one version's bytes.
  ASSERT_EQ(Drive(*job), JobState::kTransferred) << job->GetError()->description;
  const std::string& body = server.Body(0);
  ExpectPublished(*job, body.substr(0, 1000) + body.substr(5000, 1000));
}

}  // namespace
}  // namespace openbits
