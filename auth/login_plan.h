// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The login plan: which of a job's credentials answer which challenge, by
// the seed rules of bits-authentication.md (docs/auth.md). A pure function
// of the credentials as opened from the vault, the URL's user information
// and the implicit-credential policy, so that every rule is tested without
// a server.
//
// Negotiate and NTLM are answered by openbits through the OS's security
// package (platform/negotiate.h); Digest and Basic by the HTTP client.

#ifndef OPENBITS_AUTH_LOGIN_PLAN_H_
#define OPENBITS_AUTH_LOGIN_PLAN_H_

#include <array>
#include <cstddef>
#include <optional>
#include <string>

#include "openbits/types.h"

#include "platform/negotiate.h"
#include "platform/secret_buffer.h"

namespace openbits::auth {

// One credential slot of a job (SetCredentials/SetImplicitCredentials),
// opened from the vault.
struct OpenedCredential {
  bool present = false;
  bool implicit = false;
  platform::SecretBuffer user_name;
  platform::SecretBuffer password;
};

// Every slot: the two targets by the four schemes openbits answers.
class JobCredentials {
 public:
  OpenedCredential& at(AuthTarget target, AuthScheme scheme) {
    return slots_[Index(target, scheme)];
  }
  const OpenedCredential& at(AuthTarget target, AuthScheme scheme) const {
    return slots_[Index(target, scheme)];
  }

 private:
  static std::size_t Index(AuthTarget target, AuthScheme scheme) {
    return (static_cast<std::size_t>(target) - 1) * 5 + static_cast<std::size_t>(scheme) - 1;
  }
  std::array<OpenedCredential, 10> slots_;
};

// User name and password embedded in the URL (they win over SetCredentials).
struct UrlCredentials {
  std::string user_name;  // empty: the URL has none
  platform::SecretBuffer password;
};

// Answers through the security package (Negotiate, NTLM).
struct PackageLogin {
  bool enabled = false;
  platform::NegotiateIdentity identity;
  bool prefer_ntlm = false;  // given for NTLM: answer "NTLM" first
};

// Answers through the HTTP client (Digest, Basic).
struct ClientLogin {
  bool basic = false;
  bool digest = false;
  platform::SecretBuffer user_name;
  platform::SecretBuffer password;
  bool any() const { return basic || digest; }
};

struct LoginPlan {
  PackageLogin server_package;
  ClientLogin server_client;
  PackageLogin proxy_package;
  ClientLogin proxy_client;
};

// The plan for one request. `credentials` is consumed (secrets move into the
// plan). `implicit_without_set_credentials` is the policy's answer
// (SendsImplicitWithoutSetCredentials). Implicit identities get no
// credential cache: the caller sets the owner's.
LoginPlan PlanLogins(JobCredentials credentials, UrlCredentials url,
                     bool implicit_without_set_credentials);

}  // namespace openbits::auth

#endif  // OPENBITS_AUTH_LOGIN_PLAN_H_
