// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "store/vault.h"

#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sys/stat.h>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "openbits/hresult.h"

#include "tests/support/test_support.h"

namespace openbits::store {
namespace {

using openbits::testing::TempDir;

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class VaultTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    vault_.reset();
    store_.reset();
    auto store = Store::Open(dir_ / "queue.db");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    auto vault = OpenVault();
    ASSERT_TRUE(vault.ok()) << vault.status().ToString();
    vault_ = std::move(*vault);
  }
  Result<std::unique_ptr<Vault>> OpenVault() {
    return Vault::Open(*store_, platform::NewKeyProtector(keys_dir()));
  }
  std::string keys_dir() const { return dir_ / "keys"; }

  // A job row to hang secrets on.
  Guid AddJob() {
    JobRecord j;
    j.id = Guid::Generate();
    j.sequence = ++sequence_;
    EXPECT_TRUE(store_->InsertJob(j).ok());
    return j.id;
  }
  // Seals `secret` for (job, purpose) and stores it.
  void Put(const Guid& job, const std::string& purpose, std::string_view secret) {
    auto sealed = vault_->Seal(job, purpose, Bytes(secret));
    ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
    ASSERT_TRUE(store_->PutSecret(job, purpose, *sealed).ok());
  }
  // The stored record of (job, purpose).
  std::vector<std::uint8_t> Stored(const Guid& job, const std::string& purpose) {
    auto all = store_->LoadSecrets();
    for (auto& [id, s] : *all) {
      if (id == job && s.purpose == purpose) return s.sealed;
    }
    ADD_FAILURE() << "no secret " << purpose;
    return {};
  }
  std::string Open(const Guid& job, const std::string& purpose, HResult* code = nullptr) {
    auto plain = vault_->Unseal(job, purpose, Stored(job, purpose));
    if (code != nullptr) *code = plain.ok() ? 0 : plain.status().code();
    return plain.ok() ? std::string(plain->view()) : std::string();
  }
  std::vector<std::string> KeyFiles() { return testing::ListDirectory(keys_dir()); }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Vault> vault_;
  std::int64_t sequence_ = 0;
};

TEST_F(VaultTest, NothingIsCreatedUntilTheFirstSecret) {
  EXPECT_EQ(vault_->active_generation(), 0u);
  struct stat st {};
  EXPECT_NE(::stat(keys_dir().c_str(), &st), 0);
  const Guid job = AddJob();
  Put(job, "credential/server/basic", "hunter2");
  EXPECT_EQ(vault_->active_generation(), 1u);
  ASSERT_EQ(::stat(keys_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(KeyFiles().size(), 1u);
  ASSERT_EQ(::stat((dir_ / "keys/" + KeyFiles()[0]).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(VaultTest, ARecordOpensOnlyForItsJobAndPurpose) {
  const Guid a = AddJob();
  const Guid b = AddJob();
  Put(a, "credential/server/basic", "password-of-a");
  EXPECT_EQ(Open(a, "credential/server/basic"), "password-of-a");
  const auto record = Stored(a, "credential/server/basic");
  auto other_job = vault_->Unseal(b, "credential/server/basic", record);
  EXPECT_EQ(other_job.status().code(), kNteBadData);
  auto other_purpose = vault_->Unseal(a, "credential/proxy/basic", record);
  EXPECT_EQ(other_purpose.status().code(), kNteBadData);
}

TEST_F(VaultTest, EveryFlippedBitIsDetected) {
  const Guid job = AddJob();
  Put(job, "url-password/0", "s3cret");
  const auto record = Stored(job, "url-password/0");
  for (std::size_t i = 0; i < record.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto changed = record;
      changed[i] ^= static_cast<std::uint8_t>(1u << bit);
      auto plain = vault_->Unseal(job, "url-password/0", changed);
      ASSERT_FALSE(plain.ok()) << "byte " << i << " bit " << bit;
      const HResult code = plain.status().code();
      EXPECT_TRUE(code == kNteBadData || code == kNteNoKey) << FormatHResult(code);
    }
  }
  // Truncated and empty records, too.
  EXPECT_FALSE(
      vault_->Unseal(job, "url-password/0", std::span(record).first(record.size() - 1)).ok());
  EXPECT_FALSE(vault_->Unseal(job, "url-password/0", {}).ok());
}

TEST_F(VaultTest, RecordsSwappedBetweenRowsDoNotOpen) {
  const Guid a = AddJob();
  const Guid b = AddJob();
  Put(a, "credential/server/basic", "alpha-password");
  Put(b, "credential/server/basic", "bravo-password");
  const auto ra = Stored(a, "credential/server/basic");
  const auto rb = Stored(b, "credential/server/basic");
  ASSERT_TRUE(store_->PutSecret(a, "credential/server/basic", rb).ok());
  ASSERT_TRUE(store_->PutSecret(b, "credential/server/basic", ra).ok());
  Reopen();
  HResult code = 0;
  EXPECT_EQ(Open(a, "credential/server/basic", &code), "");
  EXPECT_EQ(code, kNteBadData);
  EXPECT_EQ(Open(b, "credential/server/basic", &code), "");
  EXPECT_EQ(code, kNteBadData);
}

TEST_F(VaultTest, NeitherTheKeyNorThePlaintextIsInTheDatabase) {
  const Guid job = AddJob();
  Put(job, "credential/server/basic", "Distinctive-Plaintext-77");
  ASSERT_EQ(KeyFiles().size(), 1u);
  const std::string key_file = ReadFile(dir_ / "keys/" + KeyFiles()[0]);
  ASSERT_EQ(key_file.size(), 5u + 32u);  // "OBK1", format byte, key
  const std::string key = key_file.substr(5);
  for (const char* name : {"queue.db", "queue.db-wal", "queue.db-shm"}) {
    const std::string bytes = ReadFile(dir_ / name);
    EXPECT_EQ(bytes.find(key), std::string::npos) << name;
    EXPECT_EQ(bytes.find("Distinctive-Plaintext-77"), std::string::npos) << name;
  }
}

TEST_F(VaultTest, AMissingKeyFailsOnlyTheSecretsSealedUnderIt) {
  const Guid job = AddJob();
  Put(job, "credential/server/basic", "old-secret");
  ASSERT_EQ(::unlink((dir_ / "keys/" + KeyFiles()[0]).c_str()), 0);
  Reopen();  // opening still works: everyone else keeps being served
  EXPECT_FALSE(vault_->warnings().empty());
  HResult code = 0;
  EXPECT_EQ(Open(job, "credential/server/basic", &code), "");
  EXPECT_EQ(code, kNteNoKey);
  // New secrets get a new key and survive a restart.
  Put(job, "credential/proxy/basic", "new-secret");
  EXPECT_EQ(vault_->active_generation(), 2u);
  Reopen();
  EXPECT_EQ(Open(job, "credential/proxy/basic"), "new-secret");
  EXPECT_EQ(Open(job, "credential/server/basic", &code), "");
  EXPECT_EQ(code, kNteNoKey);
}

TEST_F(VaultTest, AKeyReplacedByAnotherIsRecognisedAsWrong) {
  const Guid job = AddJob();
  Put(job, "credential/server/basic", "secret");
  const std::string name = KeyFiles()[0].substr(0, KeyFiles()[0].size() - 4);
  platform::SecretBuffer other(32);
  other.data()[0] = 1;
  ASSERT_TRUE(platform::NewKeyProtector(keys_dir())->Store(name, other).ok());
  Reopen();
  auto plain =
      vault_->Unseal(job, "credential/server/basic", Stored(job, "credential/server/basic"));
  EXPECT_EQ(plain.status().code(), kNteNoKey);
  EXPECT_NE(plain.status().message().find("not the key"), std::string::npos)
      << plain.status().message();
}

TEST_F(VaultTest, AKeyOthersCouldReadOrReplaceIsRefused) {
  const Guid job = AddJob();
  Put(job, "credential/server/basic", "secret");
  const std::string key = dir_ / "keys/" + KeyFiles()[0];
  vault_.reset();

  ASSERT_EQ(::chmod(key.c_str(), 0644), 0);
  auto vault = OpenVault();
  EXPECT_EQ(vault.status().code(), kEAccessDenied);
  EXPECT_NE(vault.status().message().find("0644"), std::string::npos) << vault.status().message();
  ASSERT_EQ(::chmod(key.c_str(), 0600), 0);

  ASSERT_EQ(::chmod(keys_dir().c_str(), 0755), 0);
  EXPECT_EQ(OpenVault().status().code(), kEAccessDenied);
  ASSERT_EQ(::chmod(keys_dir().c_str(), 0700), 0);

  // A symbolic link in place of the key file is not followed.
  ASSERT_EQ(::rename(key.c_str(), (key + ".real").c_str()), 0);
  ASSERT_EQ(::symlink((key + ".real").c_str(), key.c_str()), 0);
  EXPECT_EQ(OpenVault().status().code(), kEAccessDenied);
  ASSERT_EQ(::unlink(key.c_str()), 0);
  ASSERT_EQ(::rename((key + ".real").c_str(), key.c_str()), 0);

  auto fixed = OpenVault();
  ASSERT_TRUE(fixed.ok()) << fixed.status().ToString();
}

TEST_F(VaultTest, RotationReSealsEverySecretUnderANewKey) {
  std::vector<Guid> jobs;
  for (int i = 0; i < 5; ++i) {
    jobs.push_back(AddJob());
    Put(jobs.back(), "credential/server/basic", "secret-" + std::to_string(i));
    Put(jobs.back(), "url-password/0", "url-" + std::to_string(i));
  }
  const auto before = Stored(jobs[0], "credential/server/basic");
  const std::vector<std::string> old_keys = KeyFiles();
  ASSERT_TRUE(vault_->RotateKey().ok());
  EXPECT_EQ(vault_->active_generation(), 2u);
  EXPECT_NE(Stored(jobs[0], "credential/server/basic"), before);
  ASSERT_EQ(KeyFiles().size(), 1u);
  EXPECT_NE(KeyFiles(), old_keys);
  Reopen();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Open(jobs[i], "credential/server/basic"), "secret-" + std::to_string(i));
    EXPECT_EQ(Open(jobs[i], "url-password/0"), "url-" + std::to_string(i));
  }
}

TEST_F(VaultTest, RotationStopsWithoutChangeIfASecretDoesNotOpen) {
  const Guid a = AddJob();
  const Guid b = AddJob();
  Put(a, "credential/server/basic", "fine");
  Put(b, "credential/server/basic", "tampered");
  auto record = Stored(b, "credential/server/basic");
  record.back() ^= 1;
  ASSERT_TRUE(store_->PutSecret(b, "credential/server/basic", record).ok());
  const auto keys = KeyFiles();
  Status st = vault_->RotateKey();
  EXPECT_EQ(st.code(), kNteBadData);
  EXPECT_NE(st.message().find(b.ToString()), std::string::npos) << st.message();
  EXPECT_EQ(vault_->active_generation(), 1u);
  EXPECT_EQ(KeyFiles(), keys);
  EXPECT_EQ(Open(a, "credential/server/basic"), "fine");
}

TEST_F(VaultTest, KeysLeftByAnInterruptedRotationAreRemovedAtOpen) {
  const Guid job = AddJob();
  Put(job, "credential/server/basic", "survivor");
  const std::string name = KeyFiles()[0].substr(0, KeyFiles()[0].size() - 4);
  const std::string prefix = name.substr(0, name.rfind('-') + 1);
  // A crash after the new key was stored but before the commit.
  platform::SecretBuffer orphan(32);
  ASSERT_TRUE(platform::NewKeyProtector(keys_dir())->Store(prefix + "9", orphan).ok());
  ASSERT_EQ(KeyFiles().size(), 2u);
  Reopen();
  EXPECT_EQ(KeyFiles(), std::vector<std::string>{name + ".key"});
  EXPECT_EQ(Open(job, "credential/server/basic"), "survivor");
  // A crash after the commit but before the old key was removed.
  const std::string old_key = ReadFile(dir_ / "keys/" + name + ".key");
  ASSERT_TRUE(vault_->RotateKey().ok());
  {
    std::ofstream out(dir_ / "keys/" + name + ".key", std::ios::binary);
    out << old_key;
  }
  ASSERT_EQ(::chmod((dir_ / "keys/" + name + ".key").c_str(), 0600), 0);
  ASSERT_EQ(KeyFiles().size(), 2u);
  Reopen();
  EXPECT_EQ(KeyFiles().size(), 1u);
  EXPECT_EQ(Open(job, "credential/server/basic"), "survivor");
}

TEST_F(VaultTest, DeletingAJobDeletesItsSecrets) {
  const Guid job = AddJob();
  Put(job, "credential/server/basic", "gone");
  ASSERT_TRUE(store_->DeleteJob(job).ok());
  EXPECT_TRUE(store_->LoadSecrets()->empty());
}

TEST(KeyProtectorTest, ASystemdCredentialWrapsTheKeyFiles) {
  TempDir dir;
  ::mkdir((dir / "credentials").c_str(), 0700);
  std::ofstream(dir / "credentials/openbits-vault-kek") << std::string(64, 'k');
  ::setenv("CREDENTIALS_DIRECTORY", (dir / "credentials").c_str(), 1);
  auto keys = platform::NewKeyProtector(dir / "keys");
  platform::SecretBuffer key(32);
  for (std::size_t i = 0; i < key.size(); ++i) key.data()[i] = static_cast<std::uint8_t>(i);
  ASSERT_TRUE(keys->Store("vault-test-1", key).ok());
  const std::string file = ReadFile(dir / "keys/vault-test-1.key");
  EXPECT_EQ(file.substr(0, 5), std::string("OBK1\x01", 5));  // wrapped
  EXPECT_EQ(file.find(std::string(reinterpret_cast<const char*>(key.data()), key.size())),
            std::string::npos);
  auto loaded = keys->Load("vault-test-1");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->view(), key.view());
  // Another machine's credential (or none) does not open it.
  std::ofstream(dir / "credentials/openbits-vault-kek") << std::string(64, 'x');
  EXPECT_EQ(keys->Load("vault-test-1").status().code(), kNteBadData);
  ::unsetenv("CREDENTIALS_DIRECTORY");
  EXPECT_EQ(keys->Load("vault-test-1").status().code(), kNteNoKey);
}

}  // namespace
}  // namespace openbits::store
