// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The daemon killed with SIGKILL 100 times across a mixed workload: jobs of
// one large file and of several small ones created, resumed, suspended,
// completed and cancelled, credentials set and removed, from a client
// thread whose next call is always in flight when the kill comes. After
// each restart: no job lost, none duplicated, none resurrected; every
// completed job's files are there with the right SHA-256 and nothing else;
// a cancelled job leaves nothing; a live job's directory holds only its
// own temporary files.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sys/stat.h>
#include <thread>

#include <gtest/gtest.h>

#include "openbits/openbits.h"

#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::NginxServer;
using testing::TempDir;

constexpr int kKills = 100;
constexpr std::uint64_t kBigSize = 24 << 20;
constexpr int kSmallFiles = 6;

enum class Fate { kPresent, kCompleted, kCancelled };

struct ModelJob {
  Guid id;
  std::string dir;
  std::vector<std::pair<std::string, std::string>> files;  // local name, SHA-256
  Fate fate = Fate::kPresent;
  // A Complete or Cancel whose answer the kill cut off: either outcome is right.
  std::optional<Fate> maybe;
};

class CrashLoopTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    NginxServer::Options options;
    options.extra_server_config =
        "    location /slow/ { alias $ROOT/; limit_rate 6m; sendfile_max_chunk 64k; }\n";
    server_ = std::make_unique<NginxServer>(options);
    if (!server_->ok()) return;
    big_sha_ = testing::WriteTestFile(server_->root() + "/big.bin", kBigSize, 5);
    for (int i = 0; i < kSmallFiles; ++i) {
      small_sha_.push_back(testing::WriteTestFile(
          server_->root() + "/s" + std::to_string(i) + ".bin", 16384 + 1000 * i, 100 + i));
    }
  }
  static void TearDownTestSuite() { server_.reset(); }

  void StartDaemon() {
    socket_ = state_ / "openbitsd.sock";
    ::unlink(socket_.c_str());
    daemon_ =
        testing::SpawnWithOutput({OPENBITS_DAEMON, "--foreground", "--state-dir", state_ / "state",
                                  "--socket", socket_, "--key-dir", state_ / "keys"});
    ASSERT_GT(daemon_.pid, 0);
    ASSERT_TRUE(testing::WaitForDirectoryChange(
        state_.path(), [&] { return ::access(socket_.c_str(), F_OK) == 0; },
        std::chrono::seconds(30), daemon_.pid))
        << "the daemon did not come back";
    ConnectOptions options;
    options.socket_path = socket_;
    options.state_directory = state_ / "state";
    options.start_daemon = false;
    auto m = Connect(options);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
  }

  void KillDaemon() {
    if (daemon_.pid <= 0) return;
    ::kill(daemon_.pid, SIGKILL);
    testing::Reap(daemon_);
    daemon_.pid = -1;
  }
  // A failed check returns early: the daemon must not outlive the test.
  void TearDown() override {
    manager_.reset();
    KillDaemon();
  }

  // Checks every invariant against the model after a restart.
  void Check(int round) {
    auto listed = manager_->EnumJobs();
    ASSERT_TRUE(listed.ok()) << listed.status().ToString();
    std::map<Guid, std::shared_ptr<Job>> present;
    for (auto& job : *listed) {
      ASSERT_TRUE(present.emplace(job->GetId(), job).second) << "duplicated job, round " << round;
    }
    for (auto& [id, job] : present) {
      // A job the model does not know came from a create the kill cut off.
      if (model_.count(id) == 0) {
        ASSERT_TRUE(job->GetDisplayName().rfind("crash-", 0) == 0) << "unknown job";
        ASSERT_TRUE(job->Cancel().ok());
      }
    }
    for (auto& [id, m] : model_) {
      const bool listed_now = present.count(id) != 0;
      if (m.maybe) {
        if (!listed_now) m.fate = *m.maybe;
        m.maybe.reset();
      }
      const std::vector<std::string> names = testing::ListDirectory(m.dir);
      switch (m.fate) {
        case Fate::kPresent: {
          ASSERT_TRUE(listed_now) << "lost job " << id.ToString() << ", round " << round;
          std::set<std::string> own;
          for (auto& f : present[id]->EnumFiles()) {
            const std::string temp = f->GetTemporaryName();
            if (!temp.empty()) own.insert(temp.substr(temp.find_last_of('/') + 1));
          }
          for (const std::string& n : names) {
            EXPECT_EQ(own.count(n), 1u) << "stray " << n << " in a live job, round " << round;
          }
          break;
        }
        case Fate::kCompleted: {
          ASSERT_FALSE(listed_now) << "a completed job came back, round " << round;
          std::vector<std::string> expected;
          for (auto& [local, sha] : m.files) {
            expected.push_back(local.substr(local.find_last_of('/') + 1));
            EXPECT_EQ(testing::Sha256OfFile(local), sha) << local << ", round " << round;
          }
          std::sort(expected.begin(), expected.end());
          EXPECT_EQ(names, expected) << "round " << round;
          break;
        }
        case Fate::kCancelled:
          ASSERT_FALSE(listed_now) << "a cancelled job came back, round " << round;
          EXPECT_TRUE(names.empty()) << "files left by a cancelled job, round " << round;
          break;
      }
    }
    ++checks_;
  }

  // Client work until the kill breaks the connection; `progress` counts the
  // calls that returned, so the test can kill while the next one is running.
  void Work(std::mt19937_64 rng, std::atomic<int>* progress) {
    for (int op = 0; op < 100000; ++op) {
      std::vector<ModelJob*> live;
      {
        std::lock_guard lock(mu_);
        for (auto& [id, m] : model_) {
          if (m.fate == Fate::kPresent && !m.maybe) live.push_back(&m);
        }
      }
      const int choice = static_cast<int>(rng() % 10);
      Status st;
      if (choice < 3 || live.size() < 2) {
        st = CreateJob(rng);
      } else {
        ModelJob* m = live[rng() % live.size()];
        auto job = manager_->GetJob(m->id);
        if (!job.ok()) return;  // the daemon is gone
        if (choice < 5) {
          const JobState state = (*job)->GetState();
          if (state == JobState::kTransferred) {
            {
              std::lock_guard lock(mu_);
              m->maybe = Fate::kCompleted;
            }
            st = (*job)->Complete();
            std::lock_guard lock(mu_);
            if (st.ok()) m->fate = Fate::kCompleted;
            if (st.ok() || st.code() != kEFail) m->maybe.reset();
          } else if (state == JobState::kSuspended || state == JobState::kTransientError ||
                     state == JobState::kError) {
            st = (*job)->Resume();
          } else {
            st = (*job)->Suspend();
          }
        } else if (choice < 6) {
          {
            std::lock_guard lock(mu_);
            m->maybe = Fate::kCancelled;
          }
          st = (*job)->Cancel();
          std::lock_guard lock(mu_);
          if (st.ok()) m->fate = Fate::kCancelled;
          if (st.ok() || st.code() != kEFail) m->maybe.reset();
        } else if (choice < 8) {
          st = (*job)->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "crash-user",
                                      "pw-" + std::to_string(op));
        } else {
          st = (*job)->RemoveCredentials(AuthTarget::kServer, AuthScheme::kBasic);
        }
      }
      if (st.code() == kEFail) return;  // the connection broke: the kill came
      {
        std::lock_guard lock(progress_mu_);
        ++*progress;
      }
      progress_cv_.notify_all();
    }
  }

  Status CreateJob(std::mt19937_64& rng) {
    const int n = next_job_++;
    auto created = manager_->CreateJob("crash-" + std::to_string(n));
    if (!created.ok()) return created.status();
    ModelJob m;
    m.id = (*created)->GetId();
    m.dir = dest_ / ("j" + std::to_string(n));
    ::mkdir(m.dir.c_str(), 0755);
    std::vector<FileInfo> files;
    if (rng() % 3 == 0) {
      files.push_back({server_->Url("/slow/big.bin"), m.dir + "/big.bin"});
      m.files.emplace_back(m.dir + "/big.bin", big_sha_);
    } else {
      for (int i = 0; i < 3; ++i) {
        const int s = static_cast<int>(rng() % kSmallFiles);
        const std::string local = m.dir + "/f" + std::to_string(i) + ".bin";
        files.push_back({server_->Url("/s" + std::to_string(s) + ".bin"), local});
        m.files.emplace_back(local, small_sha_[static_cast<std::size_t>(s)]);
      }
    }
    Status st = (*created)->AddFileSet(files);
    if (st.ok()) st = (*created)->SetPriority(JobPriority::kForeground);
    if (st.ok()) st = (*created)->Resume();
    if (!st.ok()) return st;  // the job is cancelled at the next check as unknown
    std::lock_guard lock(mu_);
    model_.emplace(m.id, std::move(m));
    return Status::Ok();
  }

  static std::unique_ptr<NginxServer> server_;
  static std::string big_sha_;
  static std::vector<std::string> small_sha_;
  TempDir state_;
  TempDir dest_;
  std::string socket_;
  testing::ChildProcess daemon_;
  std::unique_ptr<Manager> manager_;
  std::mutex mu_;
  std::mutex progress_mu_;
  std::condition_variable progress_cv_;
  std::map<Guid, ModelJob> model_;
  int next_job_ = 0;
  int checks_ = 0;
};

std::unique_ptr<NginxServer> CrashLoopTest::server_;
std::string CrashLoopTest::big_sha_;
std::vector<std::string> CrashLoopTest::small_sha_;

TEST_F(CrashLoopTest, HundredKillsAcrossAMixedWorkloadLoseNothing) {
  ASSERT_TRUE(server_->ok()) << server_->error();
  std::random_device device;
  const std::uint64_t seed = (static_cast<std::uint64_t>(device()) << 32) | device();
  std::mt19937_64 rng(seed);
  std::printf("crash loop seed %llu\n", static_cast<unsigned long long>(seed));
  int completed_files = 0;
  for (int round = 0; round < kKills; ++round) {
    StartDaemon();
    if (HasFatalFailure()) return;
    Check(round);
    if (HasFatalFailure()) return;
    // The kill comes after a random number of answered calls (0: during the
    // daemon's recovery at start), with the next call in flight.
    const int calls = static_cast<int>(rng() % 12);
    std::atomic<int> progress{0};
    std::atomic<bool> client_done{false};
    std::thread client([this, r = rng(), &progress, &client_done] {
      Work(std::mt19937_64(r), &progress);
      client_done = true;
      progress_cv_.notify_all();
    });
    bool answered = false;
    {
      std::unique_lock lock(progress_mu_);
      answered = progress_cv_.wait_for(lock, std::chrono::seconds(60),
                                       [&] { return progress >= calls || client_done; });
    }
    KillDaemon();
    client.join();
    // A daemon that leaves a call unanswered for a minute is stuck, not slow.
    ASSERT_TRUE(answered) << "the daemon stopped answering, round " << round;
    manager_.reset();
  }
  StartDaemon();
  Check(kKills);
  for (auto& [id, m] : model_) {
    if (m.fate == Fate::kCompleted) completed_files += static_cast<int>(m.files.size());
  }
  std::printf("crash loop: %d kills, %zu jobs, %d files completed and verified, %d checks\n",
              kKills, model_.size(), completed_files, checks_);
  EXPECT_EQ(checks_, kKills + 1);
  KillDaemon();
}

}  // namespace
}  // namespace openbits
