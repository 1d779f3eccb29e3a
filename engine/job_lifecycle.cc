// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/job_lifecycle.h"

#include <algorithm>
#include <optional>
#include <string>

#include "openbits/hresult.h"

#include "engine/http_response.h"

namespace openbits::engine {
namespace {

using std::chrono::steady_clock;

bool IsRunning(JobState s) { return s == JobState::kConnecting || s == JobState::kTransferring; }

// The application's calls: a store failure refuses them instead of leaving
// memory and the store apart.
bool IsCall(JobEvent e) {
  return e == JobEvent::kResume || e == JobEvent::kSuspend || e == JobEvent::kCancel ||
         e == JobEvent::kComplete;
}

// Events of the scheduler itself, which looks at the queue anyway.
bool SchedulerSeesIt(JobEvent e) {
  return e == JobEvent::kStart || e == JobEvent::kResponseAccepted || e == JobEvent::kSliceExpired;
}

}  // namespace

JobLifecycle::JobLifecycle(boost::asio::io_context& io, store::Store& store, JobTable& table,
                           Notifier& notifier, LifecycleHooks& hooks, LifecycleTiming timing)
    : io_(io), store_(store), table_(table), notifier_(notifier), hooks_(hooks), timing_(timing) {}

Transition JobLifecycle::Decide(const JobData& job, JobEvent event) const {
  const auto& files = job.rec.files;
  TransitionInput in{job.rec.state, event, !files.empty(), false};
  if (event == JobEvent::kResume) {
    in.has_unfinished_files = std::any_of(files.begin(), files.end(),
                                          [](const store::FileRecord& f) { return !f.completed; });
  }
  in.pending_action = job.rec.pending != store::PendingAction::kNone;
  return ApplyEvent(in);
}

Status JobLifecycle::Check(const JobData& job, JobEvent event) const {
  return Decide(job, event).status;
}

Status JobLifecycle::Apply(JobData& job, JobEvent event) {
  const Transition t = Decide(job, event);
  if (!t.status.ok()) return t.status;
  const JobState from = job.rec.state;
  if (t.to == from) return Status::Ok();
  if (!IsActionState(t.to) || event == JobEvent::kSliceExpired) hooks_.StopTransfers(job);
  const std::int64_t modified = job.rec.modification_time_ms;
  job.rec.state = t.to;
  job.rec.modification_time_ms = NowMs();
  if (t.to == JobState::kTransferred) job.rec.completion_time_ms = job.rec.modification_time_ms;
  if (event == JobEvent::kResume) job.rec.ever_resumed = true;
  const Status stored = IsFinal(t.to) ? store_.DeleteJob(job.rec.id) : store_.UpdateJob(job.rec);
  if (!stored.ok() && IsCall(event)) {
    job.rec.state = from;
    job.rec.modification_time_ms = modified;
    hooks_.ScheduleSoon();  // a stopped job that still wants to run starts again
    return stored;
  }
  Enter(job, event, from, t.to);
  return stored;
}

void JobLifecycle::Enter(JobData& job, JobEvent event, JobState from, JobState to) {
  table_.UpdateRunnable(job);
  if (!IsRunning(to)) {
    job.slice_timer.cancel();
    job.deadline_timer.cancel();
  }
  if (from == JobState::kTransientError) job.retry_timer.cancel();
  if (to == JobState::kSuspended || to == JobState::kError || IsFinal(to)) CancelTimers(job);
  const auto now = steady_clock::now();
  switch (to) {
    case JobState::kQueued:
      if (event == JobEvent::kSliceExpired) table_.MoveToBack(job);  // back of the round robin
      if (event == JobEvent::kResume) job.last_progress = now;
      job.slice_expired = false;
      break;
    case JobState::kConnecting:
      StartClocks(job);
      break;
    case JobState::kTransientError:
      ArmRetry(job);
      break;
    default:
      break;
  }
  notifier_.Modification(job, false);
  if (to == JobState::kTransferred) notifier_.Transferred(job);
  if (to == JobState::kError) notifier_.Error(job);
  if (IsFinal(to)) {
    job.rec.pending = store::PendingAction::kNone;  // done: nothing to finish after a restart
    table_.Remove(job);
  }
  if (!SchedulerSeesIt(event)) hooks_.ScheduleSoon();
}

void JobLifecycle::RecordError(JobData& job, const TransferOutcome& outcome,
                               std::int64_t file_index) {
  job.retry_after_s = outcome.retry_after_s
                          ? static_cast<std::uint32_t>(std::min<std::uint64_t>(
                                *outcome.retry_after_s, JobData::kNoRetryAfter - 1))
                          : JobData::kNoRetryAfter;
  job.rec.error_code = outcome.error;
  job.rec.error_context = outcome.context;
  job.rec.error_file = file_index;
  job.rec.error_description = outcome.why;
  ++job.rec.error_count;
}

void JobLifecycle::Fail(JobData& job, const TransferOutcome& outcome, std::int64_t file_index) {
  RecordError(job, outcome, file_index);
  // BITS: with a no-progress timeout of 0 every error is fatal.
  const bool transient = outcome.transient && job.rec.no_progress_timeout_s != 0;
  (void)Apply(job, transient ? JobEvent::kTransientError : JobEvent::kFatalError);
}

Status JobLifecycle::BeginRun(JobData& job) {
  if (job.rec.state == JobState::kQueued) return Apply(job, JobEvent::kStart);
  if (!IsRunning(job.rec.state)) return Status(kBgEInvalidState, "the job is not runnable");
  StartClocks(job);
  return Status::Ok();
}

void JobLifecycle::StartClocks(JobData& job) {
  job.active_since = steady_clock::now();
  job.slice_expired = false;
  ArmRunTimers(job);
}

void JobLifecycle::Responding(JobData& job) {
  job.last_progress = steady_clock::now();
  if (job.rec.error_code != 0) {
    job.rec.error_code = 0;  // the server answers again: the error is resolved
    job.rec.error_context = ErrorContext::kNone;
    job.rec.error_file = -1;
    job.rec.error_description.clear();
  }
  (void)Apply(job, JobEvent::kResponseAccepted);
}

void JobLifecycle::Reloaded(JobData& job) {
  if (job.rec.state == JobState::kTransientError) ArmRetry(job);
}

void JobLifecycle::CancelTimers(JobData& job) {
  job.command_timer.cancel();
  job.retry_timer.cancel();
  job.slice_timer.cancel();
  job.deadline_timer.cancel();
}

void JobLifecycle::ArmRunTimers(JobData& job) {
  std::weak_ptr<JobData> weak = table_.SharedOf(job);
  if (job.rec.priority != JobPriority::kForeground) {
    job.slice_timer.get(io_).expires_after(timing_.time_slice);
    job.slice_timer.get(io_).async_wait([this, weak](const boost::system::error_code& ec) {
      auto j = weak.lock();
      if (ec || !j || j->removed) return;
      j->slice_expired = true;  // the scheduler decides whether another job's turn came
      hooks_.ScheduleSoon();
    });
  }
  if (job.rec.maximum_download_time_s != 0) {
    const auto limit = std::chrono::milliseconds(
        std::int64_t{job.rec.maximum_download_time_s} * 1000 - job.rec.active_time_ms);
    job.deadline_timer.get(io_).expires_after(std::max(limit, std::chrono::milliseconds(0)));
    job.deadline_timer.get(io_).async_wait([this, weak](const boost::system::error_code& ec) {
      auto j = weak.lock();
      if (ec || !j || j->removed || !j->running()) return;
      TransferOutcome o;
      o.error = kBgEMaxDownloadTimeout;
      o.context = ErrorContext::kGeneralQueueManager;
      o.why = "the job was active for more than " + std::to_string(j->rec.maximum_download_time_s) +
              " seconds";
      Fail(*j, o, -1);
    });
  }
}

void JobLifecycle::ArmRetry(JobData& job) {
  const auto now = steady_clock::now();
  // A server's Retry-After may lengthen the wait, within bounds.
  const auto delay = std::max<std::chrono::milliseconds>(
      std::chrono::seconds(RetryDelaySeconds(
          job.rec.minimum_retry_delay_s, job.retry_after_s == JobData::kNoRetryAfter
                                             ? std::nullopt
                                             : std::optional<std::uint64_t>(job.retry_after_s))),
      timing_.retry_floor);
  const auto give_up = job.last_progress + std::chrono::seconds(job.rec.no_progress_timeout_s);
  const bool retry_in_time = now + delay < give_up;
  job.retry_timer.get(io_).expires_at(retry_in_time ? now + delay : give_up);
  std::weak_ptr<JobData> weak = table_.SharedOf(job);
  job.retry_timer.get(io_).async_wait([this, weak,
                                       retry_in_time](const boost::system::error_code& ec) {
    auto j = weak.lock();
    if (ec || !j || j->removed) return;
    (void)Apply(*j, retry_in_time ? JobEvent::kRetryDelayElapsed : JobEvent::kNoProgressTimeout);
  });
}

}  // namespace openbits::engine
