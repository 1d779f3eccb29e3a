// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Every row of the transition table in bits-api.md §1.2.

#include "engine/state_machine.h"

#include <gtest/gtest.h>

#include "openbits/hresult.h"

namespace openbits::engine {
namespace {

using S = JobState;
using E = JobEvent;

constexpr S kAllStates[] = {S::kQueued,      S::kConnecting,   S::kTransferring,
                            S::kSuspended,   S::kError,        S::kTransientError,
                            S::kTransferred, S::kAcknowledged, S::kCancelled};

Transition Apply(S from, E event, bool has_files = true, bool unfinished = true) {
  return ApplyEvent({from, event, has_files, unfinished});
}

void ExpectMove(S from, E event, S to) {
  Transition t = Apply(from, event);
  EXPECT_TRUE(t.status.ok()) << JobStateName(from) << " " << t.status.ToString();
  EXPECT_EQ(t.to, to) << JobStateName(from) << " -> " << JobStateName(t.to);
}

void ExpectRefused(S from, E event) {
  Transition t = Apply(from, event);
  EXPECT_EQ(t.status.code(), kBgEInvalidState) << JobStateName(from);
  EXPECT_EQ(t.to, from);
}

TEST(StateMachineTest, ResumeQueuesASuspendedJobWithFiles) {
  ExpectMove(S::kSuspended, E::kResume, S::kQueued);
}

TEST(StateMachineTest, ResumeOfAnEmptyJobIsBgEEmptyAndStaysSuspended) {
  Transition t = Apply(S::kSuspended, E::kResume, /*has_files=*/false);
  EXPECT_EQ(t.status.code(), kBgEEmpty);
  EXPECT_EQ(t.to, S::kSuspended);
}

TEST(StateMachineTest, ResumeRetriesErroredJobsNow) {
  ExpectMove(S::kError, E::kResume, S::kQueued);
  ExpectMove(S::kTransientError, E::kResume, S::kQueued);
}

TEST(StateMachineTest, ResumeOfARunningJobChangesNothing) {
  for (S s : {S::kQueued, S::kConnecting, S::kTransferring}) ExpectMove(s, E::kResume, s);
}

TEST(StateMachineTest, ResumeRequeuesATransferredJobOnlyWithNewFiles) {
  EXPECT_EQ(Apply(S::kTransferred, E::kResume, true, /*unfinished=*/true).to, S::kQueued);
  EXPECT_EQ(Apply(S::kTransferred, E::kResume, true, /*unfinished=*/false).to, S::kTransferred);
}

TEST(StateMachineTest, SuspendCancelCompleteFromEveryNonFinalState) {
  for (S s : kAllStates) {
    if (IsFinal(s)) continue;
    ExpectMove(s, E::kSuspend, S::kSuspended);
    ExpectMove(s, E::kCancel, S::kCancelled);
    ExpectMove(s, E::kComplete, S::kAcknowledged);
    ExpectMove(s, E::kModify, s);
  }
}

TEST(StateMachineTest, FinalStatesRefuseEverything) {
  for (S s : {S::kAcknowledged, S::kCancelled}) {
    for (E e : {E::kResume, E::kSuspend, E::kCancel, E::kComplete, E::kModify, E::kStart,
                E::kResponseAccepted, E::kSliceExpired, E::kAllFilesDone, E::kTransientError,
                E::kFatalError, E::kRetryDelayElapsed, E::kNoProgressTimeout, E::kReopened,
                E::kFileLost}) {
      ExpectRefused(s, e);
    }
  }
}

TEST(StateMachineTest, SchedulerStartsOnlyQueuedJobs) {
  ExpectMove(S::kQueued, E::kStart, S::kConnecting);
  for (S s : {S::kConnecting, S::kTransferring, S::kSuspended, S::kError, S::kTransientError,
              S::kTransferred}) {
    ExpectRefused(s, E::kStart);
  }
}

TEST(StateMachineTest, ConnectingBecomesTransferringOnAnAcceptedResponse) {
  ExpectMove(S::kConnecting, E::kResponseAccepted, S::kTransferring);
  ExpectMove(S::kTransferring, E::kResponseAccepted, S::kTransferring);
  ExpectRefused(S::kSuspended, E::kResponseAccepted);
}

TEST(StateMachineTest, TimeSliceSendsARunningJobBackToTheQueue) {
  ExpectMove(S::kTransferring, E::kSliceExpired, S::kQueued);
  ExpectMove(S::kConnecting, E::kSliceExpired, S::kQueued);
  ExpectRefused(S::kSuspended, E::kSliceExpired);
}

TEST(StateMachineTest, AllFilesDoneIsTransferred) {
  for (S s : {S::kQueued, S::kConnecting, S::kTransferring}) {
    ExpectMove(s, E::kAllFilesDone, S::kTransferred);
  }
  ExpectRefused(S::kError, E::kAllFilesDone);
}

TEST(StateMachineTest, TransientErrorsWaitAndRetry) {
  ExpectMove(S::kConnecting, E::kTransientError, S::kTransientError);
  ExpectMove(S::kTransferring, E::kTransientError, S::kTransientError);
  ExpectMove(S::kTransientError, E::kRetryDelayElapsed, S::kQueued);
  ExpectMove(S::kTransientError, E::kNoProgressTimeout, S::kError);
  ExpectRefused(S::kSuspended, E::kTransientError);
  ExpectRefused(S::kQueued, E::kRetryDelayElapsed);
  ExpectRefused(S::kError, E::kNoProgressTimeout);
}

TEST(StateMachineTest, FatalErrorsStopInError) {
  for (S s : {S::kQueued, S::kConnecting, S::kTransferring, S::kTransientError}) {
    ExpectMove(s, E::kFatalError, S::kError);
  }
  ExpectRefused(S::kSuspended, E::kFatalError);
  ExpectRefused(S::kTransferred, E::kFatalError);
}

TEST(StateMachineTest, AReopenedQueueQueuesTheJobsThatWereRunning) {
  ExpectMove(S::kConnecting, E::kReopened, S::kQueued);
  ExpectMove(S::kTransferring, E::kReopened, S::kQueued);
  for (S s : {S::kQueued, S::kSuspended, S::kError, S::kTransientError, S::kTransferred}) {
    ExpectMove(s, E::kReopened, s);
  }
}

TEST(StateMachineTest, ATransferredJobThatLostAFileQueuesAgain) {
  ExpectMove(S::kTransferred, E::kFileLost, S::kQueued);
  ExpectMove(S::kSuspended, E::kFileLost, S::kSuspended);
}

TEST(StateMachineTest, ACommittedCancelOrCompleteFinishesInAnyState) {
  for (S s : kAllStates) {
    Transition cancel = ApplyEvent({s, E::kCancel, true, true, /*pending_action=*/true});
    EXPECT_TRUE(cancel.status.ok()) << JobStateName(s);
    EXPECT_EQ(cancel.to, S::kCancelled);
    Transition complete = ApplyEvent({s, E::kComplete, true, true, /*pending_action=*/true});
    EXPECT_TRUE(complete.status.ok()) << JobStateName(s);
    EXPECT_EQ(complete.to, S::kAcknowledged);
  }
  // Only those two: a pending action does not open a final job to others.
  EXPECT_EQ(ApplyEvent({S::kCancelled, E::kResume, true, true, true}).status.code(),
            kBgEInvalidState);
}

}  // namespace
}  // namespace openbits::engine
