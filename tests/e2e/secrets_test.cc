// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// No secret on disk, in listings or in logs: jobs with server and proxy
// credentials and URL-embedded passwords go through bitsadmin and an
// autostarted daemon (run, completed, cancelled, carried over a restart);
// then every byte under the state, key and destination directories is
// searched for every password, as ASCII, UTF-16LE and base64.

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::NginxServer;
using testing::TempDir;

const std::string kBitsadmin = OPENBITS_BIN_DIR "/bitsadmin";
const std::string kDaemon = OPENBITS_BIN_DIR "/openbitsd";

// Distinctive strings; the first two are accepted by nginx.
const std::string kServerPassword = "SrvPw-7f3Qx-Basic-4711";
const std::string kUrlPassword = "UrlPw-9kLm2-Embedded-0815";
const std::string kProxyPassword = "PrxPw-Wv3Rt-Proxy-9182";
const std::string kNtlmPassword = "NtlmPw-Hz5Yb-Cancelled-3141";

std::string Base64(const std::string& in) {
  static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += table[(v >> s) & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < in.size() ? table[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Every form in which `secret` could leak: itself, UTF-16LE, and base64 at
// each of the three alignments it can have inside a longer encoded text
// (as in "Authorization: Basic base64(user:password)"), keeping only the
// characters that depend on the secret's bytes alone.
std::vector<std::string> LeakForms(const std::string& secret) {
  std::vector<std::string> forms = {secret};
  std::string utf16;
  for (char c : secret) {
    utf16 += c;
    utf16 += '\0';
  }
  forms.push_back(utf16);
  for (std::size_t shift = 0; shift < 3; ++shift) {
    const std::string encoded = Base64(std::string(shift, 'x') + secret);
    const std::size_t skip = (shift * 8 + 5) / 6;
    forms.push_back(encoded.substr(skip, encoded.size() - skip - 4));
  }
  return forms;
}

class SecretsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    users_ = std::make_unique<TempDir>();
    std::ofstream(*users_ / "htpasswd")
        << "ann:{PLAIN}" << kServerPassword << "\ncarl:{PLAIN}" << kUrlPassword << "\n";
    NginxServer::Options options;
    options.extra_server_config =
        "location /private/ { auth_basic \"openbits\"; "
        "auth_basic_user_file " +
        (*users_ / "htpasswd") + "; }";
    server_ = std::make_unique<NginxServer>(options);
    if (!server_->ok()) return;
    ::mkdir((server_->root() + "/private").c_str(), 0755);
    for (const char* name : {"a.bin", "b.bin", "c.bin", "d.bin"}) {
      testing::WriteTestFile(server_->root() + "/private/" + name, 200000, name[0]);
    }
  }
  static void TearDownTestSuite() {
    server_.reset();
    users_.reset();
  }

  void SetUp() override {
    ASSERT_TRUE(server_->ok()) << server_->error();
    ::setenv("OPENBITS_STATE_DIR", (state_ / "state").c_str(), 1);
    ::setenv("OPENBITS_KEY_DIR", (state_ / "keys").c_str(), 1);
    ::unsetenv("OPENBITS_SOCKET");
  }
  void TearDown() override {
    StopDaemon();
    ::unsetenv("OPENBITS_STATE_DIR");
    ::unsetenv("OPENBITS_KEY_DIR");
  }

  std::string B(std::vector<std::string> args, int expected_status = 0) {
    args.insert(args.begin(), kBitsadmin);
    std::string out;
    EXPECT_EQ(testing::RunProgram(args, &out), expected_status) << args[1] << ": " << out;
    return out;
  }

  void StopDaemon() {
    std::ifstream in(state_ / "state/openbitsd.pid");
    pid_t pid = -1;
    if (in >> pid && pid > 0 && ::kill(pid, SIGTERM) == 0) {
      EXPECT_TRUE(testing::WaitForExit(pid, std::chrono::seconds(30)));
    }
  }

  // Resumes `job` and waits until the daemon reports its outcome.
  std::string RunJob(const std::string& job) {
    testing::LineFifo fifo(dest_ / ("outcome-" + job));
    B({"/setnotifycmdline", job, "/bin/sh", "sh -c \"echo done > " + fifo.path() + "\""});
    B({"/resume", job});
    EXPECT_EQ(fifo.ReadLine(std::chrono::seconds(60)), "done");
    return B({"/rawreturn", "/getstate", job});
  }

  std::string PrivateUrl(const std::string& name, const std::string& userinfo = "") const {
    return "http://" + userinfo + "127.0.0.1:" + std::to_string(server_->port()) + "/private/" +
           name;
  }

  static std::unique_ptr<TempDir> users_;
  static std::unique_ptr<NginxServer> server_;
  TempDir state_;
  TempDir dest_;
};

std::unique_ptr<TempDir> SecretsTest::users_;
std::unique_ptr<NginxServer> SecretsTest::server_;

TEST_F(SecretsTest, NoPasswordInAnyFileListingOrLog) {
  const std::vector<std::string> passwords = {kServerPassword, kUrlPassword, kProxyPassword,
                                              kNtlmPassword};
  // The search can fail: it finds a password inside a Basic header.
  for (const char* user : {"ann:", "carl:", "ab:"}) {
    const std::string header = "Authorization: Basic " + Base64(user + std::string(kUrlPassword));
    bool found = false;
    for (const std::string& form : LeakForms(kUrlPassword)) {
      found |= header.find(form) != std::string::npos;
    }
    ASSERT_TRUE(found) << header;
  }
  std::string shown;  // everything bitsadmin printed

  // Server credentials: run and completed.
  B({"/create", "server-creds"});
  shown += B({"/setcredentials", "server-creds", "SERVER", "BASIC", "ann", kServerPassword});
  B({"/addfile", "server-creds", PrivateUrl("a.bin"), dest_ / "a.bin"});
  B({"/setpriority", "server-creds", "FOREGROUND"});
  EXPECT_EQ(RunJob("server-creds"), "TRANSFERRED");
  shown += B({"/complete", "server-creds"});

  // A URL password plus proxy credentials: transferred, left in the queue.
  B({"/create", "url-creds"});
  shown += B({"/addfile", "url-creds", PrivateUrl("b.bin", "carl:" + kUrlPassword + "@"),
              dest_ / "b.bin"});
  shown += B({"/setcredentials", "url-creds", "PROXY", "BASIC", "proxyuser", kProxyPassword});
  B({"/setpriority", "url-creds", "FOREGROUND"});
  EXPECT_EQ(RunJob("url-creds"), "TRANSFERRED");

  // Credentials on a job that is cancelled.
  B({"/create", "cancelled"});
  shown += B({"/setcredentials", "cancelled", "SERVER", "NTLM", "ann", kNtlmPassword});
  B({"/addfile", "cancelled", PrivateUrl("c.bin", "carl:" + kUrlPassword + "@"), dest_ / "c.bin"});
  shown += B({"/cancel", "cancelled"});

  // A URL password on a job that only runs after the restart.
  B({"/create", "after-restart"});
  shown += B({"/addfile", "after-restart", PrivateUrl("d.bin", "carl:" + kUrlPassword + "@"),
              dest_ / "d.bin"});
  B({"/setpriority", "after-restart", "FOREGROUND"});

  const auto look = [&]() {
    shown += B({"/list"});
    shown += B({"/list", "/verbose"});
    shown += B({"/list", "/allusers", "/verbose"});  // as root
    shown += B({"/info", "url-creds", "/verbose"});
    shown += B({"/info", "after-restart", "/verbose"});
    shown += B({"/listfiles", "url-creds"});
    shown += B({"/geterror", "url-creds"}, 1);
  };
  look();
  // Listings show the user name with the password masked.
  EXPECT_NE(shown.find("carl:****@127.0.0.1"), std::string::npos) << shown;

  StopDaemon();  // restart: the next bitsadmin call starts a new daemon
  look();
  EXPECT_EQ(RunJob("after-restart"), "TRANSFERRED");
  shown += B({"/complete", "after-restart"});
  shown += B({"/complete", "url-creds"});
  StopDaemon();

  for (const std::string& password : passwords) {
    for (const std::string& form : LeakForms(password)) {
      EXPECT_EQ(shown.find(form), std::string::npos) << "bitsadmin printed " << password;
    }
  }
  std::size_t files_scanned = 0;
  for (const std::string& root : {state_.path(), dest_.path()}) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      ++files_scanned;
      for (const std::string& password : passwords) {
        for (const std::string& form : LeakForms(password)) {
          EXPECT_EQ(bytes.find(form), std::string::npos)
              << entry.path() << " holds " << password << " (form of " << form.size() << " bytes)";
        }
      }
    }
  }
  // The database, its WAL, the log, the key and the downloaded files.
  EXPECT_GE(files_scanned, 6u);
  EXPECT_TRUE(std::filesystem::exists(state_ / "state/openbitsd.log"));
  EXPECT_TRUE(std::filesystem::exists(state_ / "state/queue.db"));
}

TEST_F(SecretsTest, RotateKeyThroughTheDaemonBinaryKeepsJobsWorking) {
  B({"/create", "rotated"});
  B({"/addfile", "rotated", PrivateUrl("a.bin"), dest_ / "a.bin"});
  B({"/setcredentials", "rotated", "SERVER", "BASIC", "ann", kServerPassword});
  B({"/setpriority", "rotated", "FOREGROUND"});
  std::string out;
  // Refused while the daemon runs: it owns the queue.
  EXPECT_EQ(testing::RunProgram({kDaemon, "--rotate-key"}, &out), 1);
  StopDaemon();
  const auto before = testing::ListDirectory(state_ / "keys");
  ASSERT_EQ(testing::RunProgram({kDaemon, "--rotate-key"}, &out), 0) << out;
  const auto after = testing::ListDirectory(state_ / "keys");
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(before, after);
  EXPECT_EQ(RunJob("rotated"), "TRANSFERRED");
}

TEST_F(SecretsTest, AKeyWithTheWrongModeStopsTheDaemonFromStartingWithAClearMessage) {
  B({"/create", "keyed"});
  B({"/setcredentials", "keyed", "SERVER", "BASIC", "ann", kServerPassword});
  StopDaemon();
  const auto keys = testing::ListDirectory(state_ / "keys");
  ASSERT_EQ(keys.size(), 1u);
  ASSERT_EQ(::chmod((state_ / "keys/" + keys[0]).c_str(), 0644), 0);
  std::string out;
  const int status = testing::RunProgram({kDaemon, "--foreground"}, &out);
  EXPECT_EQ(status, 1);
  B({"/list"}, 3);  // bitsadmin cannot start it either: "daemon unreachable"
  ASSERT_EQ(::chmod((state_ / "keys/" + keys[0]).c_str(), 0600), 0);
  EXPECT_NE(B({"/list"}).find("keyed"), std::string::npos);
}

}  // namespace
}  // namespace openbits
