// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The engine thread's view of a job (JobData) and the small types every room
// of the engine shares. Only the engine thread reads or writes a JobData;
// other threads reach it through Engine::Call.

#ifndef OPENBITS_ENGINE_JOB_DATA_H_
#define OPENBITS_ENGINE_JOB_DATA_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <openssl/x509.h>

#include "openbits/job.h"
#include "openbits/status.h"

#include "engine/file_transfer.h"
#include "platform/c_handles.h"
#include "platform/file_system.h"
#include "store/records.h"

namespace openbits::engine {

// Who is calling: the owner of new jobs, and whose jobs may be seen.
struct Caller {
  std::string user;
  bool is_admin = false;
};

struct GuidHash {
  std::size_t operator()(const Guid& g) const noexcept {
    std::size_t h = 0;
    for (std::uint8_t b : g.bytes) h = h * 131 + b;
    return h;
  }
};

// A steady_timer created on first use: most queued jobs never need one,
// and a queue holds up to hundreds of thousands of jobs.
class LazyTimer {
 public:
  // The timer, created on `io` the first time (always the engine's).
  boost::asio::steady_timer& get(boost::asio::io_context& io) {
    if (!timer_) timer_ = std::make_unique<boost::asio::steady_timer>(io);
    return *timer_;
  }
  void cancel() {
    if (timer_) timer_->cancel();
  }

 private:
  std::unique_ptr<boost::asio::steady_timer> timer_;
};

// The engine thread's view of one job. A queue may hold 100,000 of these:
// small members are grouped so that padding does not add up.
struct JobData {
  store::JobRecord rec;
  std::shared_ptr<JobCallback> callback;
  // The files downloading now: one, or up to rec.max_concurrent_files.
  std::vector<std::shared_ptr<FileTransfer>> transfers;
  bool running() const { return !transfers.empty(); }
  // Every file before this index is complete: where the search for the
  // next file starts (0 again whenever a file loses its completion).
  std::size_t first_unfinished = 0;
  std::uint64_t queue_position = 0;
  std::chrono::steady_clock::time_point last_progress;
  std::chrono::steady_clock::time_point active_since;
  std::chrono::steady_clock::time_point last_notify;
  LazyTimer retry_timer;
  LazyTimer slice_timer;
  LazyTimer deadline_timer;
  LazyTimer notify_timer;
  LazyTimer command_timer;  // watches and re-runs the notify command line
  int command_pid = -1;
  // The Retry-After of the response behind the last transient error, in
  // seconds (kNoRetryAfter: none). Not an optional: a queue may hold 100,000
  // of these, and the flag would cost 8 bytes each.
  static constexpr std::uint32_t kNoRetryAfter = UINT32_MAX;
  std::uint32_t retry_after_s = kNoRetryAfter;
  // Finished files whose last bytes are being synced: their completion is
  // committed when the sync returns, and the job is TRANSFERRED only after.
  int pending_syncs = 0;
  // Counts the job's runs (StartJob): a failed sync reported after the job
  // stopped and started again belongs to the earlier run. Wraps harmlessly:
  // a sync never waits for 65,536 runs.
  std::uint16_t run = 0;
  bool all_done_waiting = false;  // OnAllFilesDone waits for pending_syncs
  // The last file this job finished was small: the next file whose size is
  // not known yet is expected to be small too (ReceiveBufferFor).
  bool last_file_small = false;
  bool slice_expired = false;
  bool notify_pending = false;
  bool removed = false;  // final: no longer in the queue
  // The owner's ROOT and CA stores as read when the job last started: read
  // once per run, not once per file (a store change applies at the next
  // start). Keyed by the security flags they were read for.
  struct Trust {
    std::uint32_t security_flags = 0;
    std::string anchors_file;
    std::shared_ptr<const std::string> anchors_pem;  // when the file could not be written
    std::vector<std::shared_ptr<X509_CRL>> crls;
  };
  std::unique_ptr<Trust> trust;  // a pointer: most jobs in a big queue never run
  // What a running job keeps ready for its next files: temporary files
  // created ahead on the prepare thread (Engine::PrepareTemporaryFiles), and
  // the curl handles of its finished files. Made when the job runs, dropped
  // when it stops or has no file left.
  struct PreparedFile {
    std::uint32_t index = 0;
    std::string temp_name;
    std::shared_ptr<platform::ScopedFd> fd;
  };
  struct Prepared {
    // Closed, under its mutex, before any temporary file of the job is
    // renamed or deleted: the prepare thread creates files only while it is
    // open, so none appears after the job let go of its names.
    struct Gate {
      std::mutex mutex;
      bool closed = false;
    };
    std::shared_ptr<Gate> gate = std::make_shared<Gate>();
    std::vector<PreparedFile> files;  // ready, in file order
    std::size_t next_index = 0;       // where the search for more resumes
    bool in_flight = false;           // a batch is being created
    // At most the job's concurrent files: each holds a receive buffer.
    std::vector<CPtr<CURL>> idle_easy_handles;
  };
  std::unique_ptr<Prepared> prepared;
};

// One of `job`'s running transfers downloads its file `index`.
inline bool IsTransferring(const JobData& job, std::uint32_t index) {
  for (const auto& t : job.transfers) {
    if (t->file().index == index) return true;
  }
  return false;
}

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_JOB_DATA_H_
