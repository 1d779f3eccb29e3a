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
  // A running job whose slice has not ended sorts before waiting jobs of its
  // priority; one whose slice ended sorts as a waiting job would.
  auto key = [](const SchedulingCandidate* c) {
    const bool holds_turn = c->running && !c->slice_expired;
    return std::make_tuple(static_cast<int>(c->priority), !holds_turn, c->queue_position);
  };
  std::sort(background.begin(), background.end(),
            [&](const SchedulingCandidate* a, const SchedulingCandidate* b) {
              return key(a) < key(b);
            });
  for (std::size_t i = 0; i < background.size() && i < background_slots; ++i) {
    run.push_back(background[i]->id);
  }
  return run;
}

}  // namespace openbits::engine
