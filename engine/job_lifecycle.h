// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// JobLifecycle: the one gate every job state change goes through. The state
// table (state_machine.h) decides; the gate then stops what may no longer
// run, writes the state to the store, arms or cancels the job's retry, slice
// and deadline timers, tells the job's watchers and the scheduler. No other
// code assigns a job's state.
//
// Engine thread only.

#ifndef OPENBITS_ENGINE_JOB_LIFECYCLE_H_
#define OPENBITS_ENGINE_JOB_LIFECYCLE_H_

#include <chrono>
#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "openbits/status.h"

#include "engine/file_transfer.h"
#include "engine/job_data.h"
#include "engine/job_table.h"
#include "engine/notifier.h"
#include "engine/state_machine.h"
#include "store/store.h"

namespace openbits::engine {

// What a state change sets in motion in the rooms beside the gate.
class LifecycleHooks {
 public:
  virtual ~LifecycleHooks() = default;
  // The job leaves CONNECTING/TRANSFERRING (or its slice ended): its
  // transfers stop and checkpoint their progress.
  virtual void StopTransfers(JobData& job) = 0;
  // The set of jobs that want to run changed: the scheduler looks again.
  virtual void ScheduleSoon() = 0;
};

struct LifecycleTiming {
  std::chrono::milliseconds time_slice{std::chrono::minutes(5)};
  // Lower bound of every retry delay (ManagerOptions::minimum_retry_delay_floor).
  std::chrono::milliseconds retry_floor{std::chrono::seconds(5)};
};

class JobLifecycle {
 public:
  JobLifecycle(boost::asio::io_context& io, store::Store& store, JobTable& table,
               Notifier& notifier, LifecycleHooks& hooks, LifecycleTiming timing);

  // Whether the table accepts `event` for the job now, without applying it:
  // an operation checks first, does its work, then applies.
  Status Check(const JobData& job, JobEvent event) const;

  // Applies `event`. Refused by the table: nothing changes, the table's
  // error is returned. Otherwise the job is in its new state, in memory and
  // in the store (a final state deletes its record and takes it out of the
  // table), with its timers, watchers and the scheduler told. An event that
  // leaves the state as it is changes nothing. For the application's calls
  // (Resume, Suspend, Cancel, Complete) a store failure undoes the change and
  // is returned; an engine event keeps its state in memory (the next write
  // stores it).
  Status Apply(JobData& job, JobEvent event);

  // Records `outcome` as the job's error (on file `file_index`; -1: the
  // job's), and applies kTransientError, or kFatalError when the outcome is
  // not transient or the job's no-progress timeout is 0 (BITS).
  void Fail(JobData& job, const TransferOutcome& outcome, std::int64_t file_index);

  // Records `outcome` as the job's error without a state change (a failed
  // Complete leaves the job as it was).
  static void RecordError(JobData& job, const TransferOutcome& outcome, std::int64_t file_index);

  // The scheduler gave the job a slot: a QUEUED job applies kStart; one
  // still CONNECTING or TRANSFERRING (its transfers were restarted) keeps
  // its state. Either way its active time and its slice and deadline timers
  // start now.
  Status BeginRun(JobData& job);

  // The server answered the job again: its error is resolved, and the job
  // is TRANSFERRING.
  void Responding(JobData& job);

  // At open: arms the retry timer of a job loaded in TRANSIENT_ERROR.
  void Reloaded(JobData& job);

  // Cancels every timer of the job (engine shutdown).
  static void CancelTimers(JobData& job);

 private:
  Transition Decide(const JobData& job, JobEvent event) const;
  void ArmRunTimers(JobData& job);
  void ArmRetry(JobData& job);
  void Enter(JobData& job, JobEvent event, JobState from, JobState to);
  void StartClocks(JobData& job);

  boost::asio::io_context& io_;
  store::Store& store_;
  JobTable& table_;
  Notifier& notifier_;
  LifecycleHooks& hooks_;
  LifecycleTiming timing_;
};

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_JOB_LIFECYCLE_H_
