// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/scheduler.h"

#include <algorithm>
#include <tuple>

namespace openbits::engine {

std::vector<Guid> PickJobsToRun(const std::vector<SchedulingCandidate>& candidates,
                                std::uint32_t background_slots) {
  std::vector<Guid> run;
  std::vector<const SchedulingCandidate*> background;
  for (const SchedulingCandidate& c : candidates) {
    if (c.priority == JobPriority::kForeground) {
      run.push_back(c.id);
    } else {
      background.push_back(&c);
    }
  }
  // Within a priority: a running job whose slice has not ended first, then
  // the waiting jobs in round-robin order, then jobs whose slice ended (they
  // keep running only if nobody of their priority waits).
  auto key = [](const SchedulingCandidate* c) {
    const int turn = c->running && !c->slice_expired ? 0 : (c->slice_expired ? 2 : 1);
    return std::make_tuple(static_cast<int>(c->priority), turn, c->queue_position);
  };
  std::sort(
      background.begin(), background.end(),
      [&](const SchedulingCandidate* a, const SchedulingCandidate* b) { return key(a) < key(b); });
  for (std::size_t i = 0; i < background.size() && i < background_slots; ++i) {
    run.push_back(background[i]->id);
  }
  return run;
}

}  // namespace openbits::engine
