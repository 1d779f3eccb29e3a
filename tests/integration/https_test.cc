// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// HTTPS with HTTP/2 against a real nginx: trust, resume over h2, several
// transfers multiplexed on one connection.

#include <set>

#include <gtest/gtest.h>

#include "openbits/openbits.h"

#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::NginxServer;
using testing::Sha256OfFile;
using testing::TempDir;
using testing::Watch;

constexpr std::uint64_t kMiB = 1024 * 1024;

class HttpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    NginxServer::Options options;
    options.tls = true;
    options.extra_server_config =
        "    location /slow/ { alias $ROOT/; limit_rate 1m; sendfile_max_chunk 64k; }\n";
    server_ = std::make_unique<NginxServer>(options);
    ASSERT_TRUE(server_->ok()) << server_->error();
    sha_ = testing::WriteTestFile(server_->root() + "/file.bin", 3 * kMiB + 5, 7);
  }
  static void TearDownTestSuite() { server_.reset(); }

  std::unique_ptr<Manager> Open(bool trust_test_ca) {
    ManagerOptions options;
    options.state_directory = state_ / "queue";
    options.key_directory = state_ / "keys";
    if (trust_test_ca) options.additional_ca_file = server_->ca_file();
    auto m = Manager::Open(options);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(*m) : nullptr;
  }

  static std::unique_ptr<NginxServer> server_;
  static std::string sha_;
  TempDir state_;
  TempDir dest_;
};

std::unique_ptr<NginxServer> HttpsTest::server_;
std::string HttpsTest::sha_;

TEST_F(HttpsTest, ResumesOverHttp2) {
  auto manager = Open(true);
  ASSERT_TRUE(manager);
  auto job = *manager->CreateJob("https");
  ASSERT_TRUE(job->SetPriority(JobPriority::kForeground).ok());
  const std::string uri = "/slow/file.bin?resume";
  ASSERT_TRUE(job->AddFile(server_->Url(uri), dest_ / "file.bin").ok());
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_TRUE(watcher->WaitUntil(
      *job, [](Job& j) { return j.GetProgress().bytes_transferred >= 256 * 1024; }));
  ASSERT_TRUE(job->Suspend().ok());
  const std::uint64_t kept = job->GetProgress().bytes_transferred;
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(Sha256OfFile(dest_ / "file.bin"), sha_);
  auto log = server_->AccessLogFor(uri);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].protocol, "HTTP/2.0");
  EXPECT_EQ(log[1].range, "bytes=" + std::to_string(kept) + "-");
  EXPECT_EQ(log[1].status, 206);
}

TEST_F(HttpsTest, AnUntrustedServerIsAFatalSecurityError) {
  auto manager = Open(false);
  ASSERT_TRUE(manager);
  auto job = *manager->CreateJob("untrusted");
  ASSERT_TRUE(job->SetPriority(JobPriority::kForeground).ok());
  ASSERT_TRUE(job->AddFile(server_->Url("/file.bin?untrusted"), dest_ / "file.bin").ok());
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kError);
  // ERROR_WINHTTP_SECURE_INVALID_CA: the certificate's issuer is unknown.
  EXPECT_EQ(job->GetError()->code, kWinHttpSecureInvalidCa);
  EXPECT_TRUE(server_->AccessLogFor("/file.bin?untrusted").empty());  // no request was sent
}

TEST_F(HttpsTest, ForegroundJobsShareOneHttp2Connection) {
  auto manager = Open(true);
  ASSERT_TRUE(manager);
  std::vector<std::shared_ptr<Job>> jobs;
  std::vector<std::shared_ptr<testing::JobWatcher>> watchers;
  for (int i = 0; i < 6; ++i) {
    auto job = *manager->CreateJob("parallel " + std::to_string(i));
    ASSERT_TRUE(job->SetPriority(JobPriority::kForeground).ok());
    ASSERT_TRUE(job->AddFile(server_->Url("/file.bin?parallel=" + std::to_string(i)),
                             dest_ / ("p" + std::to_string(i)))
                    .ok());
    watchers.push_back(Watch(*job));
    jobs.push_back(job);
  }
  for (auto& job : jobs) ASSERT_TRUE(job->Resume().ok());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    ASSERT_EQ(watchers[i]->WaitForOutcome(*jobs[i]), JobState::kTransferred) << i;
    ASSERT_TRUE(jobs[i]->Complete().ok());
    EXPECT_EQ(Sha256OfFile(dest_ / ("p" + std::to_string(i))), sha_);
  }
  std::set<std::uint64_t> connections;
  for (int i = 0; i < 6; ++i) {
    auto log = server_->AccessLogFor("/file.bin?parallel=" + std::to_string(i));
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0].protocol, "HTTP/2.0");
    connections.insert(log[0].connection);
  }
  EXPECT_EQ(connections.size(), 1u) << "the six transfers should be multiplexed";
}

TEST_F(HttpsTest, AnUnreadableCaFileIsRefusedAtOpen) {
  ManagerOptions options;
  options.state_directory = state_ / "queue";
  options.additional_ca_file = dest_ / "missing.pem";
  EXPECT_EQ(Manager::Open(options).status().code(), kEInvalidArg);
}

}  // namespace
}  // namespace openbits
