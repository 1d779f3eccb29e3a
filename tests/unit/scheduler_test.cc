// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/scheduler.h"

#include <algorithm>

#include <gtest/gtest.h>

namespace openbits::engine {
namespace {

Guid Id(std::uint8_t n) {
  Guid g;
  g.bytes[0] = n;
  return g;
}

bool Contains(const std::vector<Guid>& v, const Guid& g) {
  return std::find(v.begin(), v.end(), g) != v.end();
}

TEST(SchedulerTest, AllForegroundJobsRunPlusOneBackgroundJob) {
  std::vector<SchedulingCandidate> c = {
      {Id(1), JobPriority::kForeground, 5, false, false},
      {Id(2), JobPriority::kForeground, 6, false, false},
      {Id(3), JobPriority::kNormal, 1, false, false},
      {Id(4), JobPriority::kNormal, 2, false, false},
  };
  auto run = PickJobsToRun(c, 1);
  EXPECT_EQ(run.size(), 3u);
  EXPECT_TRUE(Contains(run, Id(1)));
  EXPECT_TRUE(Contains(run, Id(2)));
  EXPECT_TRUE(Contains(run, Id(3)));
}

TEST(SchedulerTest, HigherPriorityPreemptsLower) {
  std::vector<SchedulingCandidate> c = {
      {Id(1), JobPriority::kLow, 1, true, false},
      {Id(2), JobPriority::kHigh, 9, false, false},
  };
  auto run = PickJobsToRun(c, 1);
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0], Id(2));
}

TEST(SchedulerTest, ARunningJobKeepsItsSlotUntilItsSliceEnds) {
  std::vector<SchedulingCandidate> c = {
      {Id(1), JobPriority::kNormal, 7, true, false},
      {Id(2), JobPriority::kNormal, 1, false, false},
  };
  EXPECT_EQ(PickJobsToRun(c, 1), std::vector<Guid>{Id(1)});
  c[0].slice_expired = true;
  EXPECT_EQ(PickJobsToRun(c, 1), std::vector<Guid>{Id(2)});
}

TEST(SchedulerTest, AnExpiredSliceGoesBehindJobsThatQueuedLater) {
  std::vector<SchedulingCandidate> c = {
      {Id(1), JobPriority::kNormal, 1, true, true},
      {Id(2), JobPriority::kNormal, 2, false, false},
      {Id(3), JobPriority::kNormal, 3, false, false},
  };
  EXPECT_EQ(PickJobsToRun(c, 1), std::vector<Guid>{Id(2)});
  EXPECT_EQ(PickJobsToRun(c, 2), (std::vector<Guid>{Id(2), Id(3)}));
}

TEST(SchedulerTest, AnExpiredSliceWithoutCompetitionKeepsRunning) {
  std::vector<SchedulingCandidate> c = {{Id(1), JobPriority::kNormal, 7, true, true},
                                        {Id(2), JobPriority::kLow, 1, false, false}};
  EXPECT_EQ(PickJobsToRun(c, 1), std::vector<Guid>{Id(1)});
}

TEST(SchedulerTest, BackgroundConcurrencyIsConfigurable) {
  std::vector<SchedulingCandidate> c;
  for (std::uint8_t i = 1; i <= 5; ++i) c.push_back({Id(i), JobPriority::kNormal, i, false, false});
  auto run = PickJobsToRun(c, 3);
  EXPECT_EQ(run.size(), 3u);
  EXPECT_TRUE(Contains(run, Id(1)));
  EXPECT_TRUE(Contains(run, Id(2)));
  EXPECT_TRUE(Contains(run, Id(3)));
  EXPECT_TRUE(PickJobsToRun(c, 0).empty());
}

}  // namespace
}  // namespace openbits::engine
