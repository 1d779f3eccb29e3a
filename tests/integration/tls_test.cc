// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// TLS against a real Apache with mod_ssl (docs/tls.md): client certificates
// from certificate stores (by thumbprint and by subject, PEM and PKCS#12
// with a password from the vault), the 0x80072F0C rule, each security flag
// admitting exactly its own fault, CRL checks, and the redirect policies.

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "openbits/openbits.h"

#include "tests/support/auth_servers.h"
#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::ApacheTlsServer;
using testing::TempDir;
using testing::Watch;
using Port = ApacheTlsServer::Port;

std::array<std::uint8_t, 20> ThumbprintOf(const std::string& pem_file) {
  std::array<std::uint8_t, 20> out{};
  FILE* f = std::fopen(pem_file.c_str(), "r");
  if (f == nullptr) return out;
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr) return out;
  unsigned int len = 0;
  X509_digest(cert, EVP_sha1(), out.data(), &len);
  X509_free(cert);
  return out;
}

void Copy(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(to, std::ios::binary);
  out << in.rdbuf();
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = std::make_unique<ApacheTlsServer>();
    ASSERT_TRUE(server_->ok()) << server_->error();
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(server_->ok());
    ::mkdir((stores_ / "user").c_str(), 0700);
    ::mkdir((stores_ / "machine").c_str(), 0755);
  }

  // Puts PKI files into store `name` of CURRENT_USER (or LOCAL_MACHINE).
  void Stock(const std::string& name, const std::vector<std::string>& files, bool machine = false) {
    const std::string dir = stores_ / ((machine ? "machine/" : "user/") + name);
    ::mkdir(dir.c_str(), 0700);
    for (const std::string& f : files) Copy(pki() / f, dir + "/" + f);
  }

  std::unique_ptr<Manager> Open(bool trust_test_ca = true) {
    ManagerOptions options;
    options.state_directory = state_ / "queue";
    options.key_directory = state_ / "keys";
    options.current_user_certstores = stores_ / "user";
    options.local_machine_certstores = stores_ / "machine";
    if (trust_test_ca) options.additional_ca_file = pki() / "ca.crt";
    auto m = Manager::Open(options);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(*m) : nullptr;
  }

  std::shared_ptr<Job> NewJob(Manager& manager, const std::string& url) {
    auto job = *manager.CreateJob("tls");
    EXPECT_TRUE(job->SetPriority(JobPriority::kForeground).ok());
    EXPECT_TRUE(job->AddFile(url, dest_ / ("f" + std::to_string(++files_))).ok());
    return job;
  }

  static JobState Run(Job& job) {
    auto watcher = Watch(job);
    EXPECT_TRUE(job.Resume().ok());
    return watcher->WaitForOutcome(job);
  }

  static HResult ErrorOf(Job& job) {
    auto e = job.GetError();
    return e.ok() ? e->code : 0;
  }

  static const testing::TestPki& pki() { return server_->pki(); }

  // The client common names Apache verified for requests to `uri`.
  static std::vector<std::string> ClientsFor(const std::string& uri) {
    std::vector<std::string> out;
    for (const auto& e : server_->AccessLog()) {
      if (e.uri == uri) out.push_back(e.client_cn);
    }
    return out;
  }

  static std::unique_ptr<ApacheTlsServer> server_;
  TempDir state_;
  TempDir stores_;
  TempDir dest_;
  int files_ = 0;
};

std::unique_ptr<ApacheTlsServer> TlsTest::server_;

TEST_F(TlsTest, ByNameAuthenticatesAgainstARequiringServer) {
  Stock("MY", {"client.crt", "client.key"});
  auto manager = Open();
  auto job = NewJob(*manager, server_->Url(Port::kRequire, "/public/hello.txt"));
  ASSERT_TRUE(
      job->SetClientCertificateByName(CertStoreLocation::kCurrentUser, "MY", "OPENBITS-client")
          .ok());
  auto chosen = job->GetClientCertificate();
  ASSERT_TRUE(chosen.ok()) << chosen.status().ToString();
  EXPECT_EQ(chosen->store_name, "MY");
  EXPECT_EQ(chosen->subject, "OPENBITS-client");
  EXPECT_EQ(chosen->hash, ThumbprintOf(pki() / "client.crt"));
  ASSERT_EQ(Run(*job), JobState::kTransferred) << job->GetError()->description;
  EXPECT_EQ(ClientsFor("/public/hello.txt").back(), "openbits-client");
}

TEST_F(TlsTest, ByIdAuthenticatesOverTls12) {
  Stock("MY", {"client.crt", "client.key", "rogue-client.crt", "rogue-client.key"});
  auto manager = Open();
  auto job = NewJob(*manager, server_->Url(Port::kRequire12, "/public/hello.txt?by-id"));
  ASSERT_TRUE(job->SetClientCertificateByID(CertStoreLocation::kCurrentUser, "my",
                                            ThumbprintOf(pki() / "client.crt"))
                  .ok());
  EXPECT_EQ(job->GetClientCertificate()->subject, "openbits-client");  // its common name
  ASSERT_EQ(Run(*job), JobState::kTransferred) << job->GetError()->description;
}

TEST_F(TlsTest, AServerThatAcceptsButDoesNotRequireACertificateFailsAJobWithout) {
  auto manager = Open();
  auto job = NewJob(*manager, server_->Url(Port::kOptional, "/public/hello.txt"));
  ASSERT_EQ(Run(*job), JobState::kError);
  EXPECT_EQ(ErrorOf(*job), kWinHttpClientAuthCertNeeded);
  EXPECT_EQ(job->GetProgress().bytes_transferred, 0u);
}

TEST_F(TlsTest, ARequiringServerWithoutCertificateIsClientAuthCertNeededOnTls13And12) {
  auto manager = Open();
  for (Port port : {Port::kRequire, Port::kRequire12}) {
    auto job = NewJob(*manager, server_->Url(port, "/public/hello.txt"));
    ASSERT_EQ(Run(*job), JobState::kError) << port;
    EXPECT_EQ(ErrorOf(*job), kWinHttpClientAuthCertNeeded) << port;
  }
}

TEST_F(TlsTest, ACertificateRequestedAfterTheHandshakeCountsToo) {
  Stock("MY", {"client.crt", "client.key"});
  auto manager = Open();
  for (Port port : {Port::kPerLocation, Port::kPerLocation12}) {
    // The handshake asks for nothing; /certopt asks afterwards (TLS 1.3
    // post-handshake authentication, TLS 1.2 renegotiation).
    auto plain = NewJob(*manager, server_->Url(port, "/public/hello.txt"));
    EXPECT_EQ(Run(*plain), JobState::kTransferred) << port;
    auto without = NewJob(*manager, server_->Url(port, "/certopt/hello.txt"));
    ASSERT_EQ(Run(*without), JobState::kError) << port;
    EXPECT_EQ(ErrorOf(*without), kWinHttpClientAuthCertNeeded) << port;
    auto with = NewJob(*manager, server_->Url(port, "/certreq/hello.txt"));
    ASSERT_TRUE(
        with->SetClientCertificateByName(CertStoreLocation::kCurrentUser, "MY", "client").ok());
    EXPECT_EQ(Run(*with), JobState::kTransferred) << port << ": " << with->GetError()->description;
  }
  EXPECT_EQ(ClientsFor("/certreq/hello.txt"), std::vector<std::string>(2, "openbits-client"));
}

TEST_F(TlsTest, AnUntrustedClientCertificateIsRefusedByTheServer) {
  Stock("MY", {"rogue-client.crt", "rogue-client.key"});
  auto manager = Open();
  for (Port port : {Port::kRequire, Port::kRequire12}) {
    auto job = NewJob(*manager, server_->Url(port, "/public/hello.txt"));
    ASSERT_TRUE(
        job->SetClientCertificateByName(CertStoreLocation::kCurrentUser, "MY", "rogue").ok());
    ASSERT_EQ(Run(*job), JobState::kError) << port;
    EXPECT_EQ(ErrorOf(*job), kWinHttpSecureChannelError) << port;
  }
}

TEST_F(TlsTest, ConnectionsAreNotSharedBetweenJobsWithAndWithoutACertificate) {
  Stock("MY", {"client.crt", "client.key"});
  auto manager = Open();
  for (int round = 0; round < 2; ++round) {
    auto with = NewJob(*manager, server_->Url(Port::kOptional, "/public/hello.txt"));
    ASSERT_TRUE(
        with->SetClientCertificateByName(CertStoreLocation::kCurrentUser, "MY", "client").ok());
    auto without = NewJob(*manager, server_->Url(Port::kOptional, "/public/hello.txt"));
    if (round == 0) {
      ASSERT_EQ(Run(*with), JobState::kTransferred);
      ASSERT_EQ(Run(*without), JobState::kError);
    } else {
      ASSERT_EQ(Run(*without), JobState::kError);
      ASSERT_EQ(Run(*with), JobState::kTransferred);
    }
    EXPECT_EQ(ErrorOf(*without), kWinHttpClientAuthCertNeeded);
  }
}

TEST_F(TlsTest, APasswordProtectedPkcs12OpensWithThePasswordFromTheVault) {
  Stock("MY", {"client.p12"});
  auto manager = Open();
  auto job = NewJob(*manager, server_->Url(Port::kRequire, "/public/hello.txt?p12"));
  EXPECT_EQ(job->SetClientCertificateByName(CertStoreLocation::kCurrentUser, "MY", "client").code(),
            kEInvalidPassword);
  ASSERT_TRUE(job->SetClientCertificatePassword("not-the-password").ok());
  EXPECT_EQ(job->SetClientCertificateByName(CertStoreLocation::kCurrentUser, "MY", "client").code(),
            kEInvalidPassword);
  ASSERT_TRUE(job->SetClientCertificatePassword(testing::TestPki::kP12Password).ok());
  ASSERT_TRUE(
      job->SetClientCertificateByName(CertStoreLocation::kCurrentUser, "MY", "client").ok());
  const Guid id = job->GetId();
  // The choice and the password survive a restart.
  job.reset();
  manager.reset();
  manager = Open();
  job = *manager->GetJob(id);
  ASSERT_EQ(Run(*job), JobState::kTransferred) << job->GetError()->description;
  EXPECT_EQ(ClientsFor("/public/hello.txt").back(), "openbits-client");
  for (const std::string& f : testing::ListDirectory(state_ / "queue")) {
    std::ifstream in(state_ / ("queue/" + f), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    EXPECT_EQ(bytes.str().find(testing::TestPki::kP12Password), std::string::npos) << f;
  }
}

TEST_F(TlsTest, ACertificateThatDoesNotQualifyIsRefusedAtTheCall) {
  Stock("MY", {"client-expired.crt", "client-expired.key"});
  Stock("NOKEY", {"client.crt"});
  auto manager = Open();
  auto job = NewJob(*manager, server_->Url(Port::kRequire, "/public/hello.txt"));
  const auto user = CertStoreLocation::kCurrentUser;
  EXPECT_EQ(job->SetClientCertificateByName(user, "MY", "old-client").code(), kCertEExpired);
  EXPECT_EQ(job->SetClientCertificateByName(user, "NOKEY", "client").code(), kCryptENoKeyProperty);
  EXPECT_EQ(job->SetClientCertificateByName(user, "MY", "nobody").code(), kCryptENotFound);
  EXPECT_EQ(job->SetClientCertificateByName(user, "NOSUCHSTORE", "client").code(), kCryptENotFound);
  EXPECT_EQ(job->SetClientCertificateByID(user, "MY", std::array<std::uint8_t, 20>{}).code(),
            kCryptENotFound);
  EXPECT_EQ(
      job->SetClientCertificateByName(CertStoreLocation::kCurrentService, "MY", "client").code(),
      kENotImpl);
  EXPECT_EQ(job->SetClientCertificateByName(user, "../MY", "client").code(), kEInvalidArg);
  EXPECT_EQ(job->SetClientCertificateByName(user, "MY", "").code(), kEInvalidArg);
  EXPECT_EQ(job->GetClientCertificate().status().code(), kENotFound);
  EXPECT_FALSE(job->GetInfo().client_certificate.has_value());
}

TEST_F(TlsTest, EachIgnoreFlagAdmitsExactlyItsOwnFault) {
  struct Case {
    Port port;
    std::uint32_t flag;
    HResult error;
  };
  const Case cases[] = {
      {Port::kExpired, kSslIgnoreCertDateInvalid, kWinHttpSecureCertDateInvalid},
      {Port::kWrongHost, kSslIgnoreCertCnInvalid, kWinHttpSecureCertCnInvalid},
      {Port::kUnknownCa, kSslIgnoreUnknownCa, kWinHttpSecureInvalidCa},
      {Port::kWrongUsage, kSslIgnoreCertWrongUsage, kWinHttpSecureCertWrongUsage},
  };
  const std::uint32_t all = kSslIgnoreCertDateInvalid | kSslIgnoreCertCnInvalid |
                            kSslIgnoreUnknownCa | kSslIgnoreCertWrongUsage;
  auto manager = Open();
  for (const Case& c : cases) {
    auto strict = NewJob(*manager, server_->Url(c.port, "/public/hello.txt"));
    ASSERT_EQ(Run(*strict), JobState::kError) << c.port;
    EXPECT_EQ(ErrorOf(*strict), c.error) << c.port;

    auto others = NewJob(*manager, server_->Url(c.port, "/public/hello.txt"));
    ASSERT_TRUE(others->SetSecurityFlags(all & ~c.flag).ok());
    ASSERT_EQ(Run(*others), JobState::kError) << c.port;
    EXPECT_EQ(ErrorOf(*others), c.error) << c.port;

    auto admitted = NewJob(*manager, server_->Url(c.port, "/public/hello.txt"));
    ASSERT_TRUE(admitted->SetSecurityFlags(c.flag).ok());
    EXPECT_EQ(Run(*admitted), JobState::kTransferred)
        << c.port << ": " << admitted->GetError()->description;
  }
}

TEST_F(TlsTest, ARevokedCertificateFailsOnlyWithTheCrlCheck) {
  Stock("CA", {"ca.crl"}, /*machine=*/true);
  auto manager = Open();
  auto unchecked = NewJob(*manager, server_->Url(Port::kRevoked, "/public/hello.txt"));
  EXPECT_EQ(Run(*unchecked), JobState::kTransferred);
  auto checked = NewJob(*manager, server_->Url(Port::kRevoked, "/public/hello.txt"));
  ASSERT_TRUE(checked->SetSecurityFlags(kSslEnableCrlCheck).ok());
  ASSERT_EQ(Run(*checked), JobState::kError);
  EXPECT_EQ(ErrorOf(*checked), kWinHttpSecureCertRevoked);
  auto good = NewJob(*manager, server_->Url(Port::kPlain, "/public/hello.txt"));
  ASSERT_TRUE(good->SetSecurityFlags(kSslEnableCrlCheck).ok());
  EXPECT_EQ(Run(*good), JobState::kTransferred) << good->GetError()->description;
}

TEST_F(TlsTest, TheCrlIsFetchedFromTheDistributionPointOrTheCheckFails) {
  auto manager = Open();
  auto revoked = NewJob(*manager, server_->Url(Port::kRevoked, "/public/hello.txt"));
  ASSERT_TRUE(revoked->SetSecurityFlags(kSslEnableCrlCheck).ok());
  ASSERT_EQ(Run(*revoked), JobState::kError);
  EXPECT_EQ(ErrorOf(*revoked), kWinHttpSecureCertRevoked);
  auto good = NewJob(*manager, server_->Url(Port::kPlain, "/public/hello.txt"));
  ASSERT_TRUE(good->SetSecurityFlags(kSslEnableCrlCheck).ok());
  EXPECT_EQ(Run(*good), JobState::kTransferred) << good->GetError()->description;
  int fetches = 0;
  for (const auto& e : server_->AccessLog()) fetches += e.uri == "/crl/ca.crl" ? 1 : 0;
  EXPECT_GE(fetches, 1);

  // Unreachable distribution point, no list in the stores: the check fails.
  const std::string served = server_->root() + "/crl/ca.crl";
  ASSERT_EQ(::rename(served.c_str(), (served + ".away").c_str()), 0);
  auto fresh_manager_state = std::make_unique<TempDir>();
  manager.reset();
  ManagerOptions options;
  options.state_directory = *fresh_manager_state / "queue";
  options.key_directory = *fresh_manager_state / "keys";
  options.additional_ca_file = pki() / "ca.crt";
  auto fresh = Manager::Open(options);
  ASSERT_TRUE(fresh.ok());
  auto unchecked = NewJob(**fresh, server_->Url(Port::kPlain, "/public/hello.txt"));
  ASSERT_TRUE(unchecked->SetSecurityFlags(kSslEnableCrlCheck).ok());
  const JobState outcome = Run(*unchecked);
  ::rename((served + ".away").c_str(), served.c_str());
  ASSERT_EQ(outcome, JobState::kError);
  EXPECT_EQ(ErrorOf(*unchecked), kWinHttpSecureCertRevFailed);
}

TEST_F(TlsTest, TheCurrentUsersRootStoreAddsTrustAnchors) {
  auto manager = Open(/*trust_test_ca=*/false);
  auto before = NewJob(*manager, server_->Url(Port::kPlain, "/public/hello.txt"));
  ASSERT_EQ(Run(*before), JobState::kError);
  EXPECT_EQ(ErrorOf(*before), kWinHttpSecureInvalidCa);
  Stock("ROOT", {"ca.crt"});
  auto after = NewJob(*manager, server_->Url(Port::kPlain, "/public/hello.txt"));
  EXPECT_EQ(Run(*after), JobState::kTransferred) << after->GetError()->description;
}

TEST_F(TlsTest, RedirectPolicies) {
  auto manager = Open();
  const std::string hop = server_->Url(Port::kPlain, "/hop");
  const std::string target = server_->Url(Port::kPlain, "/public/hello.txt");

  auto silent = NewJob(*manager, hop);
  ASSERT_EQ(Run(*silent), JobState::kTransferred);
  EXPECT_EQ(silent->EnumFiles()[0]->GetRemoteName(), hop);

  auto report = NewJob(*manager, hop);
  ASSERT_TRUE(report->SetSecurityFlags(kRedirectPolicyAllowReport).ok());
  ASSERT_EQ(Run(*report), JobState::kTransferred);
  EXPECT_EQ(report->EnumFiles()[0]->GetRemoteName(), target);

  auto disallow = NewJob(*manager, hop);
  ASSERT_TRUE(disallow->SetSecurityFlags(kRedirectPolicyDisallow).ok());
  ASSERT_EQ(Run(*disallow), JobState::kError);
  EXPECT_EQ(ErrorOf(*disallow), MakeHResult(0x8007012E));  // HRESULT_FROM_WIN32(302)
  EXPECT_EQ(disallow->EnumFiles()[0]->GetRemoteName(), target);

  const std::string downgrade = server_->Url(Port::kPlain, "/tohttp");
  auto refused = NewJob(*manager, downgrade);
  ASSERT_EQ(Run(*refused), JobState::kError);
  EXPECT_EQ(ErrorOf(*refused), kWinHttpRedirectFailed);
  auto allowed = NewJob(*manager, downgrade);
  ASSERT_TRUE(
      allowed->SetSecurityFlags(kRedirectAllowHttpsToHttp | kRedirectPolicyAllowReport).ok());
  ASSERT_EQ(Run(*allowed), JobState::kTransferred);
  EXPECT_EQ(allowed->EnumFiles()[0]->GetRemoteName(), server_->HttpUrl("/public/hello.txt"));
}

TEST_F(TlsTest, SecurityFlagsAreValidatedAndPersisted) {
  auto manager = Open();
  auto job = NewJob(*manager, server_->Url(Port::kPlain, "/public/hello.txt"));
  EXPECT_EQ(job->SetSecurityFlags(0x20).code(), kENotImpl);
  EXPECT_EQ(job->SetSecurityFlags(0x300).code(), kEInvalidArg);
  EXPECT_EQ(job->GetSecurityFlags(), 0u);
  ASSERT_TRUE(job->SetSecurityFlags(kSslIgnoreUnknownCa | kRedirectPolicyAllowReport).ok());
  const Guid id = job->GetId();
  job.reset();
  manager.reset();
  manager = Open();
  job = *manager->GetJob(id);
  EXPECT_EQ(job->GetSecurityFlags(), kSslIgnoreUnknownCa | kRedirectPolicyAllowReport);
  EXPECT_EQ(job->GetInfo().security_flags, kSslIgnoreUnknownCa | kRedirectPolicyAllowReport);
}

}  // namespace
}  // namespace openbits
