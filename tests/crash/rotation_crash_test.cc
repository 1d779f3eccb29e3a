// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Kills a process that rotates the vault key in a loop with SIGKILL at 30
// random instants (each lands inside a rotation: after the key file is
// written, during the re-sealing transaction, or while old keys are
// removed). After every kill, every secret opens to its original plaintext
// and exactly one key file is left once the vault has been opened.

#include <signal.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "platform/key_protector.h"
#include "store/store.h"
#include "store/vault.h"
#include "tests/support/test_support.h"

namespace openbits {
namespace {

constexpr int kKills = 30;
constexpr int kJobs = 40;

using Expected = std::map<std::pair<std::string, std::string>, std::string>;

// Opens the queue and checks every secret; returns how many opened.
int VerifyAll(const std::string& db, const std::string& keys, const Expected& expected) {
  auto store = store::Store::Open(db);
  EXPECT_TRUE(store.ok());
  if (!store.ok()) return -1;
  auto vault = store::Vault::Open(**store, platform::NewKeyProtector(keys));
  EXPECT_TRUE(vault.ok()) << vault.status().ToString();
  if (!vault.ok()) return -1;
  EXPECT_TRUE((*vault)->warnings().empty());
  auto secrets = (*store)->LoadSecrets();
  int opened = 0;
  for (const auto& [job, secret] : *secrets) {
    auto plain = (*vault)->Unseal(job, secret.purpose, secret.sealed);
    EXPECT_TRUE(plain.ok()) << plain.status().ToString();
    if (!plain.ok()) continue;
    EXPECT_EQ(std::string(plain->view()), expected.at({job.ToString(), secret.purpose}));
    ++opened;
  }
  return opened;
}

TEST(RotationCrashTest, SigkillDuringKeyRotationLeavesEverySecretReadable) {
  testing::TempDir dir;
  const std::string db = dir / "queue.db";
  const std::string keys = dir / "keys";
  Expected expected;
  {
    auto store = store::Store::Open(db);
    ASSERT_TRUE(store.ok());
    auto vault = store::Vault::Open(**store, platform::NewKeyProtector(keys));
    ASSERT_TRUE(vault.ok());
    for (int i = 0; i < kJobs; ++i) {
      store::JobRecord job;
      job.id = Guid::Generate();
      job.sequence = i + 1;
      ASSERT_TRUE((*store)->InsertJob(job).ok());
      for (const std::string purpose : {"credential/server/basic", "url-password/0"}) {
        const std::string plain = "secret " + std::to_string(i) + " " + purpose;
        auto sealed = (*vault)->Seal(
            job.id, purpose,
            std::span(reinterpret_cast<const std::uint8_t*>(plain.data()), plain.size()));
        ASSERT_TRUE(sealed.ok());
        ASSERT_TRUE((*store)->PutSecret(job.id, purpose, *sealed).ok());
        expected[{job.id.ToString(), purpose}] = plain;
      }
    }
  }

  std::random_device device;
  const unsigned seed = device();
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> lines_before_kill(0, 3);
  std::printf("rotation crash test seed %u\n", seed);
  int rotations = 0;
  for (int kill = 0; kill < kKills; ++kill) {
    testing::ChildProcess child = testing::SpawnWithOutput({OPENBITS_VAULT_CHILD, db, keys});
    ASSERT_GT(child.pid, 0);
    const int wanted = lines_before_kill(rng);
    char line[128];
    for (int seen = 0; seen < wanted && std::fgets(line, sizeof line, child.out) != nullptr;) {
      ++seen;
      ++rotations;
    }
    ::kill(child.pid, SIGKILL);
    const int status = testing::Reap(child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child stopped by itself: " << status;
    ASSERT_EQ(VerifyAll(db, keys, expected), 2 * kJobs) << "after kill " << kill + 1;
    EXPECT_EQ(testing::ListDirectory(keys).size(), 1u) << "after kill " << kill + 1;
  }
  std::printf("rotation crash test: %d kills, %d rotations seen complete\n", kKills, rotations);
  EXPECT_GT(rotations, 0);
}

}  // namespace
}  // namespace openbits
