// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The system-wide daemon (openbitsd --system, root) serving a real second
// user through bitsadmin: jobs belong to the caller, files are created and
// renamed with the owner's identity, and links planted at the final and
// temporary paths (the CVE-2020-0787 class) change nothing outside the
// owner's reach. Needs root; skipped otherwise.

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "tests/support/auth_servers.h"
#include "tests/support/test_support.h"

namespace openbits {
namespace {

const std::string kBitsadmin = OPENBITS_BIN_DIR "/bitsadmin";
const std::string kDaemon = OPENBITS_BIN_DIR "/openbitsd";
constexpr const char* kUser = "openbits-test";
constexpr char kPrecious[] = "root's data, which no job of another user may change\n";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class SystemModeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = std::make_unique<testing::NginxServer>(testing::NginxServer::Options{
        "    location /slow/ { alias $ROOT/; limit_rate 1m; sendfile_max_chunk 64k; }\n"});
    if (!server_->ok()) return;
    sha_ = testing::WriteTestFile(server_->root() + "/file.bin", 300000, 11);
    big_sha_ = testing::WriteTestFile(server_->root() + "/big.bin", 8 << 20, 12);
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the system daemon";
    ASSERT_TRUE(server_->ok()) << server_->error();
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
    ::chmod(home_.path().c_str(), 0755);
    ASSERT_EQ(::chown(home_.path().c_str(), uid_, gid_), 0);
    // Root's own directory, out of the user's reach, with a file in it.
    ::chmod(root_only_.path().c_str(), 0700);
    std::ofstream(root_only_ / "victim") << kPrecious;

    ::chmod(system_.path().c_str(), 0755);
    ::mkdir((system_ / "run").c_str(), 0755);
    socket_ = system_ / "run/openbitsd.sock";
    daemon_ = testing::SpawnWithOutput({kDaemon, "--system", "--foreground", "--state-dir",
                                        system_ / "state", "--socket", socket_, "--key-dir",
                                        system_ / "keys"});
    ASSERT_GT(daemon_.pid, 0);
    ASSERT_TRUE(testing::WaitForDirectoryChange(
        system_ / "run", [&] { return ::access(socket_.c_str(), F_OK) == 0; },
        std::chrono::seconds(30), daemon_.pid));
  }
  void TearDown() override {
    if (daemon_.pid > 0) {
      ::kill(daemon_.pid, SIGTERM);
      testing::Reap(daemon_);
    }
  }

  // bitsadmin as the second user, talking to the system daemon.
  int AsUser(const std::vector<std::string>& args, std::string* out = nullptr) {
    std::vector<std::string> argv = {kBitsadmin};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string ignored;
    return testing::RunProgramAs(
        uid_, gid_, argv,
        {"HOME=" + home_.path(), "PATH=/usr/bin:/bin", "OPENBITS_SOCKET=" + socket_},
        out != nullptr ? out : &ignored);
  }
  // bitsadmin as root, talking to the same daemon.
  std::string AsRoot(std::vector<std::string> args) {
    ::setenv("OPENBITS_SOCKET", socket_.c_str(), 1);
    args.insert(args.begin(), kBitsadmin);
    std::string out;
    testing::RunProgram(args, &out);
    ::unsetenv("OPENBITS_SOCKET");
    return out;
  }
  // Runs a shell command as the user (to plant links the way they could).
  int ShellAsUser(const std::string& command) {
    std::string ignored;
    return testing::RunProgramAs(uid_, gid_, {"/bin/sh", "-c", command}, {"PATH=/usr/bin:/bin"},
                                 &ignored);
  }

  // Resumes `job` and waits for the notify command (run as the user) to say
  // the job reached TRANSFERRED or ERROR.
  void ResumeAndWait(const std::string& job) {
    testing::LineFifo fifo(home_ / ("fifo-" + job));
    ::chmod(fifo.path().c_str(), 0666);
    ASSERT_EQ(
        AsUser({"/setnotifycmdline", job, "/bin/sh", "sh -c \"id -u > " + fifo.path() + "\""}), 0);
    ASSERT_EQ(AsUser({"/resume", job}), 0);
    // The notify command itself runs as the job's owner.
    EXPECT_EQ(fifo.ReadLine(std::chrono::seconds(60)), std::to_string(uid_));
  }

  static std::unique_ptr<testing::NginxServer> server_;
  static std::string sha_, big_sha_;
  testing::TempDir system_;
  testing::TempDir home_;
  testing::TempDir root_only_;
  std::string socket_;
  testing::ChildProcess daemon_;
  unsigned uid_ = 0, gid_ = 0;
};

std::unique_ptr<testing::NginxServer> SystemModeTest::server_;
std::string SystemModeTest::sha_, SystemModeTest::big_sha_;

TEST_F(SystemModeTest, JobsBelongToTheCallerAndFilesAreWrittenAsTheCaller) {
  std::string out;
  ASSERT_EQ(AsUser({"/transfer", "user-job", "/priority", "foreground", server_->Url("/file.bin"),
                    home_ / "file.bin"},
                   &out),
            0)
      << out;
  struct stat st {};
  ASSERT_EQ(::stat((home_ / "file.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid_);
  EXPECT_EQ(testing::Sha256OfFile(home_ / "file.bin"), sha_);

  ASSERT_EQ(AsUser({"/create", "kept"}), 0);
  EXPECT_EQ(AsRoot({"/list"}).find("kept"), std::string::npos);  // root's own jobs only
  EXPECT_NE(AsRoot({"/list", "/allusers"}).find("kept"), std::string::npos);
  AsRoot({"/create", "roots"});
  ASSERT_EQ(AsUser({"/list"}, &out), 0);
  EXPECT_EQ(out.find("roots"), std::string::npos);
  EXPECT_NE(AsUser({"/list", "/allusers"}), 0);  // not an administrator
}

TEST_F(SystemModeTest, AUserCannotPointAJobWhereOnlyRootMayWrite) {
  ASSERT_EQ(AsUser({"/create", "sneaky"}), 0);
  std::string out;
  EXPECT_NE(AsUser({"/addfile", "sneaky", server_->Url("/file.bin"), root_only_ / "new.bin"}, &out),
            0);
  EXPECT_NE(AsUser({"/addfile", "sneaky", server_->Url("/file.bin"), "/etc/openbits-test.bin"}), 0);
  struct stat st {};
  EXPECT_NE(::stat((root_only_ / "new.bin").c_str(), &st), 0);
  EXPECT_NE(::stat("/etc/openbits-test.bin", &st), 0);
}

TEST_F(SystemModeTest, ALinkPlantedAtTheFinalNameChangesNothingOutsideTheUsersReach) {
  const std::string target = home_ / "out.bin";
  ASSERT_EQ(AsUser({"/create", "planted"}), 0);
  ASSERT_EQ(AsUser({"/addfile", "planted", server_->Url("/file.bin"), target}), 0);
  ASSERT_EQ(AsUser({"/setpriority", "planted", "FOREGROUND"}), 0);
  // Between AddFile and Complete, the final name becomes a link to root's
  // file (a symbolic link; a hard link is refused by the kernel's
  // protected_hardlinks, checked below).
  ASSERT_EQ(ShellAsUser("ln -s '" + (root_only_ / "victim") + "' '" + target + "'"), 0);
  ResumeAndWait("planted");
  std::string out;
  EXPECT_EQ(AsUser({"/complete", "planted"}, &out), 0) << out;
  EXPECT_EQ(ReadFile(root_only_ / "victim"), kPrecious);
  struct stat st {};
  ASSERT_EQ(::lstat(target.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));  // the link was replaced, not followed
  EXPECT_EQ(st.st_uid, uid_);
  EXPECT_EQ(testing::Sha256OfFile(target), sha_);
  ASSERT_EQ(::stat((root_only_ / "victim").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  // A hard link to a root-owned file cannot even be made by the user.
  std::ofstream(system_ / "rootfile") << kPrecious;
  EXPECT_NE(ShellAsUser("ln '" + (system_ / "rootfile") + "' '" + (home_ / "hard") + "'"), 0);
}

TEST_F(SystemModeTest, ALinkPlantedAtTheTemporaryNameIsNotFollowed) {
  const std::string target = home_ / "big.bin";
  ASSERT_EQ(AsUser({"/create", "tmp-planted"}), 0);
  ASSERT_EQ(AsUser({"/addfile", "tmp-planted", server_->Url("/slow/big.bin"), target}), 0);
  ASSERT_EQ(AsUser({"/setpriority", "tmp-planted", "FOREGROUND"}), 0);
  ASSERT_EQ(AsUser({"/resume", "tmp-planted"}), 0);
  std::string temp;
  ASSERT_TRUE(testing::WaitForDirectoryChange(
      home_.path(),
      [&] {
        for (const std::string& name : testing::ListDirectory(home_.path())) {
          if (name.rfind("BIT", 0) == 0) temp = home_ / name;
        }
        return !temp.empty();
      },
      std::chrono::seconds(30)));
  ASSERT_EQ(AsUser({"/suspend", "tmp-planted"}), 0);
  struct stat st {};
  ASSERT_EQ(::stat(temp.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid_);  // created as the user
  // The user swaps the temporary file for a link to root's file.
  ASSERT_EQ(ShellAsUser("ln -sf '" + (root_only_ / "victim") + "' '" + temp + "'"), 0);
  ResumeAndWait("tmp-planted");
  EXPECT_EQ(ReadFile(root_only_ / "victim"), kPrecious);
  ASSERT_EQ(::stat((root_only_ / "victim").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, static_cast<off_t>(sizeof kPrecious - 1));
  // Whatever the job did instead (restart or error), it never wrote there.
  std::string state;
  AsUser({"/rawreturn", "/getstate", "tmp-planted"}, &state);
  if (state == "TRANSFERRED") {
    EXPECT_EQ(AsUser({"/complete", "tmp-planted"}), 0);
    EXPECT_EQ(testing::Sha256OfFile(target), big_sha_);
  } else {
    EXPECT_EQ(state, "ERROR");
  }
  EXPECT_EQ(ReadFile(root_only_ / "victim"), kPrecious);
}

TEST_F(SystemModeTest, RootTakesOwnershipAndTheJobLosesThePreviousOwnersSecrets) {
  std::string id;
  ASSERT_EQ(AsUser({"/rawreturn", "/create", "taken"}, &id), 0);
  ASSERT_EQ(AsUser({"/addfile", "taken", server_->Url("/file.bin"), home_ / "taken.bin"}), 0);
  ASSERT_EQ(AsUser({"/setcredentials", "taken", "SERVER", "BASIC", "u", "user-secret"}), 0);
  ASSERT_EQ(AsUser({"/setcustomheaders", "taken", "X-Token: abc"}), 0);
  ASSERT_EQ(AsUser({"/takeownership", id}), 1);  // not an administrator
  EXPECT_NE(AsRoot({"/takeownership", id}).find("Took ownership"), std::string::npos);
  EXPECT_EQ(AsRoot({"/rawreturn", "/getowner", id}), "root");
  EXPECT_EQ(AsRoot({"/rawreturn", "/getcustomheaders", id}), "");
  std::string out;
  ASSERT_EQ(AsUser({"/list"}, &out), 0);
  EXPECT_EQ(out.find("taken"), std::string::npos);  // no longer the user's
  EXPECT_NE(AsRoot({"/list"}).find("taken"), std::string::npos);
}

}  // namespace
}  // namespace openbits

namespace openbits {
namespace {

// The daemon reads a user's certificate store as that user: a symbolic link
// to a key only root may read gives the user nothing.
TEST_F(SystemModeTest, CertificateStoresAreReadWithTheOwnersRights) {
  testing::TestPki pki("http://127.0.0.1:9/unused.crl");
  ASSERT_TRUE(pki.ok()) << pki.error();
  std::string out;
  // The store lives under the owner's home as the password database has it
  // (the test user has none of its own: made here, removed at the end).
  const passwd* pw = ::getpwnam(kUser);
  ASSERT_NE(pw, nullptr);
  const std::string home = pw->pw_dir;
  ASSERT_TRUE(home.size() > 1 && home.front() == '/' && home != "/");
  struct stat existing {};
  const bool made_home = ::stat(home.c_str(), &existing) != 0;
  if (made_home) {
    ASSERT_EQ(::mkdir(home.c_str(), 0700), 0);
    ASSERT_EQ(::chown(home.c_str(), uid_, gid_), 0);
  }
  struct RemoveHome {
    std::string path;
    bool active;
    ~RemoveHome() {
      std::string ignored;
      if (active) testing::RunProgram({"/bin/rm", "-rf", path}, &ignored);
    }
  } remove_home{home, made_home};
  const std::string my = home + "/.local/share/openbits/certstores/MY";
  ASSERT_EQ(ShellAsUser("mkdir -p " + my), 0);
  ASSERT_EQ(ShellAsUser("cp " + (pki / "client.crt") + " " + my + "/"), 0);
  // Root's copy of the key, out of the user's reach, linked into the store.
  ASSERT_EQ(testing::RunProgram({"/bin/cp", pki / "client.key", root_only_ / "client.key"}, &out),
            0);
  ::chmod((root_only_ / "client.key").c_str(), 0600);
  ASSERT_EQ(ShellAsUser("ln -s " + (root_only_ / "client.key") + " " + my + "/client.key"), 0);

  ASSERT_EQ(AsUser({"/create", "certjob"}), 0);
  EXPECT_EQ(AsUser({"/setclientcertificatebyname", "certjob", "1", "MY", "openbits-client"}), 1);
  // With a key of their own, the same call works.
  ASSERT_EQ(ShellAsUser("rm " + my + "/client.key"), 0);
  ASSERT_EQ(testing::RunProgram({"/bin/cp", pki / "client.key", my + "/client.key"}, &out), 0);
  ASSERT_EQ(::chown((my + "/client.key").c_str(), uid_, gid_), 0);
  EXPECT_EQ(AsUser({"/setclientcertificatebyname", "certjob", "1", "MY", "openbits-client"}, &out),
            0)
      << out;
}

}  // namespace
}  // namespace openbits
