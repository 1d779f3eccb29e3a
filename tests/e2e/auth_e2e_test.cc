// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Authentication through bitsadmin and the daemon: Negotiate with explicit
// credentials, implicit credentials from the ticket of the calling client
// (the daemon learns its KRB5CCNAME) at the server and at a proxy, Digest,
// and failures reported by /geterror.

#include <signal.h>

#include <fstream>

#include <gtest/gtest.h>

#include "tests/support/auth_servers.h"
#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::ApacheServer;
using testing::KdcServer;
using testing::NginxServer;
using testing::SquidServer;
using testing::TempDir;

const std::string kBitsadmin = OPENBITS_BIN_DIR "/bitsadmin";

class AuthE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    kdc_ = std::make_unique<KdcServer>();
    if (!kdc_->ok()) return;
    apache_ = std::make_unique<ApacheServer>(kdc_.get());
    if (!apache_->ok()) return;
    for (const char* dir : {"negotiate", "digest"}) {
      testing::WriteTestFile(apache_->root() + "/" + dir + "/file.bin", 70000, dir[0]);
    }
    proxy_ = std::make_unique<SquidServer>(std::vector<std::string>{"negotiate"}, kdc_.get());
    target_ = std::make_unique<NginxServer>();
    if (target_->ok()) testing::WriteTestFile(target_->root() + "/file.bin", 50000, 7);
  }
  static void TearDownTestSuite() {
    proxy_.reset();
    target_.reset();
    apache_.reset();
    kdc_.reset();
  }

  void SetUp() override {
    ASSERT_TRUE(kdc_->ok()) << kdc_->error();
    ASSERT_TRUE(apache_->ok()) << apache_->error();
    ::setenv("OPENBITS_STATE_DIR", (state_ / "state").c_str(), 1);
    ::setenv("OPENBITS_KEY_DIR", (state_ / "keys").c_str(), 1);
    bob_ = "FILE:" + (state_ / "bob.ccache");
    alice_ = "FILE:" + (state_ / "alice.ccache");
    ASSERT_TRUE(kdc_->Kinit("bob", "Bob-Pass-2", bob_));
    ASSERT_TRUE(kdc_->Kinit("alice", "alicepw", alice_));
    ::setenv("KRB5CCNAME", bob_.c_str(), 1);  // the daemon starts with bob's ticket
  }
  void TearDown() override {
    std::ifstream in(state_ / "state/openbitsd.pid");
    pid_t pid = -1;
    if (in >> pid && pid > 0 && ::kill(pid, SIGTERM) == 0) {
      EXPECT_TRUE(testing::WaitForExit(pid, std::chrono::seconds(30)));
    }
    ::unsetenv("OPENBITS_STATE_DIR");
    ::unsetenv("OPENBITS_KEY_DIR");
    ::unsetenv("KRB5CCNAME");
  }

  std::string B(std::vector<std::string> args, int expected_status = 0) {
    args.insert(args.begin(), kBitsadmin);
    std::string out;
    EXPECT_EQ(testing::RunProgram(args, &out), expected_status) << args[1] << ": " << out;
    return out;
  }

  // Creates a FOREGROUND job for `path` on Apache (as http://localhost).
  void NewJob(const std::string& name, const std::string& path) {
    B({"/create", name});
    B({"/addfile", name, "http://localhost:" + std::to_string(apache_->port()) + path,
       dest_ / name});
    B({"/setpriority", name, "FOREGROUND"});
  }

  std::string RunJob(const std::string& job) {
    testing::LineFifo fifo(dest_ / ("outcome-" + job));
    B({"/setnotifycmdline", job, "/bin/sh", "sh -c \"echo done > " + fifo.path() + "\""});
    B({"/resume", job});
    EXPECT_EQ(fifo.ReadLine(std::chrono::seconds(60)), "done");
    return B({"/rawreturn", "/getstate", job});
  }

  std::string LastUser(const std::string& uri) {
    std::string user;
    for (const auto& e : apache_->AccessLog()) {
      if (e.status / 100 == 2 && e.uri == uri) user = e.user;
    }
    return user;
  }

  static std::unique_ptr<KdcServer> kdc_;
  static std::unique_ptr<ApacheServer> apache_;
  static std::unique_ptr<SquidServer> proxy_;
  static std::unique_ptr<NginxServer> target_;
  TempDir state_;
  TempDir dest_;
  std::string bob_, alice_;
};

std::unique_ptr<KdcServer> AuthE2eTest::kdc_;
std::unique_ptr<ApacheServer> AuthE2eTest::apache_;
std::unique_ptr<SquidServer> AuthE2eTest::proxy_;
std::unique_ptr<NginxServer> AuthE2eTest::target_;

TEST_F(AuthE2eTest, ExplicitNegotiateCredentialsThroughBitsadmin) {
  NewJob("explicit", "/negotiate/file.bin");
  B({"/setcredentials", "explicit", "SERVER", "NEGOTIATE", "alice", "alicepw"});
  EXPECT_EQ(RunJob("explicit"), "TRANSFERRED");
  EXPECT_EQ(LastUser("/negotiate/file.bin"), std::string("alice@") + KdcServer::kRealm);
}

TEST_F(AuthE2eTest, ImplicitCredentialsAreTheCallingClientsTicket) {
  B({"/list"});  // starts the daemon with bob's KRB5CCNAME in its environment
  ::setenv("KRB5CCNAME", alice_.c_str(), 1);
  NewJob("implicit", "/negotiate/file.bin");
  B({"/setcredentials", "implicit", "SERVER", "NEGOTIATE", "NULL", "NULL"});
  EXPECT_EQ(RunJob("implicit"), "TRANSFERRED");
  EXPECT_EQ(LastUser("/negotiate/file.bin"), std::string("alice@") + KdcServer::kRealm);
}

TEST_F(AuthE2eTest, ImplicitProxyCredentialsAreTheCallingClientsTicket) {
  ASSERT_TRUE(proxy_->ok()) << proxy_->error();
  ASSERT_TRUE(target_->ok()) << target_->error();
  B({"/list"});  // starts the daemon with bob's KRB5CCNAME in its environment
  ::setenv("KRB5CCNAME", alice_.c_str(), 1);
  const std::string uri = "/file.bin?implicit-proxy";
  B({"/create", "proxied"});
  B({"/addfile", "proxied", target_->Url(uri), dest_ / "proxied"});
  B({"/setpriority", "proxied", "FOREGROUND"});
  B({"/setproxysettings", "proxied", "OVERRIDE", proxy_->ProxyAddress(), "NULL"});
  B({"/setcredentials", "proxied", "PROXY", "NEGOTIATE", "NULL", "NULL"});
  EXPECT_EQ(RunJob("proxied"), "TRANSFERRED");
  std::vector<std::string> users;
  for (const auto& e : proxy_->AccessLog()) {
    if (e.url.find(uri) != std::string::npos && e.result.find("/20") != std::string::npos) {
      users.push_back(e.user);
    }
  }
  // alice, although the daemon itself holds bob's ticket.
  EXPECT_EQ(users, std::vector<std::string>{std::string("alice@") + KdcServer::kRealm});
}

TEST_F(AuthE2eTest, DigestAndItsFailureThroughBitsadmin) {
  NewJob("digest-bad", "/digest/file.bin");
  B({"/setcredentials", "digest-bad", "SERVER", "DIGEST", "alice", "wrong"});
  EXPECT_EQ(RunJob("digest-bad"), "ERROR");
  EXPECT_NE(B({"/geterror", "digest-bad"}).find("ERROR CODE:    0x80190191"), std::string::npos);
  NewJob("digest", "/digest/file.bin");
  B({"/setcredentials", "digest", "SERVER", "DIGEST", "alice", "alicepw"});
  EXPECT_EQ(RunJob("digest"), "TRANSFERRED");
  EXPECT_EQ(LastUser("/digest/file.bin"), "alice");
}

}  // namespace
}  // namespace openbits
