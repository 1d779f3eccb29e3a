// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/state_machine.h"

#include "openbits/hresult.h"

namespace openbits::engine {
namespace {

Transition Refuse(JobState from, const char* why) {
  return Transition{Status(kBgEInvalidState, why), from};
}

Transition To(JobState to) { return Transition{Status::Ok(), to}; }

}  // namespace

Transition ApplyEvent(const TransitionInput& in) {
  const JobState s = in.from;
  if (in.pending_action && (in.event == JobEvent::kCancel || in.event == JobEvent::kComplete)) {
    return To(in.event == JobEvent::kCancel ? JobState::kCancelled : JobState::kAcknowledged);
  }
  if (IsFinal(s)) {
    return Refuse(s, "the job is acknowledged or cancelled and can no longer change");
  }
  switch (in.event) {
    case JobEvent::kResume:
      switch (s) {
        case JobState::kSuspended:
          if (!in.has_files) {
            return Transition{Status(kBgEEmpty, "the job has no files"), s};
          }
          return To(JobState::kQueued);
        case JobState::kError:
        case JobState::kTransientError:
          return To(JobState::kQueued);
        case JobState::kTransferred:
          return To(in.has_unfinished_files ? JobState::kQueued : s);
        default:
          return To(s);  // already queued or running
      }
    case JobEvent::kSuspend:
      return To(JobState::kSuspended);
    case JobEvent::kCancel:
      return To(JobState::kCancelled);
    case JobEvent::kComplete:
      return To(JobState::kAcknowledged);
    case JobEvent::kModify:
      return To(s);
    case JobEvent::kStart:
      if (s == JobState::kQueued) return To(JobState::kConnecting);
      return Refuse(s, "only a queued job can start");
    case JobEvent::kResponseAccepted:
      if (s == JobState::kConnecting || s == JobState::kTransferring) {
        return To(JobState::kTransferring);
      }
      return Refuse(s, "no transfer is running");
    case JobEvent::kSliceExpired:
      if (IsActionState(s)) return To(JobState::kQueued);
      return Refuse(s, "no transfer is running");
    case JobEvent::kAllFilesDone:
      if (IsActionState(s)) return To(JobState::kTransferred);
      return Refuse(s, "no transfer is running");
    case JobEvent::kTransientError:
      if (IsActionState(s)) return To(JobState::kTransientError);
      return Refuse(s, "no transfer is running");
    case JobEvent::kFatalError:
      if (IsActionState(s) || s == JobState::kTransientError) return To(JobState::kError);
      return Refuse(s, "no transfer is running");
    case JobEvent::kRetryDelayElapsed:
      if (s == JobState::kTransientError) return To(JobState::kQueued);
      return Refuse(s, "the job is not waiting to retry");
    case JobEvent::kNoProgressTimeout:
      if (s == JobState::kTransientError) return To(JobState::kError);
      return Refuse(s, "the job is not waiting to retry");
    case JobEvent::kReopened:
      if (s == JobState::kConnecting || s == JobState::kTransferring) return To(JobState::kQueued);
      return To(s);
    case JobEvent::kFileLost:
      if (s == JobState::kTransferred) return To(JobState::kQueued);
      return To(s);
  }
  return Refuse(s, "unknown event");
}

}  // namespace openbits::engine
