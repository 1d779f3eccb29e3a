// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Client certificates and security flags through bitsadmin and the daemon:
// the BITSAdmin switches (locations by name and by bitsadmin's numbers,
// hashes with blanks), their errors and exit codes, and that neither the
// private key nor the PKCS#12 password shows up in the daemon's log, in
// listings or in its state.

#include <signal.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/support/auth_servers.h"
#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::ApacheTlsServer;
using testing::TempDir;
using Port = ApacheTlsServer::Port;

const std::string kBitsadmin = OPENBITS_BIN_DIR "/bitsadmin";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The SHA-1 fingerprint of a PEM certificate, as "AB:CD:..." from openssl.
std::string Fingerprint(const std::string& pem) {
  std::string out;
  testing::RunProgram({"/usr/bin/openssl", "x509", "-in", pem, "-noout", "-fingerprint", "-sha1"},
                      &out);
  const auto eq = out.find('=');
  out = eq == std::string::npos ? "" : out.substr(eq + 1);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

class TlsE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<ApacheTlsServer>(); }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(server_->ok()) << server_->error();
    ::setenv("OPENBITS_STATE_DIR", (state_ / "state").c_str(), 1);
    ::setenv("OPENBITS_KEY_DIR", (state_ / "keys").c_str(), 1);
    ::setenv("XDG_DATA_HOME", (state_ / "data").c_str(), 1);
    stores_ = state_ / "data/openbits/certstores";
    testing::RunProgram({"/bin/mkdir", "-p", stores_ + "/ROOT", stores_ + "/MY"}, nullptr);
    // The test CA is trusted through the user's ROOT store.
    testing::RunProgram({"/bin/cp", server_->pki() / "ca.crt", stores_ + "/ROOT/"}, nullptr);
  }
  void TearDown() override {
    std::ifstream in(state_ / "state/openbitsd.pid");
    pid_t pid = -1;
    if (in >> pid && pid > 0 && ::kill(pid, SIGTERM) == 0) {
      EXPECT_TRUE(testing::WaitForExit(pid, std::chrono::seconds(30)));
    }
    ::unsetenv("OPENBITS_STATE_DIR");
    ::unsetenv("OPENBITS_KEY_DIR");
    ::unsetenv("XDG_DATA_HOME");
  }

  std::string B(std::vector<std::string> args, int expected_status = 0) {
    args.insert(args.begin(), kBitsadmin);
    std::string out;
    EXPECT_EQ(testing::RunProgram(args, &out), expected_status) << args[1] << ": " << out;
    return out;
  }

  // stdout and stderr together (errors go to stderr).
  std::string All(std::vector<std::string> args, int expected_status) {
    args.insert(args.begin(), {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", kBitsadmin});
    std::string out;
    EXPECT_EQ(testing::RunProgram(args, &out), expected_status) << args[4] << ": " << out;
    return out;
  }

  void NewJob(const std::string& name, Port port) {
    B({"/create", name});
    B({"/addfile", name, server_->Url(port, "/public/hello.txt"), dest_ / name});
    B({"/setpriority", name, "FOREGROUND"});
  }

  std::string RunJob(const std::string& job) {
    testing::LineFifo fifo(dest_ / ("outcome-" + job));
    B({"/setnotifycmdline", job, "/bin/sh", "sh -c \"echo done > " + fifo.path() + "\""});
    B({"/resume", job});
    EXPECT_EQ(fifo.ReadLine(std::chrono::seconds(60)), "done");
    return B({"/rawreturn", "/getstate", job});
  }

  void Stock(const std::string& file) {
    testing::RunProgram({"/bin/cp", server_->pki() / file, stores_ + "/MY/"}, nullptr);
  }

  static std::unique_ptr<ApacheTlsServer> server_;
  TempDir state_;
  TempDir dest_;
  std::string stores_;
};

std::unique_ptr<ApacheTlsServer> TlsE2eTest::server_;

TEST_F(TlsE2eTest, ClientCertificateByNameAndByIdThroughBitsadmin) {
  Stock("client.crt");
  Stock("client.key");
  NewJob("byname", Port::kRequire);
  EXPECT_EQ(B({"/setclientcertificatebyname", "byname", "1", "MY", "openbits-client"}),
            "Client certificate set.\n");
  std::string hash = Fingerprint(server_->pki() / "client.crt");
  ASSERT_EQ(hash.size(), 59u);
  std::string plain_hash;
  for (char c : hash) {
    if (c != ':') plain_hash += c;
  }
  EXPECT_EQ(B({"/getclientcertificate", "byname"}),
            "STORE LOCATION: CURRENT_USER\nSTORE NAME: MY\nCERTIFICATE HASH: " + plain_hash +
                "\nSUBJECT NAME: openbits-client\n");
  EXPECT_EQ(RunJob("byname"), "TRANSFERRED");

  // By thumbprint, given as bitsadmin users paste it: blanks between bytes.
  NewJob("byid", Port::kRequire12);
  std::string spaced = hash;
  for (char& c : spaced) {
    if (c == ':') c = ' ';
  }
  B({"/setclientcertificatebyid", "byid", "CURRENT_USER", "MY", spaced});
  EXPECT_EQ(RunJob("byid"), "TRANSFERRED");

  // Without one, the job fails with ERROR_WINHTTP_CLIENT_AUTH_CERT_NEEDED.
  NewJob("without", Port::kOptional);
  EXPECT_EQ(RunJob("without"), "ERROR");
  EXPECT_NE(B({"/geterror", "without"}).find("0x80072f0c"), std::string::npos);

  B({"/removeclientcertificate", "byname"});
  const std::string none = All({"/getclientcertificate", "byname"}, 1);
  EXPECT_NE(none.find("0x80070490"), std::string::npos) << none;
}

TEST_F(TlsE2eTest, SecurityFlagsAndRedirectPolicyThroughBitsadmin) {
  NewJob("expired", Port::kExpired);
  EXPECT_EQ(RunJob("expired"), "ERROR");
  EXPECT_NE(B({"/geterror", "expired"}).find("0x80072f05"), std::string::npos);
  NewJob("admitted", Port::kExpired);
  B({"/setsecurityflags", "admitted", "4"});  // BG_SSL_IGNORE_CERT_DATE_INVALID
  EXPECT_EQ(RunJob("admitted"), "TRANSFERRED");

  B({"/create", "hop"});
  B({"/addfile", "hop", server_->Url(Port::kPlain, "/hop"), dest_ / "hop"});
  B({"/setpriority", "hop", "FOREGROUND"});
  B({"/setsecurityflags", "hop", "0x200"});  // BG_HTTP_REDIRECT_POLICY_DISALLOW
  EXPECT_EQ(RunJob("hop"), "ERROR");
  EXPECT_NE(B({"/geterror", "hop"}).find("0x8007012e"), std::string::npos);
  EXPECT_NE(B({"/listfiles", "hop"}).find(server_->Url(Port::kPlain, "/public/hello.txt")),
            std::string::npos);
}

TEST_F(TlsE2eTest, ErrorsAndExitCodes) {
  Stock("client.crt");
  Stock("client.key");
  NewJob("job", Port::kRequire);
  B({"/setclientcertificatebyname", "job", "9", "MY", "openbits-client"}, 2);
  B({"/setclientcertificatebyid", "job", "1", "MY", "1234"}, 1);
  Stock("client-expired.crt");
  Stock("client-expired.key");
  EXPECT_NE(All({"/setclientcertificatebyname", "job", "1", "MY", "nobody"}, 1).find("0x80092004"),
            std::string::npos);
  EXPECT_NE(All({"/setclientcertificatebyname", "job", "1", "MY", "old-client"}, 1)
                .find("0x800b0101 CERT_E_EXPIRED"),
            std::string::npos);
  EXPECT_NE(All({"/setclientcertificatebyname", "job", "2", "MY", "x"}, 1).find("0x80092004"),
            std::string::npos);
  EXPECT_NE(All({"/setclientcertificatebyname", "job", "CURRENT_SERVICE", "MY", "x"}, 1)
                .find("0x80004001"),
            std::string::npos);
  EXPECT_EQ(B({"/setsecurityflags", "job", "0x0102"}), "securityFlags set to 258.\n");
  EXPECT_EQ(B({"/rawreturn", "/getsecurityflags", "job"}), "258");
  EXPECT_NE(All({"/setsecurityflags", "job", "0x20"}, 1).find("0x80004001"), std::string::npos);
  B({"/setsecurityflags", "job", "twelve"}, 2);
}

TEST_F(TlsE2eTest, NeitherTheKeyNorThePkcs12PasswordLeaks) {
  Stock("client.p12");
  NewJob("p12", Port::kRequire);
  B({"/setclientcertificatebyname", "p12", "1", "MY", "openbits-client"}, 1);
  B({"/setclientcertificatepassword", "p12", testing::TestPki::kP12Password});
  B({"/setclientcertificatebyname", "p12", "1", "MY", "openbits-client"});
  EXPECT_EQ(RunJob("p12"), "TRANSFERRED");

  // A line from the middle of the private key's PEM body.
  std::istringstream key_lines(ReadFile(server_->pki() / "client.key"));
  std::string line;
  std::string key_line;
  while (std::getline(key_lines, line)) {
    if (line.size() >= 40 && line.find("-----") == std::string::npos) key_line = line;
  }
  ASSERT_FALSE(key_line.empty());
  std::string seen = B({"/info", "p12", "/verbose"}) + B({"/list", "/verbose"}) +
                     B({"/getclientcertificate", "p12"}) + B({"/listfiles", "p12"});
  for (const std::string& f : testing::ListDirectory(state_ / "state")) {
    seen += ReadFile(state_ / ("state/" + f));
  }
  EXPECT_EQ(seen.find(key_line), std::string::npos);
  EXPECT_EQ(seen.find(testing::TestPki::kP12Password), std::string::npos);
}

}  // namespace
}  // namespace openbits
