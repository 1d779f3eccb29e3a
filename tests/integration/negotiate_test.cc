// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Negotiate (SPNEGO with Kerberos) and NTLM (gss-ntlmssp) server
// authentication against Apache with mod_auth_gssapi and a throwaway MIT
// KDC: explicit credentials authenticate as that user even while the
// process holds another user's ticket, implicit credentials use the logon
// ticket, and the UseLMCompat policy decides when implicit credentials go
// out without SetCredentials.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "openbits/hresult.h"
#include "openbits/manager.h"

#include "tests/support/auth_servers.h"
#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::ApacheServer;
using testing::KdcServer;
using testing::TempDir;
using testing::Watch;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class NegotiateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    kdc_ = std::make_unique<KdcServer>();
    if (!kdc_->ok()) return;
    apache_ = std::make_unique<ApacheServer>(kdc_.get());
    if (!apache_->ok()) return;
    for (const char* dir : {"negotiate", "ntlm"}) {
      shas_[dir] = testing::WriteTestFile(apache_->root() + "/" + dir + "/file.bin", 90000, dir[1]);
    }
    tickets_ = std::make_unique<TempDir>();
    // The process's own ticket belongs to bob: explicit credentials must
    // not use it, implicit ones must.
    bob_ccache_ = "FILE:" + (*tickets_ / "bob.ccache");
    bob_ok_ = kdc_->Kinit("bob", "Bob-Pass-2", bob_ccache_);
  }
  static void TearDownTestSuite() {
    apache_.reset();
    kdc_.reset();
    tickets_.reset();
  }

  void SetUp() override {
    ASSERT_TRUE(kdc_->ok()) << kdc_->error();
    ASSERT_TRUE(apache_->ok()) << apache_->error();
    ASSERT_TRUE(bob_ok_) << "kinit bob failed";
    ::setenv("KRB5CCNAME", bob_ccache_.c_str(), 1);
    Open();
  }
  void TearDown() override {
    manager_.reset();
    ::unsetenv("KRB5CCNAME");
  }

  void Open(const std::string& policy = "") {
    manager_.reset();
    ManagerOptions options;
    options.state_directory = state_ / "queue";
    options.key_directory = state_ / "keys";
    if (!policy.empty()) {
      options.policy_file = state_ / "openbits.conf";
      std::ofstream(options.policy_file) << "[policy]\n" << policy << "\n";
    }
    auto m = Manager::Open(options);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
  }

  // A job for `path` on Apache, addressed as http://localhost:PORT so that
  // the service principal is HTTP/localhost.
  std::shared_ptr<Job> NewJob(const std::string& path) {
    auto job = manager_->CreateJob("negotiate");
    EXPECT_TRUE(job.ok());
    EXPECT_TRUE((*job)->SetPriority(JobPriority::kForeground).ok());
    const std::string url = "http://localhost:" + std::to_string(apache_->port()) + path;
    EXPECT_TRUE((*job)->AddFile(url, dest_ / ("f" + std::to_string(++files_))).ok());
    return *job;
  }

  JobState Run(Job& job) {
    auto watcher = Watch(job);
    EXPECT_TRUE(job.Resume().ok());
    return watcher->WaitForOutcome(job);
  }

  // The user Apache authenticated for the last 2xx answer for `uri`.
  std::string AuthenticatedUser(const std::string& uri) {
    std::string user;
    for (const auto& e : apache_->AccessLog()) {
      if (e.status / 100 == 2 && e.uri == uri) user = e.user;
    }
    return user;
  }

  static std::unique_ptr<KdcServer> kdc_;
  static std::unique_ptr<ApacheServer> apache_;
  static std::unique_ptr<TempDir> tickets_;
  static std::string bob_ccache_;
  static bool bob_ok_;
  static std::map<std::string, std::string> shas_;

  TempDir state_;
  TempDir dest_;
  std::unique_ptr<Manager> manager_;
  int files_ = 0;
};

std::unique_ptr<KdcServer> NegotiateTest::kdc_;
std::unique_ptr<ApacheServer> NegotiateTest::apache_;
std::unique_ptr<TempDir> NegotiateTest::tickets_;
std::string NegotiateTest::bob_ccache_;
bool NegotiateTest::bob_ok_ = false;
std::map<std::string, std::string> NegotiateTest::shas_;

TEST_F(NegotiateTest, ExplicitKerberosAuthenticatesAsThatUserNotAsTheTicketHolder) {
  const std::string ccache_before = ReadFile(bob_ccache_.substr(5));
  auto job = NewJob("/negotiate/file.bin");
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kServer, AuthScheme::kNegotiate, "alice", "alicepw").ok());
  ASSERT_EQ(Run(*job), JobState::kTransferred)
      << job->GetError().value_or(JobErrorInfo{}).description;
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(dest_ / "f1"), shas_["negotiate"]);
  EXPECT_EQ(AuthenticatedUser("/negotiate/file.bin"), std::string("alice@") + KdcServer::kRealm);
  // The owner's credential cache was neither used nor changed.
  EXPECT_EQ(ReadFile(bob_ccache_.substr(5)), ccache_before);
}

TEST_F(NegotiateTest, AWrongKerberosPasswordFailsWith401NamingTheScheme) {
  auto job = NewJob("/negotiate/file.bin");
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kServer, AuthScheme::kNegotiate, "alice", "wrong").ok());
  ASSERT_EQ(Run(*job), JobState::kError);
  auto error = job->GetError();
  EXPECT_EQ(error->code, HttpErrorCode(401));
  EXPECT_NE(error->description.find("password is wrong"), std::string::npos);
  EXPECT_NE(error->description.find("Negotiate"), std::string::npos) << error->description;
  std::printf("reported: %s\n", error->description.c_str());
}

TEST_F(NegotiateTest, AnUnknownPrincipalFailsNamingTheSchemeAndTheReason) {
  auto job = NewJob("/negotiate/file.bin");
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kServer, AuthScheme::kNegotiate, "mallory", "any").ok());
  ASSERT_EQ(Run(*job), JobState::kError);
  auto error = job->GetError();
  EXPECT_EQ(error->code, HttpErrorCode(401));
  EXPECT_EQ(error->context, ErrorContext::kRemoteFile);
  EXPECT_NE(error->description.find("Negotiate"), std::string::npos) << error->description;
  EXPECT_NE(error->description.find("not found in Kerberos database"), std::string::npos)
      << error->description;
  std::printf("reported: %s\n", error->description.c_str());
}

TEST_F(NegotiateTest, ImplicitCredentialsUseTheOwnersTicket) {
  auto job = NewJob("/negotiate/file.bin");
  ASSERT_TRUE(job->SetImplicitCredentials(AuthTarget::kServer, AuthScheme::kNegotiate).ok());
  ASSERT_EQ(Run(*job), JobState::kTransferred)
      << job->GetError().value_or(JobErrorInfo{}).description;
  EXPECT_EQ(AuthenticatedUser("/negotiate/file.bin"), std::string("bob@") + KdcServer::kRealm);
}

TEST_F(NegotiateTest, ImplicitCredentialsWithoutATicketFailClearly) {
  ::setenv("KRB5CCNAME", ("FILE:" + (state_ / "no-such-ccache")).c_str(), 1);
  auto job = NewJob("/negotiate/file.bin");
  ASSERT_TRUE(job->SetImplicitCredentials(AuthTarget::kServer, AuthScheme::kNegotiate).ok());
  ASSERT_EQ(Run(*job), JobState::kError);
  auto error = job->GetError();
  EXPECT_EQ(error->code, HttpErrorCode(401));
  EXPECT_NE(error->description.find("No Kerberos credentials"), std::string::npos);
  EXPECT_NE(error->description.find("Negotiate"), std::string::npos) << error->description;
  std::printf("reported: %s\n", error->description.c_str());
}

TEST_F(NegotiateTest, ProxyImplicitCredentialsAlsoServeTheServer) {
  auto job = NewJob("/negotiate/file.bin");
  ASSERT_TRUE(job->SetImplicitCredentials(AuthTarget::kProxy, AuthScheme::kNegotiate).ok());
  ASSERT_EQ(Run(*job), JobState::kTransferred)
      << job->GetError().value_or(JobErrorInfo{}).description;
  EXPECT_EQ(AuthenticatedUser("/negotiate/file.bin"), std::string("bob@") + KdcServer::kRealm);
}

TEST_F(NegotiateTest, ExplicitNtlmThroughGssNtlmssp) {
  auto bad = NewJob("/ntlm/file.bin");
  ASSERT_TRUE(
      bad->SetCredentials(AuthTarget::kServer, AuthScheme::kNtlm, "TESTDOM\\alice", "nope").ok());
  ASSERT_EQ(Run(*bad), JobState::kError);
  EXPECT_EQ(bad->GetError()->code, HttpErrorCode(401));

  auto job = NewJob("/ntlm/file.bin");
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kServer, AuthScheme::kNtlm, "TESTDOM\\alice", "alicepw")
          .ok());
  ASSERT_EQ(Run(*job), JobState::kTransferred)
      << job->GetError().value_or(JobErrorInfo{}).description;
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(dest_ / "f2"), shas_["ntlm"]);
  EXPECT_NE(AuthenticatedUser("/ntlm/file.bin").find("alice"), std::string::npos);
}

TEST_F(NegotiateTest, NegotiateCredentialsReachNtlmInsideSpnego) {
  // Only NTLMSSP is accepted at /ntlm: SPNEGO must settle on it.
  auto job = NewJob("/ntlm/file.bin");
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kServer, AuthScheme::kNegotiate, "TESTDOM\\bob", "Bob-Pass-2")
          .ok());
  ASSERT_EQ(Run(*job), JobState::kTransferred)
      << job->GetError().value_or(JobErrorInfo{}).description;
  EXPECT_NE(AuthenticatedUser("/ntlm/file.bin").find("bob"), std::string::npos);
}

TEST_F(NegotiateTest, ImplicitNtlmCredentialsFromGssNtlmssp) {
  // gss-ntlmssp's logon credentials on Linux: NTLM_USER_FILE and NTLMUSER
  // (winbind on a domain member).
  const std::string users = state_ / "ntlm_users";
  std::ofstream(users) << "TESTDOM:alice:alicepw\n";
  ::setenv("NTLM_USER_FILE", users.c_str(), 1);
  ::setenv("NTLMUSER", "alice", 1);
  auto job = NewJob("/ntlm/file.bin");
  ASSERT_TRUE(job->SetImplicitCredentials(AuthTarget::kServer, AuthScheme::kNtlm).ok());
  const JobState outcome = Run(*job);
  ::unsetenv("NTLM_USER_FILE");
  ::unsetenv("NTLMUSER");
  ASSERT_EQ(outcome, JobState::kTransferred)
      << job->GetError().value_or(JobErrorInfo{}).description;
  EXPECT_NE(AuthenticatedUser("/ntlm/file.bin").find("alice"), std::string::npos);
}

// UseLMCompat (bits-authentication.md): whether a job without
// SetCredentials answers a Negotiate prompt with the owner's ticket.
TEST_F(NegotiateTest, UseLMCompatDecidesImplicitCredentialsWithoutSetCredentials) {
  struct Case {
    std::string policy;
    bool set_null_credentials;
    JobState expected;
  };
  const std::vector<Case> cases = {
      {"UseLMCompat = 0", false, JobState::kTransferred},
      {"UseLMCompat = 1\nLMCompatibilityLevel = 0", false, JobState::kError},
      {"UseLMCompat = 1\nLMCompatibilityLevel = 2", false, JobState::kTransferred},
      {"UseLMCompat = 2", false, JobState::kError},
      {"UseLMCompat = 2", true, JobState::kTransferred},
      {"", false, JobState::kError},  // absent: 2, as Windows Vista and later
      {"", true, JobState::kTransferred},
  };
  for (const Case& c : cases) {
    Open(c.policy);
    auto job = NewJob("/negotiate/file.bin");
    if (c.set_null_credentials) {
      ASSERT_TRUE(job->SetImplicitCredentials(AuthTarget::kServer, AuthScheme::kNegotiate).ok());
    }
    EXPECT_EQ(Run(*job), c.expected)
        << c.policy << " / SetCredentials(NULL): " << c.set_null_credentials;
    if (c.expected == JobState::kError) {
      EXPECT_EQ(job->GetError()->code, HttpErrorCode(401));
    }
  }
}

TEST_F(NegotiateTest, AMalformedPolicyFileKeepsTheQueueClosed) {
  manager_.reset();
  ManagerOptions options;
  options.state_directory = state_ / "queue";
  options.key_directory = state_ / "keys";
  std::ofstream(state_ / "queue/openbits.conf") << "[policy]\nUseLMCompat = yes\n";
  auto refused = Manager::Open(options);
  EXPECT_EQ(refused.status().code(), kEInvalidArg);
  EXPECT_NE(refused.status().message().find("UseLMCompat"), std::string::npos);
}

// A KDC whose clock is two hours ahead of ours, as when a machine's clock has
// drifted: getting a ticket with a password fails, and the error says why.
class NegotiateClockSkewTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    kdc_ = std::make_unique<KdcServer>(2 * 3600);
    if (kdc_->ok()) apache_ = std::make_unique<ApacheServer>(kdc_.get());
  }
  static void TearDownTestSuite() {
    apache_.reset();
    kdc_.reset();
  }
  static std::unique_ptr<KdcServer> kdc_;
  static std::unique_ptr<ApacheServer> apache_;
};

std::unique_ptr<KdcServer> NegotiateClockSkewTest::kdc_;
std::unique_ptr<ApacheServer> NegotiateClockSkewTest::apache_;

TEST_F(NegotiateClockSkewTest, ExplicitCredentialsFailNamingTheSchemeAndTheClockSkew) {
  ASSERT_TRUE(kdc_->ok()) << kdc_->error();
  ASSERT_TRUE(apache_->ok()) << apache_->error();
  testing::WriteTestFile(apache_->root() + "/negotiate/file.bin", 1000, 'k');
  TempDir state;
  TempDir dest;
  ManagerOptions options;
  options.state_directory = state / "queue";
  options.key_directory = state / "keys";
  auto manager = Manager::Open(options);
  ASSERT_TRUE(manager.ok()) << manager.status().ToString();
  auto job = (*manager)->CreateJob("skewed");
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE((*job)->SetPriority(JobPriority::kForeground).ok());
  ASSERT_TRUE(
      (*job)
          ->AddFile("http://localhost:" + std::to_string(apache_->port()) + "/negotiate/file.bin",
                    dest / "f")
          .ok());
  ASSERT_TRUE(
      (*job)->SetCredentials(AuthTarget::kServer, AuthScheme::kNegotiate, "alice", "alicepw").ok());
  auto watcher = Watch(**job);
  ASSERT_TRUE((*job)->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(**job), JobState::kError);
  auto error = (*job)->GetError();
  EXPECT_EQ(error->code, HttpErrorCode(401));
  EXPECT_NE(error->description.find("Negotiate"), std::string::npos) << error->description;
  EXPECT_NE(error->description.find("Clock skew too great"), std::string::npos)
      << error->description;
  std::printf("reported: %s\n", error->description.c_str());
}

}  // namespace
}  // namespace openbits
