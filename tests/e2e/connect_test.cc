// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// openbits::Connect(): the library's Manager served by openbitsd. The same
// calls as the in-process library, with events delivered to JobCallback,
// errors as HRESULTs, and jobs that outlive the client.

#include <signal.h>

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "openbits/hresult.h"
#include "openbits/manager.h"

#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::TempDir;
using testing::Watch;

class ConnectTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = std::make_unique<testing::NginxServer>();
    if (server_->ok()) sha_ = testing::WriteTestFile(server_->root() + "/file.bin", 250000, 21);
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(server_->ok()) << server_->error();
    ::setenv("OPENBITS_KEY_DIR", (state_ / "keys").c_str(), 1);  // the daemon inherits it
    Reconnect();
  }
  void TearDown() override {
    manager_.reset();
    std::ifstream in(state_ / "state/openbitsd.pid");
    pid_t pid = -1;
    if (in >> pid && pid > 0 && ::kill(pid, SIGTERM) == 0) {
      EXPECT_TRUE(testing::WaitForExit(pid, std::chrono::seconds(30)));
    }
    ::unsetenv("OPENBITS_KEY_DIR");
  }

  void Reconnect() {
    manager_.reset();
    ConnectOptions options;
    options.state_directory = state_ / "state";
    options.socket_path = state_ / "state/openbitsd.sock";
    options.daemon_program = OPENBITS_BIN_DIR "/openbitsd";
    auto m = Connect(options);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
  }

  static std::unique_ptr<testing::NginxServer> server_;
  static std::string sha_;
  TempDir state_;
  TempDir dest_;
  std::unique_ptr<Manager> manager_;
};

std::unique_ptr<testing::NginxServer> ConnectTest::server_;
std::string ConnectTest::sha_;

TEST_F(ConnectTest, AHandleWhoseDaemonIsGoneSaysSoInsteadOfInventingAState) {
  auto job = manager_->CreateJob("orphan");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  ASSERT_EQ((*job)->GetState(), JobState::kSuspended);
  std::ifstream in(state_ / "state/openbitsd.pid");
  pid_t pid = -1;
  ASSERT_TRUE(in >> pid && pid > 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(testing::WaitForExit(pid, std::chrono::seconds(30)));
  EXPECT_EQ((*job)->GetState(), JobState::kUnknown);
  const JobInfo info = (*job)->GetInfo();
  EXPECT_FALSE(info.status.ok());
  EXPECT_EQ(info.state, JobState::kUnknown);
  EXPECT_EQ(info.id, (*job)->GetId());
  auto error = (*job)->GetError();
  ASSERT_FALSE(error.ok());
  EXPECT_NE(error.status().code(), kBgEErrorInformationUnavailable);  // not "no error"
  EXPECT_FALSE((*job)->GetProperty(JobProperty::kDisplayName).ok());
  EXPECT_FALSE((*job)->Resume().ok());
  EXPECT_EQ(JobStateName(JobState::kUnknown), "UNKNOWN");
}

TEST_F(ConnectTest, TheSameApiThroughTheDaemonWithCallbacks) {
  auto job = manager_->CreateJob("remote");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  ASSERT_TRUE((*job)->SetPriority(JobPriority::kForeground).ok());
  ASSERT_TRUE((*job)->AddFile(server_->Url("/file.bin"), dest_ / "file.bin").ok());
  EXPECT_EQ((*job)->GetDisplayName(), "remote");
  EXPECT_EQ((*job)->GetState(), JobState::kSuspended);
  auto files = (*job)->EnumFiles();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0]->GetLocalName(), dest_ / "file.bin");
  auto infos = manager_->EnumJobInfo();
  ASSERT_TRUE(infos.ok());
  ASSERT_EQ(infos->size(), 1u);
  EXPECT_EQ((*infos)[0].id, (*job)->GetId());

  auto watcher = Watch(**job);  // events come over the socket
  ASSERT_TRUE((*job)->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(**job), JobState::kTransferred);
  // The JobTransferred event follows the state change over the socket.
  EXPECT_TRUE(watcher->WaitUntil(**job, [&](Job&) { return watcher->transferred_count() == 1; }));
  EXPECT_EQ((*job)->GetProgress().bytes_transferred, 250000u);
  EXPECT_EQ(files[0]->GetProgress().bytes_transferred, 250000u);
  ASSERT_TRUE((*job)->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(dest_ / "file.bin"), sha_);
  EXPECT_EQ((*job)->Resume().code(), kBgENotFound);  // the job left the queue
}

TEST_F(ConnectTest, ErrorsArriveAsTheLibrarysHresults) {
  auto job = manager_->CreateJob("errors");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ((*job)->AddFile("gopher://127.0.0.1/x", dest_ / "x").code(), kEInvalidArg);
  EXPECT_EQ((*job)->Resume().code(), kBgEEmpty);
  EXPECT_EQ((*job)->SetCredentials(AuthTarget::kServer, AuthScheme::kPassport, "u", "p").code(),
            kENotImpl);
  EXPECT_EQ(manager_->GetJob(Guid::Generate()).status().code(), kBgENotFound);
  // CreateJobs is all or nothing over the socket too.
  std::vector<JobSpec> specs(2);
  specs[0].display_name = "good";
  specs[0].files = {{server_->Url("/file.bin"), dest_ / "good.bin"}};
  specs[1].display_name = "bad";
  specs[1].files = {{"not a url", dest_ / "bad.bin"}};
  EXPECT_EQ(manager_->CreateJobs(specs).status().code(), kEInvalidArg);
  EXPECT_EQ(manager_->EnumJobs()->size(), 1u);
  specs.pop_back();
  auto created = manager_->CreateJobs(specs);
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(created->size(), 1u);
}

TEST_F(ConnectTest, JobsOutliveTheClientAndKeepTheirSecretsHidden) {
  const std::string url =
      "http://carl:Remote-Secret-7@127.0.0.1:" + std::to_string(server_->port()) + "/file.bin";
  Guid id;
  {
    auto job = manager_->CreateJob("kept");
    ASSERT_TRUE(job.ok());
    ASSERT_TRUE((*job)->AddFile(url, dest_ / "kept.bin").ok());
    ASSERT_TRUE(
        (*job)->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "carl", "other").ok());
    id = (*job)->GetId();
  }
  Reconnect();  // a new client process would see the same
  auto job = manager_->GetJob(id);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  const std::string shown = (*job)->EnumFiles()[0]->GetRemoteName();
  EXPECT_EQ(shown.find("Remote-Secret-7"), std::string::npos);
  EXPECT_NE(shown.find("carl:****@"), std::string::npos) << shown;
  ASSERT_EQ((*job)->GetInfo().credentials.size(), 1u);
  ASSERT_TRUE((*job)->Cancel().ok());
}

}  // namespace
}  // namespace openbits
