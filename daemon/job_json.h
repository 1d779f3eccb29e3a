// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// How the daemon shows jobs on its wire (docs/ipc.md): job.info's and
// job.list's objects.

#ifndef OPENBITS_DAEMON_JOB_JSON_H_
#define OPENBITS_DAEMON_JOB_JSON_H_

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "openbits/types.h"

#include "engine/job_data.h"

namespace openbits::daemon {

// A size, or null for kSizeUnknown.
nlohmann::json Size(std::uint64_t v);

// A file's ranges: [{offset, length|null}].
nlohmann::json RangesJson(const std::vector<FileRange>& ranges);

// {"jobs": [...]} with what `bitsadmin /list` prints of each job, written as
// text (a document tree of 100,000 jobs costs more than the queue), only
// the jobs named `name` when given.
std::string SummaryListText(const std::vector<std::shared_ptr<engine::JobData>>& jobs,
                            const std::optional<std::string>& name);

// job.info's "job" object.
nlohmann::json InfoJson(const JobInfo& info);

}  // namespace openbits::daemon

#endif  // OPENBITS_DAEMON_JOB_JSON_H_
