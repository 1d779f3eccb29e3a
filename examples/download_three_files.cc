// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Embedding example: download several files in one job with a progress
// callback, then make them available with Complete().
//
//   openbits_download_example STATE_DIR DEST_DIR URL [URL...]
//
// The files land in DEST_DIR under the last path segment of each URL.
// OPENBITS_CHECKPOINT_BYTES, if set, overrides ManagerOptions::checkpoint_bytes
// (the benchmark uses it to show the cost of crash safety).

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "openbits/openbits.h"

namespace {

class Progress final : public openbits::JobCallback {
 public:
  void JobTransferred(openbits::Job&) override { Finish(true); }
  void JobError(openbits::Job&, const openbits::JobErrorInfo& error) override {
    std::fprintf(stderr, "\nerror %s: %s\n", openbits::FormatHResult(error.code).c_str(),
                 error.description.c_str());
    Finish(false);
  }
  void JobModification(openbits::Job& job) override {
    const openbits::JobProgress p = job.GetProgress();
    const std::string total = p.bytes_total == openbits::kSizeUnknown
                                  ? std::string("UNKNOWN")
                                  : std::to_string(p.bytes_total);
    std::printf("\r%-13s files %u / %u  bytes %llu / %s   ",
                std::string(openbits::JobStateName(job.GetState())).c_str(), p.files_transferred,
                p.files_total, static_cast<unsigned long long>(p.bytes_transferred), total.c_str());
    std::fflush(stdout);
  }

  bool Wait() {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return finished_; });
    return ok_;
  }

 private:
  void Finish(bool ok) {
    std::lock_guard lock(mutex_);
    finished_ = true;
    ok_ = ok;
    done_.notify_all();
  }
  std::mutex mutex_;
  std::condition_variable done_;
  bool finished_ = false;
  bool ok_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s STATE_DIR DEST_DIR URL [URL...]\n", argv[0]);
    return 2;
  }
  openbits::ManagerOptions options;
  options.state_directory = argv[1];
  if (const char* bytes = std::getenv("OPENBITS_CHECKPOINT_BYTES")) {
    options.checkpoint_bytes = std::strtoull(bytes, nullptr, 10);
  }
  auto manager = openbits::Manager::Open(options);
  if (!manager.ok()) {
    std::fprintf(stderr, "open: %s\n", manager.status().ToString().c_str());
    return 1;
  }
  auto job = (*manager)->CreateJob("example download");
  if (!job.ok()) {
    std::fprintf(stderr, "create: %s\n", job.status().ToString().c_str());
    return 1;
  }
  const std::string dest = argv[2];
  for (int i = 3; i < argc; ++i) {
    const std::string url = argv[i];
    const std::string name = url.substr(url.find_last_of('/') + 1);
    openbits::Status st = (*job)->AddFile(url, dest + "/" + name);
    if (!st.ok()) {
      std::fprintf(stderr, "add %s: %s\n", url.c_str(), st.ToString().c_str());
      (void)(*job)->Cancel();
      return 1;
    }
  }
  auto progress = std::make_shared<Progress>();
  (void)(*job)->SetNotifyInterface(progress);
  (void)(*job)->SetNotifyFlags(openbits::kNotifyJobTransferred | openbits::kNotifyJobError |
                               openbits::kNotifyJobModification);
  (void)(*job)->SetMinimumNotificationInterval(std::chrono::milliseconds(200));
  (void)(*job)->SetPriority(openbits::JobPriority::kForeground);
  openbits::Status st = (*job)->Resume();
  if (!st.ok()) {
    std::fprintf(stderr, "resume: %s\n", st.ToString().c_str());
    return 1;
  }
  const bool ok = progress->Wait();
  if (!ok) {
    (void)(*job)->Cancel();
    return 1;
  }
  st = (*job)->Complete();
  const openbits::JobProgress p = (*job)->GetProgress();
  std::printf("\ncompleted %u file(s), %llu bytes: %s\n", p.files_transferred,
              static_cast<unsigned long long>(p.bytes_transferred), st.ToString().c_str());
  return st.ok() ? 0 : 1;
}
