// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The process the crash test kills: runs one download job in a queue and
// reports its progress on stdout, one line per 256 KiB.
//
//   openbits_crash_child STATE_DIR DEST_FILE URL CHECKPOINT_BYTES
//
// Lines: "progress N", "transferred", "completed", "error 0x...".
// Exit status: 0 completed, 3 job error, 2 usage or setup failure.

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "openbits/openbits.h"

namespace {

class Reporter final : public openbits::JobCallback {
 public:
  void JobTransferred(openbits::Job&) override { Done(openbits::JobState::kTransferred); }
  void JobError(openbits::Job&, const openbits::JobErrorInfo& e) override {
    std::printf("error %s %s\n", openbits::FormatHResult(e.code).c_str(), e.description.c_str());
    std::fflush(stdout);
    Done(openbits::JobState::kError);
  }
  void JobModification(openbits::Job& job) override {
    const std::uint64_t bytes = job.GetProgress().bytes_transferred;
    if (bytes >= last_ + (256u << 10)) {
      last_ = bytes;
      std::printf("progress %llu\n", static_cast<unsigned long long>(bytes));
      std::fflush(stdout);
    }
  }
  openbits::JobState Wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return done_; });
    return outcome_;
  }

 private:
  void Done(openbits::JobState s) {
    std::lock_guard lock(mutex_);
    done_ = true;
    outcome_ = s;
    cv_.notify_all();
  }
  std::uint64_t last_ = 0;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  openbits::JobState outcome_ = openbits::JobState::kError;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s STATE_DIR DEST_FILE URL CHECKPOINT_BYTES\n", argv[0]);
    return 2;
  }
  openbits::ManagerOptions options;
  options.state_directory = argv[1];
  options.key_directory = std::string(argv[1]) + ".keys";
  options.checkpoint_bytes = std::strtoull(argv[4], nullptr, 10);
  auto manager = openbits::Manager::Open(options);
  if (!manager.ok()) {
    std::fprintf(stderr, "open: %s\n", manager.status().ToString().c_str());
    return 2;
  }
  auto jobs = (*manager)->EnumJobs();
  std::shared_ptr<openbits::Job> job;
  if (jobs.ok() && !jobs->empty()) {
    job = jobs->front();
  } else {
    auto created = (*manager)->CreateJob("crash test");
    if (!created.ok()) return 2;
    job = *created;
    if (!job->AddFile(argv[3], argv[2]).ok()) return 2;
    (void)job->SetPriority(openbits::JobPriority::kForeground);
  }
  auto reporter = std::make_shared<Reporter>();
  (void)job->SetNotifyInterface(reporter);
  (void)job->SetNotifyFlags(openbits::kNotifyJobTransferred | openbits::kNotifyJobError |
                            openbits::kNotifyJobModification);
  (void)job->SetMinimumNotificationInterval(std::chrono::milliseconds(0));
  if (job->GetState() == openbits::JobState::kTransferred) {
    reporter->JobTransferred(*job);
  } else if (!job->Resume().ok()) {
    return 2;
  }
  if (reporter->Wait() != openbits::JobState::kTransferred) return 3;
  std::printf("transferred\n");
  std::fflush(stdout);
  if (!job->Complete().ok()) return 3;
  std::printf("completed\n");
  std::fflush(stdout);
  return 0;
}
