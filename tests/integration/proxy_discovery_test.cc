// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Proxy discovery through libproxy (openbits-proxy-resolver): AUTODETECT
// runs the PAC script named in openbits.conf, PRECONFIG follows a PAC URL in
// the environment, and a PAC script that never answers is a transient error
// that blocks nothing else. The PAC scripts route by port between two nginx
// servers, through squid.

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "openbits/hresult.h"
#include "openbits/manager.h"

#include "platform/proxy_resolver.h"
#include "tests/support/auth_servers.h"
#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::NginxServer;
using testing::SquidServer;
using testing::TempDir;
using testing::Watch;

class ProxyDiscoveryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    proxy_ = std::make_unique<SquidServer>(std::vector<std::string>{"basic"});
    proxied_ = std::make_unique<NginxServer>();
    direct_ = std::make_unique<NginxServer>();
    if (!proxied_->ok() || !direct_->ok() || !proxy_->ok()) return;
    proxied_sha_ = testing::WriteTestFile(proxied_->root() + "/file.bin", 100000, 3);
    direct_sha_ = testing::WriteTestFile(direct_->root() + "/file.bin", 110000, 4);
    // The origin (never the path) is what a PAC script sees.
    const std::string port = std::to_string(proxied_->port());
    WritePac("open.pac", "if (url.indexOf(':" + port + "/') >= 0) return 'PROXY 127.0.0.1:" +
                             std::to_string(proxy_->open_port()) + "'; return 'DIRECT';");
    WritePac("auth.pac", "if (url.indexOf(':" + port + "/') >= 0) return 'PROXY " +
                             proxy_->ProxyAddress() + "'; return 'DIRECT';");
    WritePac("stuck.pac", "while (true) {} return 'DIRECT';");
  }
  static void TearDownTestSuite() {
    proxy_.reset();
    proxied_.reset();
    direct_.reset();
  }
  static void WritePac(const std::string& name, const std::string& body) {
    std::ofstream(direct_->root() + "/" + name)
        << "function FindProxyForURL(url, host) { " << body << " }\n";
  }

  void SetUp() override {
    ASSERT_TRUE(proxy_->ok()) << proxy_->error();
    ASSERT_TRUE(proxied_->ok()) << proxied_->error();
    ASSERT_TRUE(direct_->ok()) << direct_->error();
    if (!platform::ProxyResolutionAvailable()) {
      GTEST_SKIP() << "built without libproxy (scripts/deps.sh installs libproxy-dev)";
    }
  }
  void TearDown() override {
    manager_.reset();
    ::unsetenv("http_proxy");
  }

  void Open(const std::string& proxy_section) {
    ManagerOptions options;
    options.state_directory = state_ / "queue";
    options.key_directory = state_ / "keys";
    options.policy_file = state_ / "openbits.conf";
    std::ofstream(options.policy_file) << "[proxy]\n" << proxy_section << "\n";
    auto m = Manager::Open(options);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
  }

  std::string PacUrl(const std::string& name) const { return direct_->Url("/" + name); }

  std::shared_ptr<Job> NewJob(const NginxServer& server, ProxyUsage usage) {
    auto job = manager_->CreateJob("discovery");
    EXPECT_TRUE(job.ok());
    EXPECT_TRUE((*job)->SetPriority(JobPriority::kForeground).ok());
    EXPECT_TRUE((*job)->SetProxySettings(usage, "", "").ok());
    const std::string name = "f" + std::to_string(++files_);
    EXPECT_TRUE((*job)->AddFile(server.Url("/file.bin?" + Tag() + name), dest_ / name).ok());
    return *job;
  }
  std::string LastFile() const { return dest_ / ("f" + std::to_string(files_)); }

  static std::string Tag() {
    return std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-";
  }

  // The proxy's log lines for this test's requests to `server`.
  static std::vector<SquidServer::LogEntry> Proxied(const NginxServer& server) {
    std::vector<SquidServer::LogEntry> out;
    for (const auto& e : proxy_->AccessLog()) {
      if (e.url.find(":" + std::to_string(server.port()) + "/") != std::string::npos &&
          e.url.find(Tag()) != std::string::npos) {
        out.push_back(e);
      }
    }
    return out;
  }

  JobState Run(Job& job) {
    auto watcher = Watch(job);
    EXPECT_TRUE(job.Resume().ok());
    return watcher->WaitForOutcome(job);
  }

  static std::unique_ptr<SquidServer> proxy_;
  static std::unique_ptr<NginxServer> proxied_, direct_;
  static std::string proxied_sha_, direct_sha_;

  TempDir state_;
  TempDir dest_;
  std::unique_ptr<Manager> manager_;
  int files_ = 0;
};

std::unique_ptr<SquidServer> ProxyDiscoveryTest::proxy_;
std::unique_ptr<NginxServer> ProxyDiscoveryTest::proxied_, ProxyDiscoveryTest::direct_;
std::string ProxyDiscoveryTest::proxied_sha_, ProxyDiscoveryTest::direct_sha_;

TEST_F(ProxyDiscoveryTest, AutodetectRoutesEachOriginAsThePacScriptSays) {
  Open("AutoConfigUrl = " + PacUrl("open.pac"));
  auto via_proxy = NewJob(*proxied_, ProxyUsage::kAutodetect);
  ASSERT_EQ(Run(*via_proxy), JobState::kTransferred)
      << via_proxy->GetError().value_or(JobErrorInfo{}).description;
  ASSERT_TRUE(via_proxy->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(LastFile()), proxied_sha_);
  const auto logged = Proxied(*proxied_);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0].method, "GET");

  auto direct = NewJob(*direct_, ProxyUsage::kAutodetect);
  ASSERT_EQ(Run(*direct), JobState::kTransferred)
      << direct->GetError().value_or(JobErrorInfo{}).description;
  ASSERT_TRUE(direct->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(LastFile()), direct_sha_);
  EXPECT_TRUE(Proxied(*direct_).empty());
}

TEST_F(ProxyDiscoveryTest, ADiscoveredProxyGetsTheJobsProxyCredentials) {
  Open("AutoConfigUrl = " + PacUrl("auth.pac"));
  auto without = NewJob(*proxied_, ProxyUsage::kAutodetect);
  ASSERT_EQ(Run(*without), JobState::kError);
  EXPECT_EQ(without->GetError()->code, HttpErrorCode(407));

  auto with = NewJob(*proxied_, ProxyUsage::kAutodetect);
  ASSERT_TRUE(
      with->SetCredentials(AuthTarget::kProxy, AuthScheme::kBasic, "alice", "alicepw").ok());
  ASSERT_EQ(Run(*with), JobState::kTransferred)
      << with->GetError().value_or(JobErrorInfo{}).description;
  ASSERT_TRUE(with->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(LastFile()), proxied_sha_);
  bool alice = false;
  for (const auto& e : Proxied(*proxied_)) alice |= e.user == "alice";
  EXPECT_TRUE(alice);
}

TEST_F(ProxyDiscoveryTest, PreconfigFollowsAPacUrlInTheEnvironment) {
  // libcurl does not know "pac+http://": only libproxy can follow this.
  ::setenv("http_proxy", ("pac+" + PacUrl("open.pac")).c_str(), 1);
  Open("");
  auto job = NewJob(*proxied_, ProxyUsage::kPreconfig);
  ASSERT_EQ(Run(*job), JobState::kTransferred)
      << job->GetError().value_or(JobErrorInfo{}).description;
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(testing::Sha256OfFile(LastFile()), proxied_sha_);
  EXPECT_EQ(Proxied(*proxied_).size(), 1u);
}

TEST_F(ProxyDiscoveryTest, APacScriptThatNeverAnswersBlocksNoOtherJob) {
  Open("AutoConfigUrl = " + PacUrl("stuck.pac") + "\nAutoConfigTimeout = 600");
  auto stuck = NewJob(*proxied_, ProxyUsage::kAutodetect);
  ASSERT_TRUE(stuck->Resume().ok());
  // The engine's event loop is not the one waiting for the script.
  auto other = NewJob(*direct_, ProxyUsage::kNoProxy);
  ASSERT_EQ(Run(*other), JobState::kTransferred);
  const JobState state = stuck->GetState();
  EXPECT_TRUE(state == JobState::kQueued || state == JobState::kConnecting) << JobStateName(state);
  EXPECT_EQ(stuck->GetProgress().bytes_transferred, 0u);
  // Closing the queue cancels the lookup instead of waiting ten minutes.
  manager_.reset();
}

TEST_F(ProxyDiscoveryTest, APacScriptThatTimesOutIsATransientTransportError) {
  Open("AutoConfigUrl = " + PacUrl("stuck.pac") + "\nAutoConfigTimeout = 1");
  auto job = NewJob(*proxied_, ProxyUsage::kAutodetect);
  ASSERT_EQ(Run(*job), JobState::kTransientError);
  auto error = job->GetError();
  EXPECT_EQ(error->code, kWinHttpAutodetectionFailed);
  EXPECT_EQ(error->context, ErrorContext::kGeneralTransport);
  EXPECT_NE(error->description.find("PAC script"), std::string::npos) << error->description;
}

TEST_F(ProxyDiscoveryTest, AMalformedAutoConfigUrlKeepsTheQueueClosed) {
  ManagerOptions options;
  options.state_directory = state_ / "queue";
  options.key_directory = state_ / "keys";
  options.policy_file = state_ / "openbits.conf";
  std::ofstream(options.policy_file) << "[proxy]\nAutoConfigUrl = ftp://x/proxy.pac\n";
  auto m = Manager::Open(options);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), kEInvalidArg);
  EXPECT_NE(m.status().message().find("AutoConfigUrl"), std::string::npos);
}

}  // namespace
}  // namespace openbits
