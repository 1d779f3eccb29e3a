// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// JobTable: the jobs in memory, the runnable set the scheduler picks from,
// and the queue order (creation sequence, round-robin positions). It knows
// nothing of the store, transfers or notifications: the rooms that change a
// job tell it, through UpdateRunnable and Remove.

#ifndef OPENBITS_ENGINE_JOB_TABLE_H_
#define OPENBITS_ENGINE_JOB_TABLE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "openbits/types.h"

#include "engine/job_data.h"

namespace openbits::engine {

class JobTable {
 public:
  using Map = std::unordered_map<Guid, std::shared_ptr<JobData>, GuidHash>;

  // A new job of `owner`, at the back of the queue, with a fresh time-ordered
  // id; not in the table until Insert.
  std::shared_ptr<JobData> NewJob(const std::string& owner, std::string_view name, JobType type);

  // Takes `loaded` (jobs read from the store, any order) into the table:
  // queue positions follow their creation sequence, and new jobs go after
  // them. REQUIRES: the table is empty.
  void Load(const std::vector<std::shared_ptr<JobData>>& loaded);

  // Adds `job` and files it as runnable or not by its state.
  void Insert(const std::shared_ptr<JobData>& job);

  // The job with `id`, or null.
  std::shared_ptr<JobData> Find(const Guid& id) const;

  // The table's handle of `job`, or null once it left the queue.
  std::shared_ptr<JobData> SharedOf(const JobData& job) const;

  // Takes `job` out of the queue for good (ACKNOWLEDGED or CANCELLED): it
  // is marked removed and never runnable again; handles keep its data.
  void Remove(JobData& job);

  // Files `job` as runnable (QUEUED, CONNECTING, TRANSFERRING) or not.
  void UpdateRunnable(JobData& job);

  // Sends `job` to the back of the round robin among its priority.
  void MoveToBack(JobData& job) { job.queue_position = next_queue_position_++; }

  // The jobs of `owner`, or every job when `owner` is null, in creation order.
  std::vector<std::shared_ptr<JobData>> Ordered(const std::string* owner) const;

  const Map& jobs() const { return jobs_; }
  const std::unordered_set<JobData*>& runnable() const { return runnable_; }
  std::size_t size() const { return jobs_.size(); }

 private:
  Map jobs_;
  std::unordered_set<JobData*> runnable_;
  std::uint64_t last_job_id_ms_ = 0;  // NewJobId's clock, never going back
  std::int64_t next_sequence_ = 1;
  std::uint64_t next_queue_position_ = 1;
};

// Milliseconds since the Unix epoch, as the store keeps times.
std::int64_t NowMs();

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_JOB_TABLE_H_
