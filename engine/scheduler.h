// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Which jobs should hold a transfer slot right now (bits-api.md §1.5):
// every FOREGROUND job; then up to `background_slots` background jobs,
// higher priority first (a higher priority preempts a lower one), and within
// one priority the running job keeps its slot until its time slice ends,
// after which it goes to the back of the round robin.

#ifndef OPENBITS_ENGINE_SCHEDULER_H_
#define OPENBITS_ENGINE_SCHEDULER_H_

#include <cstdint>
#include <vector>

#include "openbits/types.h"

namespace openbits::engine {

struct SchedulingCandidate {
  Guid id;
  JobPriority priority;
  // Position in the round robin: lower goes first. Bumped when a job's time
  // slice expires.
  std::uint64_t queue_position;
  bool running;        // holds a slot now
  bool slice_expired;  // running, and its time slice has ended
};

// The ids of the candidates that should run, in no particular order.
std::vector<Guid> PickJobsToRun(const std::vector<SchedulingCandidate>& candidates,
                                std::uint32_t background_slots);

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_SCHEDULER_H_
