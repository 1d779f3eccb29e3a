// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Credentials end to end against nginx with Basic authentication: set,
// removed, embedded in URLs (which win), sealed in the vault, and what
// happens when a sealed secret or its key is damaged.

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <mutex>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "openbits/hresult.h"
#include "openbits/manager.h"

#include "store/store.h"
#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::NginxServer;
using testing::TempDir;
using testing::Watch;

constexpr char kAnnPassword[] = "Ann-Pass-1";
constexpr char kBobPassword[] = "Bob-Pass-2";

// Edits the sealed records in the queue database the way an attacker with
// write access to the file would (the manager must be closed).
void EditSecrets(
    const std::string& db,
    const std::function<void(std::vector<std::pair<Guid, store::SecretRecord>>&)>& edit) {
  auto store = store::Store::Open(db);
  ASSERT_TRUE(store.ok());
  auto secrets = (*store)->LoadSecrets();
  ASSERT_TRUE(secrets.ok());
  edit(*secrets);
  for (const auto& [id, secret] : *secrets) {
    ASSERT_TRUE((*store)->PutSecret(id, secret.purpose, secret.sealed).ok());
  }
}

class CredentialsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    users_ = std::make_unique<TempDir>();
    std::ofstream(*users_ / "htpasswd")
        << "ann:{PLAIN}" << kAnnPassword << "\nbob:{PLAIN}" << kBobPassword << "\n";
    NginxServer::Options options;
    options.extra_server_config =
        "location /private/ { auth_basic \"openbits\"; "
        "auth_basic_user_file " +
        (*users_ / "htpasswd") + "; }";
    server_ = std::make_unique<NginxServer>(options);
    if (!server_->ok()) return;
    ::mkdir((server_->root() + "/private").c_str(), 0755);
    sha_ = testing::WriteTestFile(server_->root() + "/private/a.bin", 300000, 31);
    public_sha_ = testing::WriteTestFile(server_->root() + "/public.bin", 20000, 32);
  }
  static void TearDownTestSuite() {
    server_.reset();
    users_.reset();
  }

  void SetUp() override {
    ASSERT_TRUE(server_->ok()) << server_->error();
    options_.state_directory = state_ / "queue";
    options_.key_directory = state_ / "keys";
    Open();
  }

  void Open() {
    manager_.reset();
    auto m = Manager::Open(options_);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
  }

  std::shared_ptr<Job> NewJob(const std::string& url, const std::string& file) {
    auto job = manager_->CreateJob(file);
    EXPECT_TRUE(job.ok());
    EXPECT_TRUE((*job)->SetPriority(JobPriority::kForeground).ok());
    Status added = (*job)->AddFile(url, dest_ / file);
    EXPECT_TRUE(added.ok()) << added.ToString();
    return *job;
  }

  std::shared_ptr<Job> Reopened(const Guid& id) {
    auto job = manager_->GetJob(id);
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    return *job;
  }

  // Resumes `job` and returns the state it ends in.
  JobState Run(Job& job) {
    auto watcher = Watch(job);
    EXPECT_TRUE(job.Resume().ok());
    return watcher->WaitForOutcome(job);
  }

  // The user names nginx saw for `uri` with a 2xx answer.
  std::vector<std::string> AuthenticatedUsers(const std::string& uri) {
    std::vector<std::string> users;
    for (const auto& e : server_->AccessLogFor(uri)) {
      if (e.status / 100 == 2) users.push_back(e.remote_user);
    }
    return users;
  }

  static std::string Own(const std::string& path) {
    return path + "?test=" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  static std::unique_ptr<TempDir> users_;
  static std::unique_ptr<NginxServer> server_;
  static std::string sha_, public_sha_;

  TempDir state_;
  TempDir dest_;
  ManagerOptions options_;
  std::unique_ptr<Manager> manager_;
};

std::unique_ptr<TempDir> CredentialsTest::users_;
std::unique_ptr<NginxServer> CredentialsTest::server_;
std::string CredentialsTest::sha_, CredentialsTest::public_sha_;

TEST_F(CredentialsTest, A401WithoutCredentialsIsFixedBySetCredentialsAndResume) {
  const std::string uri = Own("/private/a.bin");
  auto job = NewJob(server_->Url(uri), "a.bin");
  ASSERT_EQ(Run(*job), JobState::kError);
  auto error = job->GetError();
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->code, HttpErrorCode(401));

  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "ann", kAnnPassword).ok());
  auto info = job->GetInfo();
  ASSERT_EQ(info.credentials.size(), 1u);
  EXPECT_EQ(info.credentials[0].target, AuthTarget::kServer);
  EXPECT_EQ(info.credentials[0].scheme, AuthScheme::kBasic);
  ASSERT_EQ(Run(*job), JobState::kTransferred);
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(dest_ / "a.bin"), sha_);
  EXPECT_EQ(AuthenticatedUsers(uri), std::vector<std::string>{"ann"});
}

// The library never writes to the application's stderr: what only an
// operator can act on goes to ManagerOptions::log, without the secret.
TEST_F(CredentialsTest, BasicOverPlainHttpIsWarnedThroughTheLogHookNotOnStderr) {
  struct Captured {
    std::mutex mutex;
    std::vector<std::pair<LogLevel, std::string>> lines;
  };
  auto captured = std::make_shared<Captured>();
  options_.log = [captured](LogLevel level, std::string_view message) {
    std::lock_guard lock(captured->mutex);
    captured->lines.emplace_back(level, std::string(message));
  };
  Open();
  const std::string stderr_path = state_ / "stderr.txt";
  std::fflush(stderr);
  const int saved = ::dup(2);
  const int sink = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(saved, 0);
  ASSERT_GE(sink, 0);
  ::dup2(sink, 2);
  ::close(sink);
  auto job = NewJob(server_->Url(Own("/private/a.bin")), "a.bin");
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "ann", kAnnPassword).ok());
  const JobState outcome = Run(*job);
  manager_.reset();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  ASSERT_EQ(outcome, JobState::kTransferred);
  EXPECT_EQ(testing::FileSizeOf(stderr_path), 0u);
  std::lock_guard lock(captured->mutex);
  bool warned = false;
  for (const auto& [level, line] : captured->lines) {
    EXPECT_EQ(line.find(kAnnPassword), std::string::npos) << line;
    if (level == LogLevel::kWarning && line.find("clear text") != std::string::npos) warned = true;
  }
  EXPECT_TRUE(warned);
}

TEST_F(CredentialsTest, AWrongPasswordEndsIn401AndRemovedCredentialsAreNotSent) {
  const std::string uri = Own("/private/a.bin");
  auto job = NewJob(server_->Url(uri), "a.bin");
  ASSERT_TRUE(job->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "ann", "wrong").ok());
  ASSERT_EQ(Run(*job), JobState::kError);
  EXPECT_EQ(job->GetError()->code, HttpErrorCode(401));
  ASSERT_TRUE(job->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "ann", kAnnPassword)
                  .ok());  // the same pair replaces the old credential
  ASSERT_TRUE(job->RemoveCredentials(AuthTarget::kServer, AuthScheme::kBasic).ok());
  EXPECT_TRUE(job->GetInfo().credentials.empty());
  ASSERT_EQ(Run(*job), JobState::kError);
  EXPECT_EQ(job->GetError()->code, HttpErrorCode(401));
  EXPECT_TRUE(AuthenticatedUsers(uri).empty());
}

TEST_F(CredentialsTest, UrlCredentialsWinAndTheirPasswordIsNeverShown) {
  const std::string uri = Own("/private/a.bin");
  const std::string url = "http://ann:" + std::string(kAnnPassword) +
                          "@127.0.0.1:" + std::to_string(server_->port()) + uri;
  auto job = NewJob(url, "a.bin");
  // Seed rule: the URL's user name and password win over SetCredentials.
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "bob", kBobPassword).ok());
  const std::string shown = job->EnumFiles()[0]->GetRemoteName();
  EXPECT_EQ(shown.find(kAnnPassword), std::string::npos);
  EXPECT_NE(shown.find("ann:****@"), std::string::npos) << shown;
  ASSERT_EQ(Run(*job), JobState::kTransferred);
  EXPECT_EQ(AuthenticatedUsers(uri), std::vector<std::string>{"ann"});
  // After a restart the sealed URL password still works.
  const Guid id = job->GetId();
  auto second = NewJob(url, "second.bin");
  const Guid second_id = second->GetId();
  job.reset();
  second.reset();
  Open();
  ASSERT_EQ(Run(*Reopened(second_id)), JobState::kTransferred);
  ASSERT_TRUE(Reopened(id)->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(dest_ / "a.bin"), sha_);
}

TEST_F(CredentialsTest, ATamperedSecretFailsItsJobAloneWithNteBadData) {
  auto tampered = NewJob(server_->Url(Own("/private/a.bin")), "tampered.bin");
  auto healthy = NewJob(server_->Url(Own("/private/a.bin") + "&2"), "healthy.bin");
  for (auto* job : {&tampered, &healthy}) {
    ASSERT_TRUE(
        (*job)->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "ann", kAnnPassword).ok());
  }
  const Guid bad = tampered->GetId();
  const Guid good = healthy->GetId();
  tampered.reset();
  healthy.reset();
  manager_.reset();
  // Flip one bit in the middle of the tampered job's record.
  EditSecrets(options_.state_directory + "/queue.db", [&](auto& secrets) {
    for (auto& [id, secret] : secrets) {
      if (id == bad) secret.sealed[secret.sealed.size() / 2] ^= 0x10;
    }
  });
  Open();
  auto bad_job = Reopened(bad);
  ASSERT_EQ(Run(*bad_job), JobState::kError);
  auto error = bad_job->GetError();
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->code, kNteBadData) << error->description;
  EXPECT_EQ(error->context, ErrorContext::kGeneralQueueManager);
  ASSERT_EQ(Run(*Reopened(good)), JobState::kTransferred);
  // New credentials repair the job.
  ASSERT_TRUE(
      bad_job->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "ann", kAnnPassword).ok());
  EXPECT_EQ(Run(*bad_job), JobState::kTransferred);
}

TEST_F(CredentialsTest, SwappedSecretsOpenForNeitherJob) {
  auto a = NewJob(server_->Url(Own("/private/a.bin")), "a.bin");
  auto b = NewJob(server_->Url(Own("/private/a.bin") + "&b"), "b.bin");
  ASSERT_TRUE(a->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "ann", kAnnPassword).ok());
  ASSERT_TRUE(b->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "bob", kBobPassword).ok());
  const Guid ida = a->GetId(), idb = b->GetId();
  a.reset();
  b.reset();
  manager_.reset();
  EditSecrets(options_.state_directory + "/queue.db", [&](auto& secrets) {
    ASSERT_EQ(secrets.size(), 2u);
    std::swap(secrets[0].second.sealed, secrets[1].second.sealed);
  });
  Open();
  for (const Guid& id : {ida, idb}) {
    auto job = Reopened(id);
    ASSERT_EQ(Run(*job), JobState::kError);
    EXPECT_EQ(job->GetError()->code, kNteBadData);
  }
}

TEST_F(CredentialsTest, AMissingKeyFailsTheJobsThatNeedItAndNothingElse) {
  const std::string url = "http://ann:" + std::string(kAnnPassword) +
                          "@127.0.0.1:" + std::to_string(server_->port()) + Own("/private/a.bin");
  const Guid id = NewJob(url, "a.bin")->GetId();
  manager_.reset();
  for (const std::string& name : testing::ListDirectory(state_ / "keys")) {
    ASSERT_EQ(::unlink((state_ / "keys/" + name).c_str()), 0);
  }
  Open();
  auto job = Reopened(id);
  ASSERT_EQ(Run(*job), JobState::kError);
  auto error = job->GetError();
  EXPECT_EQ(error->code, kNteNoKey);
  EXPECT_NE(error->description.find("vault key"), std::string::npos) << error->description;
  EXPECT_EQ(error->description.find(kAnnPassword), std::string::npos);
  // Everyone else is served, and new secrets get a new key.
  EXPECT_EQ(Run(*NewJob(server_->Url(Own("/public.bin")), "public.bin")), JobState::kTransferred);
  auto fresh = NewJob(server_->Url(Own("/private/a.bin") + "&fresh"), "fresh.bin");
  ASSERT_TRUE(
      fresh->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "bob", kBobPassword).ok());
  EXPECT_EQ(Run(*fresh), JobState::kTransferred);
}

TEST_F(CredentialsTest, AKeyFileWithTheWrongModeKeepsTheQueueClosed) {
  auto job = NewJob(server_->Url(Own("/private/a.bin")), "a.bin");
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "ann", kAnnPassword).ok());
  job.reset();
  manager_.reset();
  const auto keys = testing::ListDirectory(state_ / "keys");
  ASSERT_EQ(keys.size(), 1u);
  ASSERT_EQ(::chmod((state_ / "keys/" + keys[0]).c_str(), 0640), 0);
  auto refused = Manager::Open(options_);
  EXPECT_EQ(refused.status().code(), kEAccessDenied);
  EXPECT_NE(refused.status().message().find("0640"), std::string::npos)
      << refused.status().message();
  ASSERT_EQ(::chmod((state_ / "keys/" + keys[0]).c_str(), 0600), 0);
  Open();
}

TEST_F(CredentialsTest, RotationKeepsEveryCredentialWorking) {
  auto job = NewJob(server_->Url(Own("/private/a.bin")), "a.bin");
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "ann", kAnnPassword).ok());
  const auto before = testing::ListDirectory(state_ / "keys");
  ASSERT_TRUE(manager_->RotateCredentialKey().ok());
  const auto after = testing::ListDirectory(state_ / "keys");
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after, before);
  EXPECT_EQ(Run(*job), JobState::kTransferred);
}

TEST_F(CredentialsTest, BadCredentialArgumentsAreRefusedClearly) {
  auto job = NewJob(server_->Url(Own("/private/a.bin")), "a.bin");
  EXPECT_EQ(job->SetCredentials(AuthTarget::kServer, AuthScheme::kPassport, "u", "p").code(),
            kENotImpl);
  EXPECT_EQ(job->SetImplicitCredentials(AuthTarget::kServer, AuthScheme::kBasic).code(),
            kEInvalidArg);
  EXPECT_EQ(job->SetCredentials(static_cast<AuthTarget>(7), AuthScheme::kBasic, "u", "p").code(),
            kBgEInvalidAuthTarget);
  EXPECT_EQ(job->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, std::string(301, 'u'), "p")
                .code(),
            kBgEUsernameTooLarge);
  EXPECT_TRUE(job->SetImplicitCredentials(AuthTarget::kProxy, AuthScheme::kNegotiate).ok());
  EXPECT_TRUE(job->GetInfo().credentials.size() == 1);
  ASSERT_TRUE(job->Cancel().ok());
  EXPECT_EQ(job->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "u", "p").code(),
            kBgEInvalidState);
}

}  // namespace
}  // namespace openbits
