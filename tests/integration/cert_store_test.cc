// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Certificate stores as directories (platform/cert_store.h) and the choice
// of a client certificate (auth/client_certificate.h), on certificates made
// by the openssl command: keys in the same or a separate file, encrypted
// PEM keys and PKCS#12 that need the password, CRLs, junk that is skipped.

#include "platform/cert_store.h"

#include <ctime>
#include <fstream>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "openbits/hresult.h"

#include "auth/client_certificate.h"
#include "tests/support/auth_servers.h"
#include "tests/support/test_support.h"

namespace openbits {
namespace {

using platform::SecretBuffer;
using testing::TempDir;

class CertStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = std::make_unique<testing::TestPki>("http://127.0.0.1:9/unused.crl");
    if (!pki_->ok()) return;
    std::string out;
    testing::RunProgram({"/usr/bin/openssl", "pkey", "-in", *pki_ / "client.key", "-aes256",
                         "-passout", "pass:pem-pass", "-out", *pki_ / "client-encrypted.key"},
                        &out);
  }
  static void TearDownTestSuite() { pki_.reset(); }
  void SetUp() override { ASSERT_TRUE(pki_->ok()) << pki_->error(); }

  // Makes store `name` under the CURRENT_USER root from pki files, each
  // copied under the name given (from -> to).
  void Stock(const std::string& name,
             const std::vector<std::pair<std::string, std::string>>& files) {
    const std::string dir = root_ / name;
    ::mkdir(dir.c_str(), 0700);
    for (const auto& [from, to] : files) {
      std::ifstream in(*pki_ / from, std::ios::binary);
      std::ofstream(dir + "/" + to, std::ios::binary) << in.rdbuf();
    }
  }

  Result<platform::CertStoreContents> Read(const std::string& name,
                                           const SecretBuffer* password = nullptr) {
    platform::CertStoreRoots roots{root_.path(), machine_.path()};
    return platform::ReadCertStore(roots, "", CertStoreLocation::kCurrentUser, name, password);
  }

  static std::unique_ptr<testing::TestPki> pki_;
  TempDir root_;
  TempDir machine_;
};

std::unique_ptr<testing::TestPki> CertStoreTest::pki_;

TEST_F(CertStoreTest, PemKeysPairWithTheirCertificateInTheSameOrAnotherFile) {
  Stock("MY", {{"client.crt", "a-cert.pem"},
               {"client.key", "zz-key.key"},
               {"ca.crt", "ca.cer"},
               {"ca.crl", "ca.crl"},
               {"rogue-client.crt", "rogue.crt"}});
  {
    std::ofstream(root_ / "MY/junk.pem") << "-----BEGIN CERTIFICATE-----\nnot base64\n";
    std::ofstream(root_ / "MY/notes.txt") << "ignored";
  }
  auto store = Read("my");  // names match without regard to case
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_EQ(store->certificates.size(), 3u);
  EXPECT_FALSE(store->certificates[0].identity_p12.empty());  // client, key from zz-key.key
  EXPECT_TRUE(store->certificates[1].identity_p12.empty());   // the CA: no key
  EXPECT_TRUE(store->certificates[2].identity_p12.empty());   // rogue: its key is not here
  EXPECT_EQ(store->crls.size(), 1u);
  EXPECT_TRUE(store->locked.empty());

  auth::CertificateQuery query;
  query.subject = "O=OPENBITS TESTS";
  auto chosen = auth::SelectClientCertificate(*store, query, std::time(nullptr));
  ASSERT_TRUE(chosen.ok()) << chosen.status().ToString();
  EXPECT_EQ(*chosen, 0u);
  query.subject = "rogue";
  EXPECT_EQ(auth::SelectClientCertificate(*store, query, std::time(nullptr)).status().code(),
            kCryptENoKeyProperty);
}

TEST_F(CertStoreTest, ProtectedFilesOpenOnlyWithThePassword) {
  Stock("MY", {{"client.crt", "client.crt"}, {"client-encrypted.key", "client.key"}});
  Stock("P12", {{"client.p12", "client.p12"}});
  auth::CertificateQuery query;
  query.subject = "openbits-client";
  const std::time_t now = std::time(nullptr);

  auto locked = Read("MY");
  ASSERT_TRUE(locked.ok());
  EXPECT_EQ(locked->locked, std::vector<std::string>{"client.key"});
  EXPECT_EQ(auth::SelectClientCertificate(*locked, query, now).status().code(),
            kCryptENoKeyProperty);  // the certificate is there, its key is not open
  const SecretBuffer pem_pass = SecretBuffer::FromString("pem-pass");
  auto open = Read("MY", &pem_pass);
  ASSERT_TRUE(open.ok());
  EXPECT_TRUE(open->locked.empty());
  EXPECT_TRUE(auth::SelectClientCertificate(*open, query, now).ok());

  auto p12_locked = Read("P12");
  ASSERT_TRUE(p12_locked.ok());
  EXPECT_EQ(auth::SelectClientCertificate(*p12_locked, query, now).status().code(),
            kEInvalidPassword);
  const SecretBuffer wrong = SecretBuffer::FromString("wrong");
  EXPECT_EQ(auth::SelectClientCertificate(*Read("P12", &wrong), query, now).status().code(),
            kEInvalidPassword);
  const SecretBuffer right = SecretBuffer::FromString(testing::TestPki::kP12Password);
  auto p12 = Read("P12", &right);
  ASSERT_TRUE(p12.ok());
  ASSERT_EQ(p12->certificates.size(), 1u);
  EXPECT_FALSE(p12->certificates[0].identity_p12.empty());
}

TEST_F(CertStoreTest, ThumbprintsAndExpiry) {
  Stock("MY", {{"client.crt", "client.crt"},
               {"client.key", "client.key"},
               {"client-expired.crt", "old.crt"},
               {"client-expired.key", "old.key"}});
  auto store = Read("MY");
  ASSERT_TRUE(store.ok());
  ASSERT_EQ(store->certificates.size(), 2u);
  const auto hash = auth::Thumbprint(store->certificates[0].der);
  auto parsed = auth::ParseThumbprint(" " + auth::ThumbprintHex(hash).substr(0, 10) + " " +
                                      auth::ThumbprintHex(hash).substr(10));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, hash);
  EXPECT_EQ(auth::ParseThumbprint("12 34").status().code(), kEInvalidArg);
  EXPECT_EQ(auth::ParseThumbprint(std::string(40, 'g')).status().code(), kEInvalidArg);

  auth::CertificateQuery by_id;
  by_id.thumbprint = &hash;
  EXPECT_EQ(*auth::SelectClientCertificate(*store, by_id, std::time(nullptr)), 0u);
  auth::CertificateQuery old;
  old.subject = "old-client";
  EXPECT_EQ(auth::SelectClientCertificate(*store, old, std::time(nullptr)).status().code(),
            kCertEExpired);
  // Back in 2020 the old one was valid and the new one not yet.
  const std::time_t then = 1577880000;  // 2020-01-01T12:00:00Z
  EXPECT_EQ(*auth::SelectClientCertificate(*store, old, then), 1u);
  EXPECT_EQ(auth::SelectClientCertificate(*store, by_id, then).status().code(), kCertEExpired);
}

TEST_F(CertStoreTest, StoreNamesAndLocations) {
  platform::CertStoreRoots roots{root_.path(), machine_.path()};
  const std::vector<std::string> bad_names = {
      "", ".", "..", "../MY", "MY/..", "a b", std::string(65, 'A')};
  for (const std::string& bad : bad_names) {
    EXPECT_EQ(platform::ReadCertStore(roots, "", CertStoreLocation::kCurrentUser, bad, nullptr)
                  .status()
                  .code(),
              kEInvalidArg)
        << bad;
  }
  EXPECT_EQ(
      platform::ReadCertStore(roots, "", CertStoreLocation::kUsers, "MY", nullptr).status().code(),
      kENotImpl);
  EXPECT_EQ(Read("ABSENT").status().code(), kCryptENotFound);
  ::mkdir((machine_ / "Root").c_str(), 0755);
  EXPECT_TRUE(
      platform::ReadCertStore(roots, "", CertStoreLocation::kLocalMachine, "ROOT", nullptr).ok());
}

}  // namespace
}  // namespace openbits
