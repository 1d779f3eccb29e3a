// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// JobRunner: runs what the scheduler picks. It asks PickJobsToRun which jobs
// hold a slot, starts and preempts them, runs each job's files (up to its
// concurrent files) from the request configuration to the last byte, and
// hands finished files to the group commit. It is the transfers' only host
// (TransferHost), the group commit's sink (CompletionSink), and what the
// lifecycle gate stops and reschedules through (LifecycleHooks). Every state
// change it causes goes through the gate.
//
// Owns curl's multi handle, the write thread and the sync thread. Engine
// thread only.

#ifndef OPENBITS_ENGINE_JOB_RUNNER_H_
#define OPENBITS_ENGINE_JOB_RUNNER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "engine/curl_multi.h"
#include "engine/durability.h"
#include "engine/file_transfer.h"
#include "engine/job_data.h"
#include "engine/job_lifecycle.h"
#include "engine/job_table.h"
#include "engine/notifier.h"
#include "engine/request_config.h"
#include "engine/temp_files.h"
#include "engine/write_queue.h"
#include "store/store.h"

namespace openbits::engine {

class JobRunner final : public TransferHost, public CompletionSink, public LifecycleHooks {
 public:
  struct Settings {
    bool run_transfers = true;
    std::uint32_t background_concurrency = 1;
  };

  JobRunner(boost::asio::io_context& io, store::Store& store, JobTable& table, Notifier& notifier,
            TemporaryFiles& temp_files, RequestConfig& request_config, Settings settings);
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // The gate, made after the runner (it calls back through LifecycleHooks).
  // REQUIRES: before the first Schedule.
  void SetLifecycle(JobLifecycle* lifecycle) { lifecycle_ = lifecycle; }

  // Starts and preempts jobs as PickJobsToRun says.
  void Schedule();

  // Stops the job's transfers; with `keep_progress` their checkpoints are
  // written (Stop), otherwise nothing is kept (Cancel).
  void StopTransfer(JobData& job, bool keep_progress);
  // Starts the job's next files until it runs as many as it may.
  void StartNextFile(const std::shared_ptr<JobData>& job);
  // A running job's transfers start their requests again with its new settings.
  void RestartTransfer(JobData& job);

  // Shutdown, on the engine thread: every transfer stops keeping its
  // progress, the waiting finished files are synced and committed, and no
  // job starts any more.
  void StopAll();
  // After the engine thread stopped: ends the write and sync threads.
  void Join();

  // LifecycleHooks
  void StopTransfers(JobData& job) override { StopTransfer(job, /*keep_progress=*/true); }
  void ScheduleSoon() override;

 private:
  void Preempt(JobData& job);
  void StartJob(const std::shared_ptr<JobData>& job);
  // Starts one file; false if the job went to ERROR instead.
  bool StartFile(const std::shared_ptr<JobData>& job, store::FileRecord& file);
  // Keeps `finished`'s curl handle for the next file of `job` to start, if
  // the job runs and has fewer idle handles than concurrent files.
  void KeepEasyHandle(JobData& job, FileTransfer& finished);
  void OnAllFilesDone(JobData& job);

  // A finished file's completion is committed once its bytes are durable.
  void QueueFinishedFile(const std::shared_ptr<JobData>& job, std::shared_ptr<WriteTarget> target,
                         const store::FileRecord& file);
  // A finished file whose bytes did not reach the disk is fetched again,
  // from `kept` bytes.
  void ForgetFinishedFile(JobData& job, const store::FileRecord& file, std::uint64_t kept);
  // A finished file's write, sync or commit failed: it is not complete
  // after all, and the job stops with the reason.
  void FailFinishedFile(const std::shared_ptr<JobData>& job, const store::FileRecord& file,
                        const Status& why, std::uint64_t kept);

  // CompletionSink
  bool Wanted(const FinishedFile& file) override;
  Status Commit(const std::vector<const FinishedFile*>& files) override;
  void Settled(const FinishedFile& file, bool wanted, const SettledFile& how) override;

  // TransferHost
  void OnTransferResponding(FileTransfer& transfer) override;
  void OnTransferProgress(FileTransfer& transfer) override;
  Status PersistFile(FileTransfer& transfer, const store::FileRecord& file) override;
  Status PersistProgress(FileTransfer& transfer, const store::FileRecord& file) override;
  void OnTransferFinished(FileTransfer& transfer, const TransferOutcome& outcome) override;
  std::size_t RunningTransfers() const override { return transfer_owner_.size(); }
  void OnCrlFetched(const std::string& url, std::shared_ptr<X509_CRL> crl) override {
    request_config_.OnCrlFetched(url, std::move(crl));
  }

  boost::asio::io_context& io_;
  store::Store& store_;
  JobTable& table_;
  Notifier& notifier_;
  TemporaryFiles& temp_files_;
  RequestConfig& request_config_;
  Settings settings_;
  JobLifecycle* lifecycle_ = nullptr;
  CurlMulti multi_;
  boost::asio::thread_pool sync_pool_{1};
  WriteQueue writes_;  // the write thread
  FinishedFileBatcher batcher_;
  std::unordered_map<FileTransfer*, JobData*> transfer_owner_;
  bool schedule_posted_ = false;
  bool stopped_ = false;
};

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_JOB_RUNNER_H_
