// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Two real users, each with a per-user daemon: neither can reach the
// other's daemon or see the other's jobs. Needs root (to create and become
// the second user); skipped otherwise.

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace openbits {
namespace {

const std::string kBitsadmin = OPENBITS_BIN_DIR "/bitsadmin";
constexpr const char* kUser = "openbits-test";

class IsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to create a second user";
    if (::getpwnam(kUser) == nullptr) {
      std::string out;
      ASSERT_EQ(testing::RunProgram({"/usr/sbin/useradd", "--system", "--no-create-home", "--shell",
                                     "/usr/sbin/nologin", kUser},
                                    &out),
                0)
          << out;
    }
    const passwd* pw = ::getpwnam(kUser);
    ASSERT_NE(pw, nullptr);
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
    // The second user's home for this test: its own state directory.
    ::chmod(other_home_.path().c_str(), 0755);
    ASSERT_EQ(::chown(other_home_.path().c_str(), uid_, gid_), 0);
    ::setenv("OPENBITS_STATE_DIR", (root_home_ / "state").c_str(), 1);
    ::setenv("OPENBITS_KEY_DIR", (root_home_ / "keys").c_str(), 1);
  }
  void TearDown() override {
    // The other user's daemon keeps its state under its HOME (XDG default).
    for (const std::string& dir : {root_home_ / "state", other_home_ / ".local/state/openbits"}) {
      std::ifstream in(dir + "/openbitsd.pid");
      pid_t pid = -1;
      if (in >> pid && pid > 0 && ::kill(pid, SIGTERM) == 0) {
        EXPECT_TRUE(testing::WaitForExit(pid, std::chrono::seconds(30)));
      }
    }
    ::unsetenv("OPENBITS_STATE_DIR");
    ::unsetenv("OPENBITS_KEY_DIR");
  }

  int AsOther(const std::vector<std::string>& args, std::string* out,
              const std::string& extra_env = "") {
    std::vector<std::string> argv = {kBitsadmin};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> env = {"HOME=" + other_home_.path(), "PATH=/usr/bin:/bin"};
    if (!extra_env.empty()) env.push_back(extra_env);
    return testing::RunProgramAs(uid_, gid_, argv, env, out);
  }

  testing::TempDir root_home_;
  testing::TempDir other_home_;
  unsigned uid_ = 0;
  unsigned gid_ = 0;
};

TEST_F(IsolationTest, UsersHaveSeparateDaemonsAndCannotReachEachOther) {
  std::string out;
  ASSERT_EQ(testing::RunProgram({kBitsadmin, "/rawreturn", "/create", "root-job"}, &out), 0);
  const std::string root_job = out;

  // The other user gets a daemon and queue of its own, under its HOME.
  out.clear();
  ASSERT_EQ(AsOther({"/list"}, &out), 0) << out;
  EXPECT_EQ(out, "\nListed 0 job(s).\n");
  struct stat st {};
  ASSERT_EQ(::stat((other_home_ / ".local/state/openbits/openbitsd.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid_);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Root's job does not exist for the other user.
  out.clear();
  EXPECT_EQ(AsOther({"/info", root_job}, &out), 1);

  // And root's daemon refuses the other user at the socket.
  out.clear();
  EXPECT_EQ(AsOther({"/list"}, &out, "OPENBITS_SOCKET=" + (root_home_ / "state/openbitsd.sock")),
            3);
  out.clear();
  ASSERT_EQ(testing::RunProgram({kBitsadmin, "/list"}, &out), 0);
  EXPECT_NE(out.find(root_job + " root-job SUSPENDED"), std::string::npos) << out;
}

}  // namespace
}  // namespace openbits
