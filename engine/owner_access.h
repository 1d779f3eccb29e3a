// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// OwnerAccess: who a job's file operations run as. In system mode
// (act_as_job_owner) every file a job touches is opened, created, renamed or
// deleted with its owner's rights only, never the daemon's; otherwise as the
// process itself. Looks each owner up once.

#ifndef OPENBITS_ENGINE_OWNER_ACCESS_H_
#define OPENBITS_ENGINE_OWNER_ACCESS_H_

#include <optional>
#include <string>
#include <unordered_map>

#include "openbits/status.h"

#include "platform/identity.h"

namespace openbits::engine {

class OwnerAccess {
 public:
  explicit OwnerAccess(bool act_as_job_owner) : act_as_job_owner_(act_as_job_owner) {}

  // The identity `owner`'s files are handled with; an empty optional when
  // not in system mode. An error when the user does not exist.
  Result<std::optional<platform::UserIdentity>> Identity(const std::string& owner);

  // In system mode, the calling thread acts as `owner` for file access while
  // the result lives; otherwise an empty optional.
  Result<std::optional<platform::FileIdentity>> ActAs(const std::string& owner);

 private:
  bool act_as_job_owner_;
  std::unordered_map<std::string, platform::UserIdentity> identities_;
};

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_OWNER_ACCESS_H_
