// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Notifier: tells applications what happened to their jobs. Callbacks
// (JobCallback) run on the notifier's own thread, so that a slow or
// blocking callback never delays a transfer; progress-only modifications
// are coalesced to the job's minimum notification interval. The notify
// command line (SetNotifyCmdLine) runs as the job's owner when no callback
// is set, and again after the retry delay while it exits non-zero.
//
// Called on the engine thread only. It reads jobs and never changes their
// records: it cannot start a state change.

#ifndef OPENBITS_ENGINE_NOTIFIER_H_
#define OPENBITS_ENGINE_NOTIFIER_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "openbits/job.h"

#include "engine/job_data.h"
#include "engine/job_table.h"
#include "engine/log.h"
#include "engine/owner_access.h"

namespace openbits::engine {

class Notifier {
 public:
  // Makes the Job handle a callback receives.
  using HandleFactory = std::function<std::shared_ptr<Job>(const std::shared_ptr<JobData>&)>;

  // `engine_io` runs the coalescing and command timers; `retry_floor` is
  // the lower bound of a command's retry delay (ManagerOptions).
  Notifier(boost::asio::io_context& engine_io, const JobTable& table, OwnerAccess& owners,
           LogSink log, std::chrono::milliseconds retry_floor, HandleFactory make_handle);
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;
  ~Notifier();

  // Runs the callbacks still queued, then ends the notification thread
  // (detaches it when called from a callback). Idempotent.
  void Stop();

  // A modification of the job; `progress_only` ones are coalesced.
  void Modification(JobData& job, bool progress_only);
  // The job became TRANSFERRED: JobTransferred, or the command line.
  void Transferred(JobData& job);
  // The job went to ERROR: JobError with its error, or the command line.
  void Error(JobData& job);
  // File `index` of the job is complete.
  void FileTransferred(JobData& job, std::uint32_t index);

 private:
  void Post(JobData& job, std::function<void(JobCallback&, Job&)> call);
  // Runs the command line for `flag` (kNotifyJobTransferred or
  // kNotifyJobError) if it applies.
  void RunCommand(JobData& job, std::uint32_t flag);
  void WatchCommand(const std::shared_ptr<JobData>& job, std::uint32_t flag, JobState state);

  boost::asio::io_context& engine_io_;
  const JobTable& table_;
  OwnerAccess& owners_;
  LogSink log_;
  std::chrono::milliseconds retry_floor_;
  HandleFactory make_handle_;
  boost::asio::io_context notify_io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
};

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_NOTIFIER_H_
