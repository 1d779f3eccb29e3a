// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// bitsadmin against an autostarted openbitsd and a real nginx: output
// formats (bits-api.md §6.3), exit statuses, daemon lifetime.

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sys/socket.h>
#include <sys/un.h>

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::NginxServer;
using testing::Sha256OfFile;
using testing::TempDir;

const std::string kBitsadmin = OPENBITS_BIN_DIR "/bitsadmin";
const std::string kDaemon = OPENBITS_BIN_DIR "/openbitsd";
constexpr std::uint64_t kMiB = 1024 * 1024;

struct Outcome {
  int status;
  std::string out;
};

class BitsadminTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = std::make_unique<NginxServer>(NginxServer::Options{
        "    location /slow/ { alias $ROOT/; limit_rate 2m; sendfile_max_chunk 64k; }\n"});
    ASSERT_TRUE(server_->ok()) << server_->error();
    sha_ = testing::WriteTestFile(server_->root() + "/file.bin", 6 * kMiB, 5);
    small_sha_ = testing::WriteTestFile(server_->root() + "/small.bin", 1000, 6);
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ::setenv("OPENBITS_STATE_DIR", (state_ / "state").c_str(), 1);
    ::setenv("OPENBITS_KEY_DIR", (state_ / "keys").c_str(), 1);
    ::unsetenv("OPENBITS_SOCKET");
  }
  void TearDown() override {
    StopDaemon();
    ::unsetenv("OPENBITS_STATE_DIR");
    ::unsetenv("OPENBITS_KEY_DIR");
  }

  Outcome B(std::vector<std::string> args) {
    args.insert(args.begin(), kBitsadmin);
    Outcome r;
    r.status = testing::RunProgram(args, &r.out);
    return r;
  }

  pid_t DaemonPid() {
    std::ifstream in(state_ / "state/openbitsd.pid");
    pid_t pid = -1;
    in >> pid;
    return pid;
  }

  // Stops the daemon and waits for its process to end.
  void StopDaemon() {
    const pid_t pid = DaemonPid();
    if (pid <= 0 || ::kill(pid, SIGTERM) != 0) return;
    EXPECT_TRUE(testing::WaitForExit(pid, std::chrono::seconds(30)));
  }

  // Makes the daemon signal `job`'s next TRANSFERRED (or ERROR) through
  // `fifo`: the notify command line, run by the daemon, writes a line.
  void SignalOnOutcome(const std::string& job, const testing::LineFifo& fifo) {
    ASSERT_EQ(B({"/setnotifycmdline", job, "/bin/sh", "sh -c \"echo done > " + fifo.path() + "\""})
                  .status,
              0);
  }

  static std::unique_ptr<NginxServer> server_;
  static std::string sha_, small_sha_;
  TempDir state_;
  TempDir dest_;
};

std::unique_ptr<NginxServer> BitsadminTest::server_;
std::string BitsadminTest::sha_, BitsadminTest::small_sha_;

TEST_F(BitsadminTest, CreateAddResumeCompleteWithBitsadminOutput) {
  Outcome create = B({"/create", "nightly"});
  ASSERT_EQ(create.status, 0) << create.out;
  // "Created job {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}.\n"
  ASSERT_EQ(create.out.size(), std::string("Created job .\n").size() + 38) << create.out;
  ASSERT_EQ(create.out.rfind("Created job {", 0), 0u) << create.out;
  ASSERT_EQ(create.out.substr(create.out.size() - 3), "}.\n") << create.out;
  const std::string id = create.out.substr(12, 38);
  EXPECT_EQ(B({"/rawreturn", "/create", "second"}).out.size(), 38u);  // just the GUID

  EXPECT_EQ(B({"/addfile", "nightly", server_->Url("/file.bin"), dest_ / "file.bin"}).out,
            "Added " + server_->Url("/file.bin") + " -> " + (dest_ / "file.bin") + " to job.\n");
  Outcome list = B({"/list"});
  EXPECT_NE(list.out.find(id + " nightly SUSPENDED 0 / 1 0 / UNKNOWN\n"), std::string::npos)
      << list.out;
  EXPECT_NE(list.out.find("\nListed 2 job(s).\n"), std::string::npos) << list.out;

  Outcome info = B({"/info", id, "/verbose"});
  EXPECT_NE(info.out.find("GUID: " + id + " DISPLAY: nightly\n"), std::string::npos);
  EXPECT_NE(info.out.find("TYPE: DOWNLOAD STATE: SUSPENDED OWNER: "), std::string::npos);
  EXPECT_NE(info.out.find("PRIORITY: NORMAL FILES: 0 / 1 BYTES: 0 / UNKNOWN\n"), std::string::npos);
  EXPECT_NE(info.out.find("NOTIFY INTERFACE: UNREGISTERED NOTIFICATION FLAGS: 3\n"),
            std::string::npos);
  EXPECT_NE(info.out.find("RETRY DELAY: 600 NO PROGRESS TIMEOUT: 1209600 ERROR COUNT: 0\n"),
            std::string::npos);
  EXPECT_NE(info.out.find("JOB FILES:\n0 / UNKNOWN WORKING " + server_->Url("/file.bin")),
            std::string::npos);

  EXPECT_EQ(B({"/setpriority", "nightly", "foreground"}).out, "priority set to FOREGROUND.\n");
  EXPECT_EQ(B({"/rawreturn", "/getpriority", "nightly"}).out, "FOREGROUND");
  EXPECT_EQ(B({"/rawreturn", "/getmaxconcurrentfiles", "nightly"}).out, "1");
  EXPECT_EQ(B({"/setmaxconcurrentfiles", "nightly", "17"}).status, 1);
  EXPECT_EQ(B({"/setmaxconcurrentfiles", "nightly", "4"}).out, "maxConcurrentFiles set to 4.\n");
  EXPECT_EQ(B({"/rawreturn", "/getmaxconcurrentfiles", "nightly"}).out, "4");
  testing::LineFifo outcome(state_ / "outcome");
  SignalOnOutcome(id, outcome);
  EXPECT_EQ(B({"/resume", "nightly"}).out, "Job resumed.\n");
  ASSERT_EQ(outcome.ReadLine(std::chrono::seconds(60)), "done");
  EXPECT_EQ(B({"/rawreturn", "/getstate", id}).out, "TRANSFERRED");
  EXPECT_EQ(B({"/rawreturn", "/getbytestotal", id}).out, std::to_string(6 * kMiB));
  EXPECT_EQ(B({"/complete", id}).out, "Job completed.\n");
  EXPECT_EQ(Sha256OfFile(dest_ / "file.bin"), sha_);
  Outcome reset = B({"/reset"});
  EXPECT_NE(reset.out.find("1 out of 1 jobs canceled.\n"), std::string::npos) << reset.out;
}

TEST_F(BitsadminTest, TransferCompletesOrFailsWithTheRightExitStatus) {
  Outcome ok = B({"/transfer", "t1", "/priority", "foreground", server_->Url("/small.bin"),
                  dest_ / "small.bin"});
  EXPECT_EQ(ok.status, 0) << ok.out;
  EXPECT_NE(ok.out.find("Transfer complete.\n"), std::string::npos) << ok.out;
  EXPECT_EQ(Sha256OfFile(dest_ / "small.bin"), small_sha_);

  Outcome missing = B({"/transfer", "t2", server_->Url("/missing.bin"), dest_ / "m.bin"});
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.out.find("ERROR CODE:    0x80190194"), std::string::npos) << missing.out;
  EXPECT_EQ(B({"/list"}).out, "\nListed 0 job(s).\n");  // the failed job was cancelled
}

TEST_F(BitsadminTest, BadInvocationsGetUsageOrNotFoundStatuses) {
  EXPECT_EQ(B({"/nosuchswitch"}).status, 2);
  EXPECT_EQ(B({"/addfile", "onlyonearg"}).status, 2);
  EXPECT_EQ(B({"/setpriority", "x", "urgent"}).status, 2);
  EXPECT_EQ(B({}).status, 2);
  EXPECT_EQ(B({"/?"}).status, 0);
  EXPECT_EQ(B({"/info", "nosuchjob"}).status, 1);
  EXPECT_EQ(B({"/info", "{00000000-0000-0000-0000-000000000000}"}).status, 1);
  B({"/create", "twin"});
  B({"/create", "twin"});
  EXPECT_EQ(B({"/resume", "twin"}).status, 1);  // ambiguous name
  EXPECT_EQ(B({"/addfile", "twin", "ftp://127.0.0.1/x", dest_ / "x"}).status, 1);
  EXPECT_EQ(B({"/rawreturn", "/util", "/version"}).out,
            "openbits bitsadmin 0.1.0 (BITS 3.0 compatible)");
}

TEST_F(BitsadminTest, MonitorRedrawsTheJobListUntilStopped) {
  const std::string id = B({"/rawreturn", "/create", "watched"}).out;
  testing::ChildProcess monitor =
      testing::SpawnWithOutput({kBitsadmin, "/monitor", "/refresh", "1"});
  ASSERT_GT(monitor.pid, 0);
  std::vector<std::string> lines;
  char line[512];
  // Two screens: the header, the job, a blank line, and again.
  while (lines.size() < 6 && std::fgets(line, sizeof line, monitor.out) != nullptr) {
    lines.emplace_back(line);
  }
  ::kill(monitor.pid, SIGTERM);
  testing::Reap(monitor);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0], "MONITORING BACKGROUND COPY MANAGER(1 second refresh)\n");
  EXPECT_EQ(lines[1], id + " watched SUSPENDED 0 / 0 0 / 0\n");
  EXPECT_EQ(lines[3], lines[0]);
  EXPECT_EQ(B({"/monitor", "/refresh", "soon"}).status, 2);
}

TEST_F(BitsadminTest, NotifyCommandLineIsSetShownAndRunByTheDaemon) {
  testing::LineFifo notified(dest_ / "notified");
  ASSERT_EQ(B({"/create", "notified"}).status, 0);
  const std::string params = "sh -c \"echo done > " + notified.path() + "\"";
  EXPECT_EQ(B({"/setnotifycmdline", "notified", "/bin/sh", params}).status, 0);
  EXPECT_EQ(B({"/rawreturn", "/getnotifycmdline", "notified"}).out, "'/bin/sh' " + params);
  EXPECT_NE(B({"/info", "notified", "/verbose"}).out.find("NOTIFICATION COMMAND LINE: '/bin/sh' "),
            std::string::npos);
  EXPECT_EQ(B({"/setnotifycmdline", "notified", "/bin/sh", "bash -c x"}).status, 1);
  ASSERT_EQ(B({"/addfile", "notified", server_->Url("/small.bin"), dest_ / "s.bin"}).status, 0);
  ASSERT_EQ(B({"/resume", "notified"}).status, 0);
  EXPECT_EQ(notified.ReadLine(std::chrono::seconds(60)), "done");
  EXPECT_EQ(B({"/rawreturn", "/getstate", "notified"}).out, "TRANSFERRED");
  EXPECT_EQ(B({"/setnotifycmdline", "notified", "NULL", "NULL"}).status, 0);
  EXPECT_EQ(B({"/rawreturn", "/getnotifycmdline", "notified"}).out, "none");
}

TEST_F(BitsadminTest, ASecondDaemonOnTheSameQueueRefusesToStart) {
  ASSERT_EQ(B({"/list"}).status, 0);  // autostarts the first
  std::string out;
  EXPECT_EQ(testing::RunProgram({kDaemon, "--foreground", "--state-dir", state_ / "state",
                                 "--socket", state_ / "other.sock"},
                                &out),
            1);
}

TEST_F(BitsadminTest, SigkillOfTheDaemonMidTransferLosesNothing) {
  const std::string id = B({"/rawreturn", "/create", "killed"}).out;
  ASSERT_EQ(B({"/addfile", id, server_->Url("/slow/file.bin"), dest_ / "file.bin"}).status, 0);
  ASSERT_EQ(B({"/setpriority", id, "FOREGROUND"}).status, 0);
  testing::LineFifo outcome(state_ / "outcome");
  SignalOnOutcome(id, outcome);
  ASSERT_EQ(B({"/resume", id}).status, 0);
  // Past 4 MiB in the temporary file at least one checkpoint is durable (a
  // transfer never runs more than checkpoint_bytes = 4 MiB ahead of it).
  ASSERT_TRUE(testing::WaitForDirectoryChange(
      dest_.path(),
      [&] {
        for (const std::string& name : testing::ListDirectory(dest_.path())) {
          if (name.rfind("BIT", 0) == 0 &&
              testing::FileSizeOf(dest_ / name) >= 4 * kMiB + 256 * 1024) {
            return true;
          }
        }
        return false;
      },
      std::chrono::seconds(60)));
  const pid_t first = DaemonPid();
  ASSERT_GT(first, 0);
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(testing::WaitForExit(first, std::chrono::seconds(30)));
  // The next bitsadmin call starts a new daemon, which resumes the job.
  ASSERT_EQ(B({"/list"}).status, 0);
  EXPECT_NE(DaemonPid(), first);
  ASSERT_EQ(outcome.ReadLine(std::chrono::seconds(60)), "done");
  EXPECT_EQ(B({"/rawreturn", "/getstate", id}).out, "TRANSFERRED");
  ASSERT_EQ(B({"/complete", id}).status, 0);
  EXPECT_EQ(Sha256OfFile(dest_ / "file.bin"), sha_);
  // The resumed request asked for the rest only. (nginx may log the killed
  // connection's request late; only the resume is looked for.)
  bool resumed = false;
  std::string seen;
  for (const auto& e : server_->AccessLogFor("/slow/file.bin")) {
    resumed |= e.status == 206 && e.range != "bytes=0-";
    seen += std::to_string(e.status) + " " + e.range + "; ";
  }
  EXPECT_TRUE(resumed) << seen;
}

}  // namespace
}  // namespace openbits

namespace openbits {
namespace {

TEST_F(BitsadminTest, CustomHeadersCanBeMadeWriteOnly) {
  ASSERT_EQ(B({"/create", "headers"}).status, 0);
  EXPECT_EQ(B({"/setcustomheaders", "headers", "X-Token: abc", "X-Other: 1"}).status, 0);
  EXPECT_EQ(B({"/rawreturn", "/getcustomheaders", "headers"}).out, "X-Token: abc\r\nX-Other: 1");
  EXPECT_EQ(B({"/makecustomheaderswriteonly", "headers"}).out,
            "Custom headers are now write-only.\n");
  EXPECT_EQ(B({"/rawreturn", "/getcustomheaders", "headers"}).out, "");
  EXPECT_EQ(B({"/setcustomheaders", "headers", "X-Token: def"}).status, 0);
  EXPECT_EQ(B({"/rawreturn", "/getcustomheaders", "headers"}).out, "");
  EXPECT_EQ(B({"/makecustomheaderswriteonly"}).status, 2);
  EXPECT_EQ(B({"/makecustomheaderswriteonly", "no-such-job"}).status, 1);
}

TEST_F(BitsadminTest, ProxyAndCredentialSwitches) {
  ASSERT_EQ(B({"/create", "proxied"}).status, 0);
  EXPECT_EQ(B({"/rawreturn", "/getproxyusage", "proxied"}).out, "PRECONFIG");
  EXPECT_EQ(B({"/rawreturn", "/getproxylist", "proxied"}).out, "NULL");
  Outcome set = B({"/setproxysettings", "proxied", "override", "proxy1:80,proxy2", "<local>"});
  EXPECT_EQ(set.status, 0) << set.out;
  EXPECT_EQ(B({"/rawreturn", "/getproxyusage", "proxied"}).out, "OVERRIDE");
  EXPECT_EQ(B({"/rawreturn", "/getproxylist", "proxied"}).out, "proxy1:80,proxy2");
  EXPECT_EQ(B({"/rawreturn", "/getproxybypasslist", "proxied"}).out, "<local>");
  EXPECT_NE(B({"/info", "proxied", "/verbose"})
                .out.find("PROXY USAGE: OVERRIDE PROXY LIST: proxy1:80,proxy2 PROXY BYPASS "
                          "LIST: <local>\n"),
            std::string::npos);
  EXPECT_EQ(B({"/setproxysettings", "proxied", "NO_PROXY"}).status, 0);
  EXPECT_EQ(B({"/rawreturn", "/getproxyusage", "proxied"}).out, "NO_PROXY");
  EXPECT_EQ(B({"/rawreturn", "/getproxybypasslist", "proxied"}).out, "NULL");
  EXPECT_EQ(B({"/setproxysettings", "proxied", "OVERRIDE", "NULL", "NULL"}).status, 1);
  EXPECT_EQ(B({"/setproxysettings", "proxied", "NO_PROXY", "p:1"}).status, 1);
  // openbitsd is built with libproxy here (scripts/deps.sh).
  EXPECT_EQ(B({"/setproxysettings", "proxied", "AUTODETECT"}).status, 0);
  EXPECT_EQ(B({"/rawreturn", "/getproxyusage", "proxied"}).out, "AUTODETECT");
  EXPECT_EQ(B({"/setproxysettings", "proxied", "AUTODETECT", "p:1"}).status, 1);
  EXPECT_EQ(B({"/setproxysettings", "proxied"}).status, 2);

  EXPECT_EQ(B({"/setcredentials", "proxied", "SERVER", "BASIC", "ann", "pw"}).out,
            "Credentials set.\n");
  EXPECT_EQ(B({"/setcredentials", "proxied", "proxy", "negotiate", "NULL", "NULL"}).status, 0);
  EXPECT_EQ(B({"/setcredentials", "proxied", "SERVER", "BASIC", "NULL", "NULL"}).status, 1);
  EXPECT_EQ(B({"/setcredentials", "proxied", "SERVER", "PASSPORT", "u", "p"}).status, 1);
  EXPECT_EQ(B({"/setcredentials", "proxied", "ELSEWHERE", "BASIC", "u", "p"}).status, 1);
  EXPECT_EQ(B({"/setcredentials", "proxied", "SERVER", "BASIC", "u"}).status, 2);
  EXPECT_EQ(B({"/removecredentials", "proxied", "SERVER", "BASIC"}).out, "Credentials removed.\n");
  EXPECT_EQ(B({"/removecredentials", "proxied", "SERVER", "KERBEROS"}).status, 1);

  EXPECT_EQ(B({"/rawreturn", "/gethttpmethod", "proxied"}).out, "GET");
  EXPECT_EQ(B({"/sethttpmethod", "proxied", "POST"}).status, 0);
  EXPECT_EQ(B({"/rawreturn", "/gethttpmethod", "proxied"}).out, "POST");
  EXPECT_EQ(B({"/rawreturn", "/getpriority", "proxied"}).out, "FOREGROUND");
  EXPECT_EQ(B({"/setpriority", "proxied", "LOW"}).status, 1);
  EXPECT_EQ(B({"/sethttpmethod", "proxied", "HEAD"}).status, 1);
}

}  // namespace
}  // namespace openbits
