// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Kills a process running a 256 MiB download with SIGKILL at 20 random
// instants. After every kill: the queue's checkpoint never claims a byte the
// temporary file does not hold, the re-download it implies stays within one
// checkpoint (ManagerOptions::checkpoint_bytes), and the next process
// resumes exactly at the checkpoint (asserted from nginx's access log). At
// the end the file's SHA-256 matches.

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "store/store.h"
#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::NginxServer;
using testing::TempDir;

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kFileSize = 256 * kMiB;
constexpr std::uint64_t kCheckpointBytes = 4 * kMiB;
constexpr int kKills = 20;

// The temporary file in `dir` (BIT*.tmp), or "".
std::string TemporaryFile(const std::string& dir) {
  for (const std::string& name : testing::ListDirectory(dir)) {
    if (name.rfind("BIT", 0) == 0 && name.size() > 4 &&
        name.compare(name.size() - 4, 4, ".tmp") == 0) {
      return dir + "/" + name;
    }
  }
  return {};
}

// The checkpoint as committed in the queue database, read directly.
std::uint64_t CommittedCheckpoint(const std::string& db) {
  auto store = store::Store::Open(db);
  if (!store.ok()) return ~0ull;
  auto jobs = (*store)->LoadJobs();
  if (!jobs.ok() || jobs->size() != 1 || (*jobs)[0].files.size() != 1) return ~0ull;
  return (*jobs)[0].files[0].bytes_transferred;
}

TEST(CrashTest, SigkillAtRandomInstantsLosesNothingAndRefetchesAtMostOneCheckpoint) {
  NginxServer server;
  ASSERT_TRUE(server.ok()) << server.error();
  const std::string sha = testing::WriteTestFile(server.root() + "/big.bin", kFileSize, 99);
  TempDir state;
  TempDir dest;
  const std::string target = dest / "big.bin";
  const std::vector<std::string> args = {OPENBITS_CRASH_CHILD, state / "queue", target,
                                         server.Url("/big.bin"), std::to_string(kCheckpointBytes)};

  std::random_device device;
  const std::uint64_t seed = (static_cast<std::uint64_t>(device()) << 32) | device();
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::uint64_t> where(1 * kMiB, kFileSize - 1 * kMiB);
  std::vector<std::uint64_t> kill_at(kKills);
  for (auto& k : kill_at) k = where(rng);
  std::sort(kill_at.begin(), kill_at.end());
  std::printf("crash test seed %llu\n", static_cast<unsigned long long>(seed));

  std::vector<std::uint64_t> checkpoints;  // committed checkpoint after each kill
  std::uint64_t refetched_total = 0;
  std::uint64_t refetched_max = 0;
  int kills = 0;
  for (std::uint64_t at : kill_at) {
    testing::ChildProcess child = testing::SpawnWithOutput(args);
    ASSERT_GT(child.pid, 0);
    bool killed = false;
    char line[256];
    // Only once new bytes arrived: the child first reports the checkpoint it
    // resumes from, and a kill then could come before its request is sent.
    const std::uint64_t threshold =
        std::max(at, checkpoints.empty() ? std::uint64_t{1} : checkpoints.back() + 1);
    while (std::fgets(line, sizeof line, child.out) != nullptr) {
      unsigned long long bytes = 0;
      if (std::sscanf(line, "progress %llu", &bytes) == 1 && bytes >= threshold) {
        ::kill(child.pid, SIGKILL);
        killed = true;
        break;
      }
    }
    const int status = testing::Reap(child);
    if (!killed) break;  // finished before this instant: nothing left to kill
    ASSERT_TRUE(WIFSIGNALED(status));
    ++kills;

    const std::string temp = TemporaryFile(dest.path());
    ASSERT_FALSE(temp.empty()) << "kill " << kills;
    const std::uint64_t on_disk = testing::FileSizeOf(temp);
    const std::uint64_t checkpoint = CommittedCheckpoint(state / "queue/queue.db");
    ASSERT_NE(checkpoint, ~0ull);
    // Never claims a byte that is not in the file.
    ASSERT_LE(checkpoint, on_disk) << "kill " << kills;
    // Re-fetch cost: the bytes written after the last checkpoint.
    const std::uint64_t refetch = on_disk - checkpoint;
    EXPECT_LE(refetch, kCheckpointBytes) << "kill " << kills << " at " << at;
    refetched_total += refetch;
    refetched_max = std::max(refetched_max, refetch);
    checkpoints.push_back(checkpoint);
  }
  EXPECT_GE(kills, kKills - 1) << "the download outran the kill instants";

  // The last run completes the job.
  std::string output;
  ASSERT_EQ(testing::RunProgram(args, &output), 0) << output;
  EXPECT_EQ(testing::Sha256OfFile(target), sha);
  EXPECT_EQ(testing::ListDirectory(dest.path()), std::vector<std::string>{"big.bin"});

  // Every restart resumed exactly at the committed checkpoint.
  auto log = server.AccessLogFor("/big.bin");
  for (const auto& e : log) std::printf("request %s -> %d\n", e.range.c_str(), e.status);
  for (std::uint64_t c : checkpoints)
    std::printf("checkpoint %llu\n", static_cast<unsigned long long>(c));
  ASSERT_EQ(log.size(), checkpoints.size() + 1);
  EXPECT_EQ(log[0].range, "bytes=0-");
  for (std::size_t i = 0; i < checkpoints.size(); ++i) {
    EXPECT_EQ(log[i + 1].range, "bytes=" + std::to_string(checkpoints[i]) + "-") << i;
    EXPECT_EQ(log[i + 1].status, 206);
  }
  std::printf(
      "crash test: %d kills, re-fetched %llu bytes in total, at most %llu per kill"
      " (checkpoint %llu)\n",
      kills, static_cast<unsigned long long>(refetched_total),
      static_cast<unsigned long long>(refetched_max),
      static_cast<unsigned long long>(kCheckpointBytes));
}

}  // namespace
}  // namespace openbits
