// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// What the application sees of a job: progress, error and the JobInfo
// snapshot, read from the engine thread's JobData without changing it.

#ifndef OPENBITS_ENGINE_JOB_VIEW_H_
#define OPENBITS_ENGINE_JOB_VIEW_H_

#include <cstdint>

#include "openbits/job.h"
#include "openbits/types.h"

#include "engine/job_data.h"

namespace openbits::engine {

// File `index`'s progress, live while it downloads. REQUIRES: index < files.
FileProgress FileProgressOf(const JobData& job, std::uint32_t index);

// The job's progress over all its files.
JobProgress ProgressOf(const JobData& job);

// The job's last error; BG_E_ERROR_INFORMATION_UNAVAILABLE when it has none.
Result<JobErrorInfo> ErrorOf(const JobData& job);

// Everything BITS reports of the job, in one snapshot.
JobInfo InfoOf(const JobData& job);

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_JOB_VIEW_H_
