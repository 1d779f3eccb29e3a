// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The one copy of every job property's rules (JobProperty): the value's
// type, its limits and checks, and where it lives in the job's record. The
// library's setters, the daemon's job.set and bitsadmin all come here
// through Engine::SetProperty, so a new property is one entry here.
// Pure: no store, no threads.

#ifndef OPENBITS_ENGINE_JOB_PROPERTIES_H_
#define OPENBITS_ENGINE_JOB_PROPERTIES_H_

#include <cstddef>
#include <cstdint>

#include "openbits/status.h"
#include "openbits/types.h"

#include "store/records.h"

namespace openbits::engine {

// Limits shared by properties and job creation.
inline constexpr std::size_t kMaxDisplayName = 256;
inline constexpr std::size_t kMaxDescription = 1024;
inline constexpr std::uint32_t kMinimumRetryDelaySeconds = 5;
inline constexpr std::uint32_t kMaxConcurrentFiles = 16;

// Checks `value` for `property` of `job` and, if it passes, writes it into
// the record (some properties change others: a custom HTTP method makes
// the job FOREGROUND). On error the record is unchanged. kCustomHeaders is
// not a record field (it is sealed in the vault): E_INVALIDARG here.
Status ApplyProperty(store::JobRecord& job, JobProperty property, const PropertyValue& value);

// The property's value as the record holds it (kCustomHeaders: "", it is
// read from the vault).
PropertyValue ReadProperty(const store::JobRecord& job, JobProperty property);

// The job row without its files and secrets: a cheap copy to undo an
// in-place change with (RestoreRow).
store::JobRecord CopyRow(store::JobRecord& job);
// Puts `row`'s fields back into `job`, keeping `job`'s files and secrets.
void RestoreRow(store::JobRecord& job, store::JobRecord row);

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_JOB_PROPERTIES_H_
