// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The BITS job state machine (bits-api.md §1.2) as a pure function, so that
// every transition is tested without a network.

#ifndef OPENBITS_ENGINE_STATE_MACHINE_H_
#define OPENBITS_ENGINE_STATE_MACHINE_H_

#include "openbits/status.h"
#include "openbits/types.h"

namespace openbits::engine {

enum class JobEvent {
  // Calls of the application.
  kResume,
  kSuspend,
  kCancel,
  kComplete,
  kModify,  // AddFile*, Set*: allowed in every non-final state
  // Events of the engine.
  kStart,             // the scheduler picks a QUEUED job
  kResponseAccepted,  // the server answered as required
  kSliceExpired,      // another job of the same priority gets its turn
  kAllFilesDone,
  kTransientError,
  kFatalError,
  kRetryDelayElapsed,
  kNoProgressTimeout,
  // Recovery when the queue opens again.
  kReopened,  // the engine stopped while the job ran: it queues again
  kFileLost,  // a finished file lost bytes while the engine was not running
};

struct TransitionInput {
  JobState from;
  JobEvent event;
  bool has_files = false;             // for kResume
  bool has_unfinished_files = false;  // for kResume in TRANSFERRED
  // kCancel or kComplete whose decision was committed (the job's pending
  // action) before the engine stopped: finished now, whatever the state.
  bool pending_action = false;
};

struct Transition {
  Status status;  // failure: the event is refused and the state unchanged
  JobState to;
};

// The state the job moves to, or the error BITS returns for the call.
// Engine events in a state where they cannot happen return
// BG_E_INVALID_STATE too; the engine treats that as a bug.
Transition ApplyEvent(const TransitionInput& input);

// QUEUED, CONNECTING, TRANSFERRING: the job wants or holds a transfer slot.
constexpr bool IsActionState(JobState s) {
  return s == JobState::kQueued || s == JobState::kConnecting || s == JobState::kTransferring;
}

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_STATE_MACHINE_H_
