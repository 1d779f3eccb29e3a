// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "auth/login_plan.h"

#include <utility>

namespace openbits::auth {
namespace {

bool Implicit(const OpenedCredential& c) { return c.present && c.implicit; }
bool Explicit(const OpenedCredential& c) { return c.present && !c.implicit; }

// The first explicit one of Negotiate and NTLM, in that order; null if none.
OpenedCredential* ExplicitPackageCredential(OpenedCredential& negotiate, OpenedCredential& ntlm) {
  if (Explicit(negotiate)) return &negotiate;
  if (Explicit(ntlm)) return &ntlm;
  return nullptr;
}

// Digest and Basic through the client: the strongest one set, plus the
// other if it carries the same user name and password.
ClientLogin ClientLoginFor(JobCredentials& credentials, AuthTarget target) {
  ClientLogin login;
  for (AuthScheme scheme : {AuthScheme::kDigest, AuthScheme::kBasic}) {
    OpenedCredential& c = credentials.at(target, scheme);
    if (!Explicit(c)) continue;
    bool* bit = scheme == AuthScheme::kDigest ? &login.digest : &login.basic;
    if (!login.any()) {
      login.user_name = std::move(c.user_name);
      login.password = std::move(c.password);
      *bit = true;
    } else if (login.user_name.view() == c.user_name.view() &&
               login.password.view() == c.password.view()) {
      *bit = true;
    }
  }
  return login;
}

PackageLogin ExplicitLogin(OpenedCredential& chosen, bool ntlm) {
  PackageLogin login;
  login.enabled = true;
  login.identity.user_name = std::string(chosen.user_name.view());
  login.identity.password = std::move(chosen.password);
  // Credentials given for NTLM only answer NTLM, also inside SPNEGO.
  login.prefer_ntlm = login.identity.ntlm_only = ntlm;
  return login;
}

PackageLogin ImplicitLogin(bool ntlm_only) {
  PackageLogin login;
  login.enabled = true;
  login.identity.implicit = true;
  login.prefer_ntlm = login.identity.ntlm_only = ntlm_only;
  return login;
}

}  // namespace

LoginPlan PlanLogins(JobCredentials credentials, UrlCredentials url,
                     bool implicit_without_set_credentials) {
  LoginPlan plan;
  OpenedCredential& server_negotiate = credentials.at(AuthTarget::kServer, AuthScheme::kNegotiate);
  OpenedCredential& server_ntlm = credentials.at(AuthTarget::kServer, AuthScheme::kNtlm);
  OpenedCredential& proxy_negotiate = credentials.at(AuthTarget::kProxy, AuthScheme::kNegotiate);
  OpenedCredential& proxy_ntlm = credentials.at(AuthTarget::kProxy, AuthScheme::kNtlm);
  const bool proxy_implicit = Implicit(proxy_negotiate) || Implicit(proxy_ntlm);

  if (!url.user_name.empty()) {
    // Seed rule: credentials in the URL win over SetCredentials, for every
    // scheme the server may offer.
    plan.server_package.enabled = true;
    plan.server_package.identity.user_name = url.user_name;
    plan.server_package.identity.password =
        platform::SecretBuffer(url.password.data(), url.password.size());
    plan.server_client.basic = plan.server_client.digest = true;
    plan.server_client.user_name = platform::SecretBuffer::FromString(url.user_name);
    plan.server_client.password = std::move(url.password);
  } else {
    const bool server_implicit = Implicit(server_negotiate) || Implicit(server_ntlm);
    const bool set_for_server = server_negotiate.present || server_ntlm.present;
    if (OpenedCredential* chosen = ExplicitPackageCredential(server_negotiate, server_ntlm)) {
      plan.server_package = ExplicitLogin(*chosen, chosen == &server_ntlm);
    } else if (server_implicit || proxy_implicit ||
               (!set_for_server && implicit_without_set_credentials)) {
      // The owner's logon credentials: explicitly asked for, given for the
      // proxy (seed rule), or allowed by UseLMCompat. Given for NTLM only
      // (not Negotiate), they answer NTLM.
      plan.server_package = ImplicitLogin(Implicit(server_ntlm) && !Implicit(server_negotiate));
    }
    plan.server_client = ClientLoginFor(credentials, AuthTarget::kServer);
  }

  // The proxy: explicit Negotiate before explicit NTLM, then implicit
  // credentials, as at the server.
  if (OpenedCredential* chosen = ExplicitPackageCredential(proxy_negotiate, proxy_ntlm)) {
    plan.proxy_package = ExplicitLogin(*chosen, chosen == &proxy_ntlm);
  } else if (proxy_implicit) {
    plan.proxy_package = ImplicitLogin(proxy_ntlm.present && !Implicit(proxy_negotiate));
  }
  plan.proxy_client = ClientLoginFor(credentials, AuthTarget::kProxy);
  return plan;
}

}  // namespace openbits::auth
