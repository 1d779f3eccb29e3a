// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Challenge/response schemes at the proxy (squid with Kerberos and NTLM)
// and Negotiate at the server behind a proxy: implicit proxy credentials
// for http and https targets, proxy NTLM, implicit proxy credentials also
// authenticating at the server (seed rule) through a real proxy, and
// Negotiate on the server when the proxy requires Basic (which BITS lists
// as unsupported).

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "openbits/hresult.h"
#include "openbits/manager.h"

#include "tests/support/auth_servers.h"
#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::ApacheServer;
using testing::KdcServer;
using testing::NginxServer;
using testing::SquidServer;
using testing::TempDir;
using testing::Watch;

class ProxyNegotiateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    kdc_ = std::make_unique<KdcServer>();
    if (!kdc_->ok()) return;
    apache_ = std::make_unique<ApacheServer>(kdc_.get());
    negotiate_proxy_ =
        std::make_unique<SquidServer>(std::vector<std::string>{"negotiate"}, kdc_.get());
    target_ = std::make_unique<NginxServer>();
    ntlm_proxy_ = std::make_unique<SquidServer>(std::vector<std::string>{"ntlm"}, nullptr,
                                                target_->ok() ? target_->port() : 0);
    basic_proxy_ = std::make_unique<SquidServer>(std::vector<std::string>{"basic"});
    NginxServer::Options tls;
    tls.tls = true;
    tls_target_ = std::make_unique<NginxServer>(tls);
    if (!apache_->ok() || !target_->ok() || !tls_target_->ok()) return;
    testing::WriteTestFile(apache_->root() + "/negotiate/file.bin", 60000, 3);
    testing::WriteTestFile(target_->root() + "/file.bin", 50000, 4);
    testing::WriteTestFile(tls_target_->root() + "/file.bin", 40000, 5);
    tickets_ = std::make_unique<TempDir>();
    bob_ccache_ = "FILE:" + (*tickets_ / "bob.ccache");
    bob_ok_ = kdc_->Kinit("bob", "Bob-Pass-2", bob_ccache_);
  }
  static void TearDownTestSuite() {
    apache_.reset();
    negotiate_proxy_.reset();
    ntlm_proxy_.reset();
    basic_proxy_.reset();
    target_.reset();
    tls_target_.reset();
    kdc_.reset();
    tickets_.reset();
  }

  void SetUp() override {
    ASSERT_TRUE(kdc_->ok()) << kdc_->error();
    for (const SquidServer* proxy :
         {negotiate_proxy_.get(), ntlm_proxy_.get(), basic_proxy_.get()}) {
      ASSERT_TRUE(proxy->ok()) << proxy->error();
    }
    ASSERT_TRUE(apache_->ok()) << apache_->error();
    ASSERT_TRUE(bob_ok_);
    ::setenv("KRB5CCNAME", bob_ccache_.c_str(), 1);
    ManagerOptions options;
    options.state_directory = state_ / "queue";
    options.key_directory = state_ / "keys";
    options.additional_ca_file = tls_target_->ca_file();
    auto m = Manager::Open(options);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
  }
  void TearDown() override {
    manager_.reset();
    ::unsetenv("KRB5CCNAME");
  }

  std::shared_ptr<Job> NewJob(const std::string& url, const SquidServer& proxy) {
    return NewJob(url, proxy.ProxyAddress());
  }
  std::shared_ptr<Job> NewJob(const std::string& url, const std::string& proxy_address) {
    auto job = manager_->CreateJob("proxied");
    EXPECT_TRUE(job.ok());
    EXPECT_TRUE((*job)->SetPriority(JobPriority::kForeground).ok());
    EXPECT_TRUE((*job)->AddFile(url, dest_ / ("f" + std::to_string(++files_))).ok());
    EXPECT_TRUE((*job)->SetProxySettings(ProxyUsage::kOverride, proxy_address, "").ok());
    return *job;
  }

  // The users Apache's NTLM proxy logged for successful requests whose URL
  // (GET) or host:port (CONNECT) contains `needle`.
  std::vector<std::string> ApacheProxyUsers(const std::string& needle) {
    std::vector<std::string> users;
    for (const auto& e : apache_->AccessLog()) {
      if (e.status / 100 == 2 && e.uri.find(needle) != std::string::npos) users.push_back(e.user);
    }
    return users;
  }

  JobState Run(Job& job) {
    auto watcher = Watch(job);
    EXPECT_TRUE(job.Resume().ok());
    return watcher->WaitForOutcome(job);
  }

  // The users `proxy` logged for successful requests whose URL contains
  // `needle` (CONNECT tunnels are logged when they close).
  static std::vector<std::string> ProxyUsers(const SquidServer& proxy, const std::string& needle) {
    std::vector<std::string> users;
    for (const auto& e : proxy.AccessLog()) {
      if (e.url.find(needle) != std::string::npos && e.result.find("/20") != std::string::npos) {
        users.push_back(e.user);
      }
    }
    return users;
  }

  std::string ApacheUser(const std::string& uri) {
    std::string user;
    for (const auto& e : apache_->AccessLog()) {
      if (e.status / 100 == 2 && e.uri == uri) user = e.user;
    }
    return user;
  }

  static std::string Own(const std::string& path) {
    return path + "?t=" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  static std::unique_ptr<KdcServer> kdc_;
  static std::unique_ptr<ApacheServer> apache_;
  static std::unique_ptr<SquidServer> negotiate_proxy_, ntlm_proxy_, basic_proxy_;
  static std::unique_ptr<NginxServer> target_, tls_target_;
  static std::unique_ptr<TempDir> tickets_;
  static std::string bob_ccache_;
  static bool bob_ok_;

  TempDir state_;
  TempDir dest_;
  std::unique_ptr<Manager> manager_;
  int files_ = 0;
};

std::unique_ptr<KdcServer> ProxyNegotiateTest::kdc_;
std::unique_ptr<ApacheServer> ProxyNegotiateTest::apache_;
std::unique_ptr<SquidServer> ProxyNegotiateTest::negotiate_proxy_, ProxyNegotiateTest::ntlm_proxy_,
    ProxyNegotiateTest::basic_proxy_;
std::unique_ptr<NginxServer> ProxyNegotiateTest::target_, ProxyNegotiateTest::tls_target_;
std::unique_ptr<TempDir> ProxyNegotiateTest::tickets_;
std::string ProxyNegotiateTest::bob_ccache_;
bool ProxyNegotiateTest::bob_ok_ = false;

TEST_F(ProxyNegotiateTest, ImplicitProxyNegotiateForHttpAndHttpsTargets) {
  const std::string uri = Own("/file.bin");
  auto none = NewJob(target_->Url(uri + "&none"), *negotiate_proxy_);
  ASSERT_EQ(Run(*none), JobState::kError);  // no SetCredentials: UseLMCompat 2
  EXPECT_EQ(none->GetError()->code, HttpErrorCode(407));

  auto http = NewJob(target_->Url(uri), *negotiate_proxy_);
  ASSERT_TRUE(http->SetImplicitCredentials(AuthTarget::kProxy, AuthScheme::kNegotiate).ok());
  ASSERT_EQ(Run(*http), JobState::kTransferred);
  auto https = NewJob(tls_target_->Url(uri), *negotiate_proxy_);
  ASSERT_TRUE(https->SetImplicitCredentials(AuthTarget::kProxy, AuthScheme::kNegotiate).ok());
  ASSERT_EQ(Run(*https), JobState::kTransferred);
  none.reset();
  http.reset();
  https.reset();
  manager_.reset();  // closes the tunnel, which squid then logs
  const std::string bob = std::string("bob@") + KdcServer::kRealm;
  EXPECT_EQ(ProxyUsers(*negotiate_proxy_, uri), std::vector<std::string>{bob});
  bool tunnel = false;
  for (const auto& e : negotiate_proxy_->AccessLog()) {
    tunnel |= e.method == "CONNECT" && e.user == bob && e.result == "TCP_TUNNEL/200";
  }
  EXPECT_TRUE(tunnel);
}

TEST_F(ProxyNegotiateTest, ExplicitProxyNegotiateAuthenticatesAsThatUserForHttpAndHttps) {
  const std::string uri = Own("/file.bin");
  auto http = NewJob(target_->Url(uri), *negotiate_proxy_);
  ASSERT_TRUE(
      http->SetCredentials(AuthTarget::kProxy, AuthScheme::kNegotiate, "alice", "alicepw").ok());
  ASSERT_EQ(Run(*http), JobState::kTransferred)
      << http->GetError().value_or(JobErrorInfo{}).description;
  auto https = NewJob(tls_target_->Url(uri), *negotiate_proxy_);
  ASSERT_TRUE(
      https->SetCredentials(AuthTarget::kProxy, AuthScheme::kNegotiate, "alice", "alicepw").ok());
  ASSERT_EQ(Run(*https), JobState::kTransferred)
      << https->GetError().value_or(JobErrorInfo{}).description;
  http.reset();
  https.reset();
  manager_.reset();  // closes the tunnel, which squid then logs
  // alice, although the process holds bob's ticket.
  const std::string alice = std::string("alice@") + KdcServer::kRealm;
  EXPECT_EQ(ProxyUsers(*negotiate_proxy_, uri), std::vector<std::string>{alice});
  bool tunnel = false;
  for (const auto& e : negotiate_proxy_->AccessLog()) {
    tunnel |= e.method == "CONNECT" && e.user == alice && e.result == "TCP_TUNNEL/200";
  }
  EXPECT_TRUE(tunnel);
}

TEST_F(ProxyNegotiateTest, AWrongProxyNegotiatePasswordFailsWith407NamingTheScheme) {
  const std::string uri = Own("/file.bin");
  for (const std::string& url : {target_->Url(uri), tls_target_->Url(uri)}) {
    auto job = NewJob(url, *negotiate_proxy_);
    ASSERT_TRUE(
        job->SetCredentials(AuthTarget::kProxy, AuthScheme::kNegotiate, "alice", "wrong").ok());
    ASSERT_EQ(Run(*job), JobState::kError) << url;
    auto error = job->GetError();
    EXPECT_EQ(error->code, HttpErrorCode(407)) << url;
    EXPECT_NE(error->description.find("Negotiate (proxy)"), std::string::npos)
        << error->description;
    EXPECT_NE(error->description.find("password is wrong"), std::string::npos)
        << error->description;
    std::printf("reported: %s\n", error->description.c_str());
  }
  EXPECT_TRUE(ProxyUsers(*negotiate_proxy_, uri).empty());
}

TEST_F(ProxyNegotiateTest, ProxyNtlmWithExplicitCredentials) {
  const std::string uri = Own("/file.bin");
  auto job = NewJob(target_->Url(uri), *ntlm_proxy_);
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kProxy, AuthScheme::kNtlm, "TESTDOM\\alice", "alicepw").ok());
  ASSERT_EQ(Run(*job), JobState::kTransferred);
  const auto users = ProxyUsers(*ntlm_proxy_, uri);
  ASSERT_EQ(users.size(), 1u);
  EXPECT_NE(users[0].find("alice"), std::string::npos) << users[0];  // ntlm_fake_auth mangles it
}

TEST_F(ProxyNegotiateTest, ProxyNtlmForAnHttpsTarget) {
  auto job = NewJob(tls_target_->Url(Own("/file.bin")), *ntlm_proxy_);
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kProxy, AuthScheme::kNtlm, "TESTDOM\\alice", "alicepw").ok());
  ASSERT_EQ(Run(*job), JobState::kTransferred);
  job.reset();
  manager_.reset();  // squid logs a tunnel when it closes
  bool tunnelled = false;
  for (const auto& e : ntlm_proxy_->AccessLog()) {
    tunnelled |= e.method == "CONNECT" && e.user.find("alice") != std::string::npos &&
                 e.result == "TCP_TUNNEL/200";
  }
  EXPECT_TRUE(tunnelled);
}

TEST_F(ProxyNegotiateTest, RawNtlmServerAuthenticationThroughGssNtlmssp) {
  // squid's accelerator port answers 401 with WWW-Authenticate: NTLM (no
  // Negotiate): the NTLMSSP handshake over three legs on one connection.
  const std::string uri = Own("/file.bin");
  auto none = manager_->CreateJob("none");
  ASSERT_TRUE((*none)->SetPriority(JobPriority::kForeground).ok());
  const std::string url = "http://127.0.0.1:" + std::to_string(ntlm_proxy_->accel_port());
  ASSERT_TRUE((*none)->AddFile(url + uri + "&none", dest_ / "none.bin").ok());
  ASSERT_EQ(Run(**none), JobState::kError);
  EXPECT_EQ((*none)->GetError()->code, HttpErrorCode(401));
  auto job = manager_->CreateJob("ntlm");
  ASSERT_TRUE((*job)->SetPriority(JobPriority::kForeground).ok());
  ASSERT_TRUE((*job)->AddFile(url + uri, dest_ / "ntlm.bin").ok());
  ASSERT_TRUE(
      (*job)
          ->SetCredentials(AuthTarget::kServer, AuthScheme::kNtlm, "TESTDOM\\alice", "alicepw")
          .ok());
  const JobState state = Run(**job);
  auto error = (*job)->GetError();
  ASSERT_EQ(state, JobState::kTransferred)
      << (error.ok() ? FormatHResult(error->code) + " " + error->description : "");
  bool authenticated = false;
  for (const auto& e : ntlm_proxy_->AccessLog()) {
    authenticated |= e.url.find(uri) != std::string::npos &&
                     e.user.find("alice") != std::string::npos &&
                     e.result.find("/20") != std::string::npos;
  }
  EXPECT_TRUE(authenticated);
}

TEST_F(ProxyNegotiateTest, ProxyNtlmThroughGssapiForHttpAndHttpsTargets) {
  // Apache's proxy takes NTLMSSP from gss-ntlmssp only: libcurl's own NTLM
  // gets 407 there, so success means openbits answered through GSSAPI, in
  // band for the http target and in its own CONNECT for the https one.
  const std::string http_path = "/file.bin?ntlm-proxy-http";
  auto http = NewJob(target_->Url(http_path), apache_->ProxyAddress());
  ASSERT_TRUE(
      http->SetCredentials(AuthTarget::kProxy, AuthScheme::kNtlm, "TESTDOM\\alice", "alicepw")
          .ok());
  ASSERT_EQ(Run(*http), JobState::kTransferred)
      << http->GetError().value_or(JobErrorInfo{}).description;
  auto https = NewJob(tls_target_->Url("/file.bin"), apache_->ProxyAddress());
  ASSERT_TRUE(
      https->SetCredentials(AuthTarget::kProxy, AuthScheme::kNtlm, "TESTDOM\\alice", "alicepw")
          .ok());
  ASSERT_EQ(Run(*https), JobState::kTransferred)
      << https->GetError().value_or(JobErrorInfo{}).description;
  ASSERT_TRUE(https->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(dest_ / "f2"),
            testing::Sha256OfFile(tls_target_->root() + "/file.bin"));
  const auto get_users = ApacheProxyUsers("/file.bin");
  ASSERT_EQ(get_users.size(), 1u);
  EXPECT_NE(get_users[0].find("alice"), std::string::npos) << get_users[0];
  const auto tunnel_users = ApacheProxyUsers("127.0.0.1:" + std::to_string(tls_target_->port()));
  ASSERT_EQ(tunnel_users.size(), 1u);
  EXPECT_NE(tunnel_users[0].find("alice"), std::string::npos) << tunnel_users[0];
}

TEST_F(ProxyNegotiateTest, ProxyNegotiateWithNtlmsspInsideSpnegoThroughOurOwnConnect) {
  // NEGOTIATE credentials for a domain user, and a proxy that speaks only
  // NTLMSSP: SPNEGO settles on it, which takes three legs on the CONNECT.
  auto https = NewJob(tls_target_->Url("/file.bin?spnego"), apache_->ProxyAddress());
  ASSERT_TRUE(
      https
          ->SetCredentials(AuthTarget::kProxy, AuthScheme::kNegotiate, "TESTDOM\\bob", "Bob-Pass-2")
          .ok());
  ASSERT_EQ(Run(*https), JobState::kTransferred)
      << https->GetError().value_or(JobErrorInfo{}).description;
  bool bob = false;
  for (const auto& e : apache_->AccessLog()) {
    bob |= e.status == 200 && e.uri == "127.0.0.1:" + std::to_string(tls_target_->port()) &&
           e.user.find("bob") != std::string::npos;
  }
  EXPECT_TRUE(bob);
}

TEST_F(ProxyNegotiateTest, ImplicitProxyNtlmCredentialsFromGssNtlmsspForAnHttpsTarget) {
  // The logon credentials gss-ntlmssp finds (NTLM_USER_FILE, NTLMUSER),
  // given to the proxy's NTLMSSP over the legs of openbits' own CONNECT.
  const std::string users = *tickets_ / "ntlm_users";
  std::ofstream(users) << "TESTDOM:alice:alicepw\n";
  ::setenv("NTLM_USER_FILE", users.c_str(), 1);
  ::setenv("NTLMUSER", "alice", 1);
  auto https = NewJob(tls_target_->Url("/file.bin?implicit-ntlm"), apache_->ProxyAddress());
  ASSERT_TRUE(https->SetImplicitCredentials(AuthTarget::kProxy, AuthScheme::kNtlm).ok());
  const JobState outcome = Run(*https);
  ::unsetenv("NTLM_USER_FILE");
  ::unsetenv("NTLMUSER");
  ASSERT_EQ(outcome, JobState::kTransferred)
      << https->GetError().value_or(JobErrorInfo{}).description;
  const auto users_logged = ApacheProxyUsers("127.0.0.1:" + std::to_string(tls_target_->port()));
  ASSERT_FALSE(users_logged.empty());
  EXPECT_NE(users_logged.back().find("alice"), std::string::npos) << users_logged.back();
}

TEST_F(ProxyNegotiateTest, AProxyThatClosesAfterIts407GetsTheAnswerOnANewConnection) {
  const std::string proxy = "127.0.0.1:" + std::to_string(apache_->closing_proxy_port());
  auto https = NewJob(tls_target_->Url("/file.bin?closing"), proxy);
  ASSERT_TRUE(
      https->SetCredentials(AuthTarget::kProxy, AuthScheme::kNegotiate, "alice", "alicepw").ok());
  ASSERT_EQ(Run(*https), JobState::kTransferred)
      << https->GetError().value_or(JobErrorInfo{}).description;
  const auto users = ApacheProxyUsers("127.0.0.1:" + std::to_string(tls_target_->port()));
  ASSERT_FALSE(users.empty());
  EXPECT_EQ(users.back(), std::string("alice@") + KdcServer::kRealm);
}

TEST_F(ProxyNegotiateTest, AWrongProxyNtlmPasswordFailsWith407NamingNtlm) {
  for (const std::string& url :
       {target_->Url("/file.bin?ntlm-wrong"), tls_target_->Url("/file.bin?ntlm-wrong")}) {
    auto job = NewJob(url, apache_->ProxyAddress());
    ASSERT_TRUE(
        job->SetCredentials(AuthTarget::kProxy, AuthScheme::kNtlm, "TESTDOM\\alice", "wrong").ok());
    ASSERT_EQ(Run(*job), JobState::kError) << url;
    auto error = job->GetError();
    ASSERT_TRUE(error.ok());
    EXPECT_EQ(error->code, HttpErrorCode(407)) << url;
    EXPECT_NE(error->description.find("NTLM (proxy)"), std::string::npos) << error->description;
  }
}

TEST_F(ProxyNegotiateTest, ImplicitProxyCredentialsAuthenticateAtTheServerToo) {
  const std::string uri = Own("/negotiate/file.bin");
  auto job = NewJob("http://localhost:" + std::to_string(apache_->port()) + uri, *negotiate_proxy_);
  ASSERT_TRUE(job->SetImplicitCredentials(AuthTarget::kProxy, AuthScheme::kNegotiate).ok());
  ASSERT_EQ(Run(*job), JobState::kTransferred)
      << job->GetError().value_or(JobErrorInfo{}).description;
  const std::string bob = std::string("bob@") + KdcServer::kRealm;
  EXPECT_EQ(ApacheUser("/negotiate/file.bin"), bob);
  EXPECT_FALSE(ProxyUsers(*negotiate_proxy_, uri).empty());
}

TEST_F(ProxyNegotiateTest, ServerNegotiateWhenTheProxyRequiresBasicFormerlyUnsupportedByBits) {
  const std::string uri = Own("/negotiate/file.bin");
  auto job = NewJob("http://localhost:" + std::to_string(apache_->port()) + uri, *basic_proxy_);
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kProxy, AuthScheme::kBasic, "bob", "Bob-Pass-2").ok());
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kServer, AuthScheme::kNegotiate, "alice", "alicepw").ok());
  ASSERT_EQ(Run(*job), JobState::kTransferred)
      << job->GetError().value_or(JobErrorInfo{}).description;
  EXPECT_EQ(ApacheUser("/negotiate/file.bin"), std::string("alice@") + KdcServer::kRealm);
  const auto users = ProxyUsers(*basic_proxy_, uri);
  ASSERT_FALSE(users.empty());
  EXPECT_EQ(users.back(), "bob");
}

}  // namespace
}  // namespace openbits
