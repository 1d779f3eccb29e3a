// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The library side of bench/run: downloads every "URL LOCAL_PATH" line of a
// list file as the files of one FOREGROUND job (CreateJobs, one commit),
// waits for its JobTransferred callback, completes it. Exit 0 on success.
// If the queue already holds a job (this program was killed), it waits for
// that one instead: the crash scenario of bench/run restarts it.
//
//   openbits_fetch [--concurrent N] STATE_DIR LIST_FILE
//
// --concurrent lets N files of the job download at once (the
// SetMaximumConcurrentFiles extension); the default is BITS's one by one.
//
// With OPENBITS_FETCH_PHASES=FILE set, appends to FILE one line of five
// durations in seconds: Manager::Open, creating the job, the transfer
// (Resume to JobTransferred), Complete(), and closing the manager (its
// threads joined, the queue closed). bench/run reports them.

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>

#include "openbits/openbits.h"

namespace {

class Waiter final : public openbits::JobCallback {
 public:
  void JobTransferred(openbits::Job&) override { Done(true); }
  void JobError(openbits::Job&, const openbits::JobErrorInfo& error) override {
    std::fprintf(stderr, "openbits_fetch: %s\n", error.description.c_str());
    Done(false);
  }
  bool Wait() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return finished_; });
    return ok_;
  }

 private:
  void Done(bool ok) {
    std::lock_guard lock(mutex_);
    finished_ = true;
    ok_ = ok;
    changed_.notify_all();
  }
  std::mutex mutex_;
  std::condition_variable changed_;
  bool finished_ = false;
  bool ok_ = false;
};

using Clock = std::chrono::steady_clock;

double SecondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::uint32_t concurrent = 1;
  if (argc == 5 && std::string(argv[1]) == "--concurrent") {
    concurrent = static_cast<std::uint32_t>(std::strtoul(argv[2], nullptr, 10));
    argv += 2;
    argc -= 2;
  }
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s [--concurrent N] STATE_DIR LIST_FILE\n", argv[0]);
    return 2;
  }
  openbits::JobSpec spec;
  spec.display_name = "bench";
  spec.priority = openbits::JobPriority::kForeground;
  std::ifstream list(argv[2]);
  std::string line;
  while (std::getline(list, line)) {
    std::istringstream fields(line);
    openbits::FileInfo file;
    if (fields >> file.remote_name >> file.local_name) spec.files.push_back(file);
  }
  const Clock::time_point started = Clock::now();
  openbits::ManagerOptions options;
  options.state_directory = argv[1];
  options.key_directory = std::string(argv[1]) + "/keys";
  auto manager = openbits::Manager::Open(options);
  if (!manager.ok()) {
    std::fprintf(stderr, "openbits_fetch: %s\n", manager.status().ToString().c_str());
    return 1;
  }
  const Clock::time_point opened = Clock::now();
  auto jobs = (*manager)->EnumJobs();
  if (jobs.ok() && jobs->empty()) jobs = (*manager)->CreateJobs({spec});
  if (!jobs.ok()) {
    std::fprintf(stderr, "openbits_fetch: %s\n", jobs.status().ToString().c_str());
    return 1;
  }
  auto& job = (*jobs)[0];
  if (concurrent != 1 && !job->SetMaximumConcurrentFiles(concurrent).ok()) {
    std::fprintf(stderr, "openbits_fetch: --concurrent takes 1..16\n");
    return 2;
  }
  auto waiter = std::make_shared<Waiter>();
  (void)job->SetNotifyInterface(waiter);
  const Clock::time_point created = Clock::now();
  if (job->GetState() == openbits::JobState::kSuspended) {
    // An empty list, say: BG_E_EMPTY, and no callback would ever come.
    if (openbits::Status resumed = job->Resume(); !resumed.ok()) {
      std::fprintf(stderr, "openbits_fetch: %s\n", resumed.ToString().c_str());
      return 1;
    }
  }
  // The job may have finished before the callback was set.
  if (job->GetState() != openbits::JobState::kTransferred && !waiter->Wait()) return 1;
  const Clock::time_point transferred = Clock::now();
  if (!job->Complete().ok()) return 1;
  const Clock::time_point completed = Clock::now();
  jobs->clear();
  manager->reset();
  const Clock::time_point closed = Clock::now();
  if (const char* phases = std::getenv("OPENBITS_FETCH_PHASES")) {
    if (std::FILE* out = std::fopen(phases, "a")) {
      std::fprintf(out, "%.4f %.4f %.4f %.4f %.4f\n", SecondsBetween(started, opened),
                   SecondsBetween(opened, created), SecondsBetween(created, transferred),
                   SecondsBetween(transferred, completed), SecondsBetween(completed, closed));
      std::fclose(out);
    }
  }
  return 0;
}
