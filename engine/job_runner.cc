// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/job_runner.h"

#include <algorithm>
#include <chrono>
#include <unordered_set>
#include <utility>

#include <boost/asio/post.hpp>

#include "openbits/hresult.h"

#include "engine/scheduler.h"

namespace openbits::engine {

using std::chrono::steady_clock;

JobRunner::JobRunner(boost::asio::io_context& io, store::Store& store, JobTable& table,
                     Notifier& notifier, TemporaryFiles& temp_files, RequestConfig& request_config,
                     Settings settings)
    : io_(io),
      store_(store),
      table_(table),
      notifier_(notifier),
      temp_files_(temp_files),
      request_config_(request_config),
      settings_(settings),
      multi_(io),
      batcher_(io, writes_, sync_pool_, *this) {}

void JobRunner::StopAll() {
  stopped_ = true;
  for (const auto& [id, job] : table_.jobs()) {
    StopTransfer(*job, /*keep_progress=*/true);
    JobLifecycle::CancelTimers(*job);
  }
  batcher_.Flush();
}

void JobRunner::Join() {
  writes_.Join();  // before the sync thread: it hands syncs on to it
  sync_pool_.join();
}

void JobRunner::ScheduleSoon() {
  if (schedule_posted_) return;
  schedule_posted_ = true;
  boost::asio::post(io_, [this] {
    schedule_posted_ = false;
    Schedule();
  });
}

void JobRunner::Schedule() {
  if (!settings_.run_transfers || stopped_) return;
  std::vector<SchedulingCandidate> candidates;
  candidates.reserve(table_.runnable().size());
  for (JobData* job : table_.runnable()) {
    candidates.push_back(SchedulingCandidate{job->rec.id, job->rec.priority, job->queue_position,
                                             job->running(), job->slice_expired});
  }
  std::vector<Guid> chosen = PickJobsToRun(candidates, settings_.background_concurrency);
  std::unordered_set<Guid, GuidHash> run(chosen.begin(), chosen.end());
  std::vector<JobData*> to_preempt;
  std::vector<std::shared_ptr<JobData>> to_start;
  for (JobData* job : table_.runnable()) {
    const bool running = job->running();
    const bool wanted = run.count(job->rec.id) != 0;
    if (running && !wanted) to_preempt.push_back(job);
    if (!running && wanted) to_start.push_back(table_.SharedOf(*job));
  }
  for (JobData* job : to_preempt) Preempt(*job);
  std::sort(to_start.begin(), to_start.end(),
            [](const auto& a, const auto& b) { return a->queue_position < b->queue_position; });
  for (auto& job : to_start) StartJob(job);
}

void JobRunner::Preempt(JobData& job) {
  // Its slice ended, or a job of higher priority takes the slot: either
  // way it goes to the back of the round robin (kSliceExpired).
  StopTransfer(job, /*keep_progress=*/true);
  (void)lifecycle_->Apply(job, JobEvent::kSliceExpired);
}

void JobRunner::StartJob(const std::shared_ptr<JobData>& job) {
  job->trust.reset();  // the stores are read again for this run
  ++job->run;
  const bool any_left = std::any_of(job->rec.files.begin(), job->rec.files.end(),
                                    [](const store::FileRecord& f) { return !f.completed; });
  if (!any_left) {
    OnAllFilesDone(*job);
    return;
  }
  if (!lifecycle_->BeginRun(*job).ok()) return;
  StartNextFile(job);
}

void JobRunner::StartNextFile(const std::shared_ptr<JobData>& job) {
  const std::size_t limit = std::max<std::uint32_t>(1, job->rec.max_concurrent_files);
  std::vector<store::FileRecord>& files = job->rec.files;
  while (job->first_unfinished < files.size() && files[job->first_unfinished].completed) {
    ++job->first_unfinished;
  }
  auto next = files.begin() + static_cast<std::ptrdiff_t>(job->first_unfinished);
  while (job->transfers.size() < limit) {
    // The next file, in the order they were added, that is neither done nor
    // downloading (at most `limit` files to skip).
    next = std::find_if(next, files.end(), [&](const store::FileRecord& f) {
      return !f.completed && !IsTransferring(*job, f.index);
    });
    if (next == files.end()) {
      if (!job->running()) OnAllFilesDone(*job);
      return;
    }
    if (!StartFile(job, *next)) return;
    ++next;
  }
  temp_files_.Prepare(job, static_cast<std::size_t>(next - files.begin()));
}

void JobRunner::KeepEasyHandle(JobData& job, FileTransfer& finished) {
  // Only within the job: its files share an owner and its credentials.
  if (!job.prepared) return;
  std::vector<CPtr<CURL>>& idle = job.prepared->idle_easy_handles;
  if (idle.size() >= std::max<std::uint32_t>(1, job.rec.max_concurrent_files)) return;
  if (CPtr<CURL> easy = finished.ReleaseEasyHandle()) idle.push_back(std::move(easy));
}

bool JobRunner::StartFile(const std::shared_ptr<JobData>& job, store::FileRecord& file) {
  file.ready_to_publish = false;  // its bytes are about to change
  if (file.temp_name.empty()) {
    temp_files_.Name(*job, file.index);
  }
  TransferConfig config;
  const Status credentials = request_config_.Build(*job, file, &config);
  if (!credentials.ok()) {
    // A secret that does not open is never guessed at: the job stops with
    // the reason, and new credentials plus Resume() fix it.
    StopTransfer(*job, true);
    TransferOutcome o;
    o.error = credentials.code();
    o.context = ErrorContext::kGeneralQueueManager;
    o.why = credentials.message();
    lifecycle_->Fail(*job, o, file.index);
    return false;
  }
  auto transfer = std::make_shared<FileTransfer>(io_, multi_, sync_pool_, writes_, *this, file,
                                                 std::move(config));
  job->transfers.push_back(transfer);
  transfer_owner_[transfer.get()] = job.get();
  if (job->prepared && !job->prepared->idle_easy_handles.empty()) {
    transfer->AdoptEasyHandle(std::move(job->prepared->idle_easy_handles.back()));
    job->prepared->idle_easy_handles.pop_back();
  }
  transfer->Start(temp_files_.Take(*job, file));
  return true;
}

void JobRunner::StopTransfer(JobData& job, bool keep_progress) {
  // Before the running check: a batch of creations may be in flight after
  // the last file finished. Complete and Cancel come here before they
  // rename or delete anything.
  temp_files_.Close(job);
  if (!job.running()) return;
  std::vector<std::shared_ptr<FileTransfer>> transfers = std::move(job.transfers);
  job.transfers.clear();
  for (const std::shared_ptr<FileTransfer>& transfer : transfers) {
    if (keep_progress) {
      transfer->Stop();  // persists through PersistFile while still owned
    } else {
      transfer->Abandon();
    }
    transfer_owner_.erase(transfer.get());
  }
  const auto now = steady_clock::now();
  job.rec.active_time_ms +=
      std::chrono::duration_cast<std::chrono::milliseconds>(now - job.active_since).count();
  job.active_since = now;
}

void JobRunner::RestartTransfer(JobData& job) {
  if (!job.running()) return;
  std::shared_ptr<JobData> shared = table_.SharedOf(job);
  StopTransfer(job, true);
  if (shared) StartNextFile(shared);
}

void JobRunner::QueueFinishedFile(const std::shared_ptr<JobData>& job,
                                  std::shared_ptr<WriteTarget> target,
                                  const store::FileRecord& file) {
  ++job->pending_syncs;
  batcher_.Add(FinishedFile{job, std::move(target), file, job->run});
}

bool JobRunner::Wanted(const FinishedFile& finished) {
  std::shared_ptr<JobData> job = finished.job.lock();
  if (!job || job->removed) return false;
  const std::uint32_t index = finished.file.index;
  if (index >= job->rec.files.size()) return false;
  // Still the file that was synced (not restarted or replaced meanwhile).
  const store::FileRecord& f = job->rec.files[index];
  return f.completed && f.temp_name == finished.file.temp_name;
}

Status JobRunner::Commit(const std::vector<const FinishedFile*>& files) {
  // One commit for the batch, not synced itself: a lost completion costs a
  // file fetched again, never a wrong one (the bytes are durable already),
  // and the job's next state change syncs the log.
  return store_.RunInUnsyncedTransaction([&]() -> Status {
    for (const FinishedFile* f : files) {
      std::shared_ptr<JobData> job = f->job.lock();
      OPENBITS_RETURN_IF_ERROR(store_.UpdateFile(job->rec.id, job->rec.files[f->file.index]));
    }
    return Status::Ok();
  });
}

void JobRunner::Settled(const FinishedFile& finished, bool wanted, const SettledFile& how) {
  std::shared_ptr<JobData> job = finished.job.lock();
  if (!job || job->removed) return;
  --job->pending_syncs;
  if (wanted && how.published) job->rec.files[finished.file.index].ready_to_publish = true;
  if (wanted && !how.status.ok()) {
    const bool stopped_since = finished.run != job->run || job->rec.state == JobState::kError ||
                               job->rec.state == JobState::kTransientError ||
                               job->rec.state == JobState::kSuspended;
    if (!stopped_since) {
      FailFinishedFile(job, finished.file, how.status, how.kept);
      return;
    }
    // The job already stopped for an error of its run, or was suspended or
    // started again since: the file is simply fetched again when it runs.
    ForgetFinishedFile(*job, finished.file, how.kept);
    job->all_done_waiting = false;
    const bool active =
        job->rec.state == JobState::kConnecting || job->rec.state == JobState::kTransferring;
    if (active && !job->running()) StartNextFile(job);
  } else if (job->pending_syncs == 0 && job->all_done_waiting) {
    job->all_done_waiting = false;
    OnAllFilesDone(*job);
  }
}

void JobRunner::ForgetFinishedFile(JobData& job, const store::FileRecord& file,
                                   std::uint64_t kept) {
  store::FileRecord& f = job.rec.files[file.index];
  f.completed = false;
  f.ready_to_publish = false;
  f.bytes_transferred = kept;
  if (kept > 0)
    (void)store_.RunInUnsyncedTransaction([&] { return store_.UpdateFile(job.rec.id, f); });
  job.first_unfinished = 0;
}

void JobRunner::FailFinishedFile(const std::shared_ptr<JobData>& job, const store::FileRecord& file,
                                 const Status& why, std::uint64_t kept) {
  // Never claimed durable beyond `kept`: the rest is fetched again once the
  // cause is fixed.
  ForgetFinishedFile(*job, file, kept);
  job->all_done_waiting = false;
  StopTransfer(*job, /*keep_progress=*/true);
  lifecycle_->Fail(*job, LocalFileFailure(why), file.index);
}

void JobRunner::OnAllFilesDone(JobData& job) {
  if (job.pending_syncs > 0) {
    job.all_done_waiting = true;  // Settled comes back here
    batcher_.Hurry();
    return;
  }
  (void)lifecycle_->Apply(job, JobEvent::kAllFilesDone);
}

void JobRunner::OnTransferResponding(FileTransfer& transfer) {
  auto it = transfer_owner_.find(&transfer);
  if (it == transfer_owner_.end()) return;
  lifecycle_->Responding(*it->second);
}

void JobRunner::OnTransferProgress(FileTransfer& transfer) {
  auto it = transfer_owner_.find(&transfer);
  if (it == transfer_owner_.end()) return;
  it->second->last_progress = steady_clock::now();
  notifier_.Modification(*it->second, true);
}

Status JobRunner::PersistFile(FileTransfer& transfer, const store::FileRecord& file) {
  auto it = transfer_owner_.find(&transfer);
  if (it == transfer_owner_.end()) return Status::Ok();  // cancelled meanwhile
  JobData& job = *it->second;
  if (file.index >= job.rec.files.size()) return Status(kEFail, "file index out of range");
  job.rec.files[file.index] = file;
  return store_.UpdateFile(job.rec.id, file);
}

Status JobRunner::PersistProgress(FileTransfer& transfer, const store::FileRecord& file) {
  // A synced WAL commit here waits behind the file's own writeback on the
  // same disk, on the io thread: once per checkpoint, it cost a transfer to
  // disk a fifth of its time.
  return store_.RunInUnsyncedTransaction([&] { return PersistFile(transfer, file); });
}

void JobRunner::OnTransferFinished(FileTransfer& transfer, const TransferOutcome& outcome) {
  auto it = transfer_owner_.find(&transfer);
  if (it == transfer_owner_.end()) return;
  JobData& raw = *it->second;
  std::shared_ptr<JobData> job = table_.SharedOf(raw);
  const std::uint32_t index = transfer.file().index;
  transfer_owner_.erase(it);
  auto mine = std::find_if(raw.transfers.begin(), raw.transfers.end(),
                           [&](const auto& t) { return t.get() == &transfer; });
  if (mine != raw.transfers.end()) {
    // The transfer is still on the call stack: release it later.
    boost::asio::post(io_, [doomed = std::move(*mine)] {});
    raw.transfers.erase(mine);
  }
  const auto now = steady_clock::now();
  raw.rec.active_time_ms +=
      std::chrono::duration_cast<std::chrono::milliseconds>(now - raw.active_since).count();
  raw.active_since = now;
  if (!job) return;

  if (outcome.file_done) {
    KeepEasyHandle(*job, transfer);
    if (outcome.unsynced && outcome.completed_file && index < job->rec.files.size()) {
      // Completed in memory now, in the store once the bytes are durable.
      job->rec.files[index] = *outcome.completed_file;
      job->rec.files[index].ready_to_publish = false;  // until the sync thread says so
      QueueFinishedFile(job, outcome.unsynced, *outcome.completed_file);
    }
    if (index < job->rec.files.size()) {
      job->last_file_small = job->rec.files[index].bytes_total <= kSmallFileBytes;
    }
    notifier_.FileTransferred(*job, index);
    notifier_.Modification(*job, false);
    StartNextFile(job);
    return;
  }
  StopTransfer(*job, true);  // the job's other files stop with it, keeping their progress
  lifecycle_->Fail(*job, outcome, index);
}

}  // namespace openbits::engine
