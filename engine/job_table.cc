// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/job_table.h"

#include <algorithm>
#include <utility>

#include "openbits/hresult.h"

#include "engine/state_machine.h"
#include "platform/system.h"

namespace openbits::engine {
namespace {

// An RFC 9562 version 7 GUID: the creation time in milliseconds first, then
// 74 random bits. The queue's tables are keyed by job id: jobs created
// together land side by side, so a batch of 2,000 dirties a few pages of
// each B-tree instead of one page per job (docs/compatibility.md).
// `last_ms` keeps the times from going back when the clock is set back.
Guid NewJobId(std::uint64_t* last_ms) {
  Guid g;
  platform::FillRandom(g.bytes.data(), g.bytes.size());
  const auto ms = std::max(static_cast<std::uint64_t>(NowMs()), *last_ms);
  *last_ms = ms;
  for (std::size_t i = 0; i < 6; ++i) {
    g.bytes[i] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
  }
  g.bytes[6] = static_cast<std::uint8_t>((g.bytes[6] & 0x0F) | 0x70);  // version 7
  g.bytes[8] = static_cast<std::uint8_t>((g.bytes[8] & 0x3F) | 0x80);  // RFC 9562 variant
  return g;
}

}  // namespace

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<JobData> JobTable::NewJob(const std::string& owner, std::string_view name,
                                          JobType type) {
  auto job = std::make_shared<JobData>();
  store::JobRecord& r = job->rec;
  r.id = NewJobId(&last_job_id_ms_);
  r.sequence = next_sequence_++;
  r.owner = owner;
  r.type = type;
  r.display_name = std::string(name);
  r.creation_time_ms = r.modification_time_ms = NowMs();
  job->queue_position = next_queue_position_++;
  job->last_progress = std::chrono::steady_clock::now();
  return job;
}

void JobTable::Load(const std::vector<std::shared_ptr<JobData>>& loaded) {
  // Creation order, which is the queue's order; the keys are copied out
  // so the sort does not chase a pointer per comparison.
  std::vector<std::pair<std::int64_t, std::size_t>> order(loaded.size());
  for (std::size_t i = 0; i < loaded.size(); ++i) order[i] = {loaded[i]->rec.sequence, i};
  std::sort(order.begin(), order.end());
  for (const auto& entry : order) {
    JobData& job = *loaded[entry.second];
    next_sequence_ = std::max(next_sequence_, job.rec.sequence + 1);
    job.queue_position = next_queue_position_++;
  }
  // The rest walks the jobs in the order they were allocated, which is
  // the order of their memory.
  jobs_.reserve(loaded.size());
  for (const std::shared_ptr<JobData>& job : loaded) jobs_.emplace(job->rec.id, job);
}

void JobTable::Insert(const std::shared_ptr<JobData>& job) {
  jobs_[job->rec.id] = job;
  UpdateRunnable(*job);
}

std::shared_ptr<JobData> JobTable::Find(const Guid& id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : it->second;
}

std::shared_ptr<JobData> JobTable::SharedOf(const JobData& job) const {
  auto it = jobs_.find(job.rec.id);
  return it == jobs_.end() || it->second.get() != &job ? nullptr : it->second;
}

void JobTable::Remove(JobData& job) {
  job.removed = true;
  runnable_.erase(&job);
  jobs_.erase(job.rec.id);  // handles keep the JobData alive
}

void JobTable::UpdateRunnable(JobData& job) {
  if (IsActionState(job.rec.state) && !job.removed) {
    runnable_.insert(&job);
  } else {
    runnable_.erase(&job);
  }
}

std::vector<std::shared_ptr<JobData>> JobTable::Ordered(const std::string* owner) const {
  // The keys are copied out: a sort that followed a pointer per comparison
  // would miss the cache on every one in a queue of 100,000 jobs.
  std::vector<std::pair<std::int64_t, const std::shared_ptr<JobData>*>> order;
  order.reserve(jobs_.size());
  for (const auto& [id, job] : jobs_) {
    if (owner == nullptr || job->rec.owner == *owner) order.emplace_back(job->rec.sequence, &job);
  }
  std::sort(order.begin(), order.end());
  std::vector<std::shared_ptr<JobData>> out;
  out.reserve(order.size());
  for (const auto& entry : order) out.push_back(*entry.second);
  return out;
}

}  // namespace openbits::engine
