// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/owner_access.h"

#include <utility>

namespace openbits::engine {

Result<std::optional<platform::UserIdentity>> OwnerAccess::Identity(const std::string& owner) {
  if (!act_as_job_owner_) return std::optional<platform::UserIdentity>();
  auto it = identities_.find(owner);
  if (it == identities_.end()) {
    auto user = platform::LookUpUser(owner);
    if (!user.ok()) return user.status();
    it = identities_.emplace(owner, std::move(*user)).first;
  }
  return std::optional<platform::UserIdentity>(it->second);
}

Result<std::optional<platform::FileIdentity>> OwnerAccess::ActAs(const std::string& owner) {
  auto user = Identity(owner);
  if (!user.ok()) return user.status();
  std::optional<platform::FileIdentity> scope;
  if (*user) {
    auto assumed = platform::FileIdentity::Assume(**user);
    if (!assumed.ok()) return assumed.status();
    scope.emplace(std::move(*assumed));
  }
  return scope;
}

}  // namespace openbits::engine
