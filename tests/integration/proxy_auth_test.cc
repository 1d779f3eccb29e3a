// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Server and proxy authentication against real servers: Apache (Basic,
// Digest), squid (proxy Basic, proxy Digest, and an open port), nginx (plain
// and TLS targets, a cross-host redirect). Includes two combinations BITS
// lists as unsupported: any server scheme behind a Digest proxy, and HTTPS
// through a Digest proxy.

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "openbits/hresult.h"
#include "openbits/manager.h"

#include "platform/proxy_resolver.h"
#include "tests/support/auth_servers.h"
#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::ApacheServer;
using testing::NginxServer;
using testing::SquidServer;
using testing::TempDir;
using testing::Watch;

class ProxyAuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    apache_ = std::make_unique<ApacheServer>();
    basic_proxy_ = std::make_unique<SquidServer>(std::vector<std::string>{"basic"});
    digest_proxy_ = std::make_unique<SquidServer>(std::vector<std::string>{"digest"});
    target_ = std::make_unique<NginxServer>();
    NginxServer::Options tls;
    tls.tls = true;
    tls_target_ = std::make_unique<NginxServer>(tls);
    if (!apache_->ok() || !target_->ok() || !tls_target_->ok()) return;
    for (const char* dir : {"basic", "digest", "public"}) {
      shas_[dir] =
          testing::WriteTestFile(apache_->root() + "/" + dir + "/file.bin", 150000, dir[0]);
    }
    shas_["target"] = testing::WriteTestFile(target_->root() + "/file.bin", 120000, 7);
    shas_["tls"] = testing::WriteTestFile(tls_target_->root() + "/file.bin", 130000, 8);
  }
  static void TearDownTestSuite() {
    apache_.reset();
    basic_proxy_.reset();
    digest_proxy_.reset();
    target_.reset();
    tls_target_.reset();
  }

  void SetUp() override {
    ASSERT_TRUE(apache_->ok()) << apache_->error();
    ASSERT_TRUE(basic_proxy_->ok()) << basic_proxy_->error();
    ASSERT_TRUE(digest_proxy_->ok()) << digest_proxy_->error();
    ASSERT_TRUE(target_->ok()) << target_->error();
    ASSERT_TRUE(tls_target_->ok()) << tls_target_->error();
    ManagerOptions options;
    options.state_directory = state_ / "queue";
    options.key_directory = state_ / "keys";
    options.additional_ca_file = tls_target_->ca_file();
    auto m = Manager::Open(options);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
  }

  std::shared_ptr<Job> NewJob(const std::string& url) {
    auto job = manager_->CreateJob("auth");
    EXPECT_TRUE(job.ok());
    EXPECT_TRUE((*job)->SetPriority(JobPriority::kForeground).ok());
    EXPECT_TRUE((*job)->AddFile(url, dest_ / ("f" + std::to_string(++files_))).ok());
    return *job;
  }

  JobState Run(Job& job) {
    auto watcher = Watch(job);
    EXPECT_TRUE(job.Resume().ok());
    return watcher->WaitForOutcome(job);
  }

  std::string Downloaded() const { return dest_ / ("f" + std::to_string(files_)); }

  static std::string Own(const std::string& path) {
    return path + "?t=" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  // Users the proxy logged for requests whose URL contains `needle`.
  static std::vector<std::string> ProxyUsers(const SquidServer& proxy, const std::string& needle) {
    std::vector<std::string> users;
    for (const auto& e : proxy.AccessLog()) {
      if (e.url.find(needle) != std::string::npos && e.result.find("/40") == std::string::npos) {
        users.push_back(e.user);
      }
    }
    return users;
  }

  static std::unique_ptr<ApacheServer> apache_;
  static std::unique_ptr<SquidServer> basic_proxy_, digest_proxy_;
  static std::unique_ptr<NginxServer> target_, tls_target_;
  static std::map<std::string, std::string> shas_;

  TempDir state_;
  TempDir dest_;
  std::unique_ptr<Manager> manager_;
  int files_ = 0;
};

std::unique_ptr<ApacheServer> ProxyAuthTest::apache_;
std::unique_ptr<SquidServer> ProxyAuthTest::basic_proxy_, ProxyAuthTest::digest_proxy_;
std::unique_ptr<NginxServer> ProxyAuthTest::target_, ProxyAuthTest::tls_target_;
std::map<std::string, std::string> ProxyAuthTest::shas_;

TEST_F(ProxyAuthTest, DigestServerAuthenticationWithGoodAndBadPasswords) {
  const std::string uri = Own("/digest/file.bin");
  auto bad = NewJob(apache_->Url(uri + "&bad"));
  ASSERT_TRUE(bad->SetCredentials(AuthTarget::kServer, AuthScheme::kDigest, "alice", "nope").ok());
  ASSERT_EQ(Run(*bad), JobState::kError);
  EXPECT_EQ(bad->GetError()->code, HttpErrorCode(401));

  auto good = NewJob(apache_->Url(uri));
  ASSERT_TRUE(
      good->SetCredentials(AuthTarget::kServer, AuthScheme::kDigest, "alice", "alicepw").ok());
  ASSERT_EQ(Run(*good), JobState::kTransferred);
  ASSERT_TRUE(good->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(Downloaded()), shas_["digest"]);
  bool authenticated = false;
  for (const auto& e : apache_->AccessLog()) {
    authenticated |= e.status / 100 == 2 && e.user == "alice" && e.uri == "/digest/file.bin";
  }
  EXPECT_TRUE(authenticated);
}

TEST_F(ProxyAuthTest, BasicCredentialsDoNotAnswerADigestChallenge) {
  auto job = NewJob(apache_->Url(Own("/digest/file.bin")));
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "alice", "alicepw").ok());
  ASSERT_EQ(Run(*job), JobState::kError);
  EXPECT_EQ(job->GetError()->code, HttpErrorCode(401));
}

TEST_F(ProxyAuthTest, ProxyBasicForAnHttpTargetAnd407WithoutCredentials) {
  const std::string uri = Own("/file.bin");
  auto none = NewJob(target_->Url(uri + "&none"));
  ASSERT_TRUE(none->SetProxySettings(ProxyUsage::kOverride, basic_proxy_->ProxyAddress(), "").ok());
  ASSERT_EQ(Run(*none), JobState::kError);
  EXPECT_EQ(none->GetError()->code, HttpErrorCode(407));

  auto job = NewJob(target_->Url(uri));
  ASSERT_TRUE(job->SetProxySettings(ProxyUsage::kOverride, basic_proxy_->ProxyAddress(), "").ok());
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kProxy, AuthScheme::kBasic, "bob", "Bob-Pass-2").ok());
  ASSERT_EQ(Run(*job), JobState::kTransferred);
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(Downloaded()), shas_["target"]);
  EXPECT_EQ(ProxyUsers(*basic_proxy_, uri), std::vector<std::string>{"bob"});
  auto settings = job->GetProxySettings();
  EXPECT_EQ(settings.usage, ProxyUsage::kOverride);
}

TEST_F(ProxyAuthTest, HttpsThroughABasicProxy) {
  const std::string uri = Own("/file.bin");
  auto job = NewJob(tls_target_->Url(uri));
  ASSERT_TRUE(job->SetProxySettings(ProxyUsage::kOverride, basic_proxy_->ProxyAddress(), "").ok());
  ASSERT_TRUE(job->SetCredentials(AuthTarget::kProxy, AuthScheme::kBasic, "alice", "alicepw").ok());
  ASSERT_EQ(Run(*job), JobState::kTransferred);
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(Downloaded()), shas_["tls"]);
  job.reset();
  manager_.reset();  // squid logs a tunnel when it closes
  bool tunnelled = false;
  for (const auto& e : basic_proxy_->AccessLog()) {
    tunnelled |= e.method == "CONNECT" && e.user == "alice" && e.result == "TCP_TUNNEL/200";
  }
  EXPECT_TRUE(tunnelled);
}

TEST_F(ProxyAuthTest, HttpsThroughADigestProxyFormerlyUnsupportedByBits) {
  const std::string uri = Own("/file.bin");
  auto none = NewJob(tls_target_->Url(uri + "&none"));
  ASSERT_TRUE(
      none->SetProxySettings(ProxyUsage::kOverride, digest_proxy_->ProxyAddress(), "").ok());
  ASSERT_EQ(Run(*none), JobState::kError);
  EXPECT_EQ(none->GetError()->code, HttpErrorCode(407));  // the CONNECT was refused

  auto job = NewJob(tls_target_->Url(uri));
  ASSERT_TRUE(job->SetProxySettings(ProxyUsage::kOverride, digest_proxy_->ProxyAddress(), "").ok());
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kProxy, AuthScheme::kDigest, "alice", "alicepw").ok());
  ASSERT_EQ(Run(*job), JobState::kTransferred);
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(Downloaded()), shas_["tls"]);
  // squid logs a tunnel when it closes: close our connections first.
  job.reset();
  none.reset();
  manager_.reset();
  bool tunnelled = false;
  for (const auto& e : digest_proxy_->AccessLog()) {
    tunnelled |= e.method == "CONNECT" && e.user == "alice" && e.result == "TCP_TUNNEL/200";
  }
  EXPECT_TRUE(tunnelled);
}

TEST_F(ProxyAuthTest, ServerSchemesBehindADigestProxyFormerlyUnsupportedByBits) {
  for (const char* dir : {"basic", "digest"}) {
    const std::string uri = Own(std::string("/") + dir + "/file.bin");
    auto job = NewJob(apache_->Url(uri));
    ASSERT_TRUE(
        job->SetProxySettings(ProxyUsage::kOverride, digest_proxy_->ProxyAddress(), "").ok());
    ASSERT_TRUE(
        job->SetCredentials(AuthTarget::kProxy, AuthScheme::kDigest, "bob", "Bob-Pass-2").ok());
    const AuthScheme server = dir[0] == 'b' ? AuthScheme::kBasic : AuthScheme::kDigest;
    ASSERT_TRUE(job->SetCredentials(AuthTarget::kServer, server, "alice", "alicepw").ok());
    ASSERT_EQ(Run(*job), JobState::kTransferred) << dir;
    ASSERT_TRUE(job->Complete().ok());
    EXPECT_EQ(testing::Sha256OfFile(Downloaded()), shas_[dir]);
    const auto users = ProxyUsers(*digest_proxy_, uri);
    ASSERT_FALSE(users.empty()) << dir;
    EXPECT_EQ(users.back(), "bob");
  }
}

TEST_F(ProxyAuthTest, UsageDecidesTheRoute) {
  // PRECONFIG follows the environment; NO_PROXY and a bypass entry ignore it.
  const std::string proxy = "http://127.0.0.1:" + std::to_string(basic_proxy_->open_port());
  ::setenv("http_proxy", proxy.c_str(), 1);
  const std::string uri = Own("/file.bin");
  auto preconfig = NewJob(target_->Url(uri + "&preconfig"));
  auto direct = NewJob(target_->Url(uri + "&direct"));
  ASSERT_TRUE(direct->SetProxySettings(ProxyUsage::kNoProxy, "", "").ok());
  auto bypassed = NewJob(target_->Url(uri + "&bypassed"));
  ASSERT_TRUE(bypassed
                  ->SetProxySettings(ProxyUsage::kOverride,
                                     "127.0.0.1:" + std::to_string(basic_proxy_->port()),
                                     "example.org 127.0.0.1")
                  .ok());
  EXPECT_EQ(Run(*preconfig), JobState::kTransferred);
  EXPECT_EQ(Run(*direct), JobState::kTransferred);
  EXPECT_EQ(Run(*bypassed), JobState::kTransferred);
  ::unsetenv("http_proxy");
  EXPECT_EQ(ProxyUsers(*basic_proxy_, uri + "&preconfig").size(), 1u);
  EXPECT_TRUE(ProxyUsers(*basic_proxy_, uri + "&direct").empty());
  EXPECT_TRUE(ProxyUsers(*basic_proxy_, uri + "&bypassed").empty());
  EXPECT_EQ(preconfig->GetInfo().proxy.usage, ProxyUsage::kPreconfig);
}

TEST_F(ProxyAuthTest, CredentialsAreNotSentAfterARedirectToAnotherHost) {
  NginxServer::Options options;
  NginxServer other;
  ASSERT_TRUE(other.ok());
  testing::WriteTestFile(other.root() + "/moved.bin", 5000, 9);
  NginxServer redirector(NginxServer::Options{"location /old { return 302 http://localhost:" +
                                              std::to_string(other.port()) + "/moved.bin; }"});
  ASSERT_TRUE(redirector.ok());
  auto job = NewJob(redirector.Url("/old"));
  ASSERT_TRUE(
      job->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "alice", "alicepw").ok());
  ASSERT_EQ(Run(*job), JobState::kTransferred);
  auto first = redirector.AccessLogFor("/old");
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(first[0].remote_user, "alice");  // sent to the host it was set for
  auto second = other.AccessLogFor("/moved.bin");
  ASSERT_FALSE(second.empty());
  for (const auto& e : second) EXPECT_TRUE(e.remote_user.empty() || e.remote_user == "-");
}

TEST_F(ProxyAuthTest, BadProxySettingsAreRefused) {
  auto job = NewJob(target_->Url(Own("/file.bin")));
  EXPECT_EQ(job->SetProxySettings(ProxyUsage::kOverride, "", "").code(), kEInvalidArg);
  EXPECT_EQ(job->SetProxySettings(ProxyUsage::kNoProxy, "p:1", "").code(), kEInvalidArg);
  EXPECT_EQ(job->SetProxySettings(ProxyUsage::kAutodetect, "p:1", "").code(),
            platform::ProxyResolutionAvailable() ? kEInvalidArg : kENotImpl);
  EXPECT_EQ(job->GetProxySettings().usage, ProxyUsage::kPreconfig);
}

}  // namespace
}  // namespace openbits
