// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// When implicit (logon) credentials go out without SetCredentials: BITS's
// UseLMCompat rule (bits-authentication.md), configured in openbits.conf:
//
//   [policy]
//   UseLMCompat = 0 | 1 | 2          ; absent: 2, as Windows Vista and later
//   LMCompatibilityLevel = 0 .. 5    ; absent: 3, as Windows Vista and later
//
// 0: send implicit credentials whenever the server prompts for NTLM or
//    Kerberos; 1: only if LMCompatibilityLevel >= 2; 2: only if the
//    application called SetCredentials with NULL user name and password.

#ifndef OPENBITS_AUTH_IMPLICIT_POLICY_H_
#define OPENBITS_AUTH_IMPLICIT_POLICY_H_

#include <string>

#include "openbits/status.h"

namespace openbits::auth {

struct ImplicitCredentialPolicy {
  int use_lm_compat = 2;
  int lm_compatibility_level = 3;
};

// Reads the [policy] section of the INI file at `path`. A missing file
// gives the defaults; a malformed one, or a value out of range, fails with
// E_INVALIDARG naming the file and key (the queue then does not open, so
// a typo never silently changes who is authenticated).
Result<ImplicitCredentialPolicy> LoadImplicitCredentialPolicy(const std::string& path);

// Proxy discovery settings, section [proxy] of the same file:
//
//   [proxy]
//   AutoConfigUrl = http://host/proxy.pac  ; AUTODETECT runs this PAC script
//                                          ; instead of discovering one (WPAD)
//   AutoConfigTimeout = 30                 ; seconds a lookup may take (1..600)
struct ProxyDiscoveryConfig {
  std::string autoconfig_url;
  int timeout_s = 30;
};

// Reads the [proxy] section; errors as LoadImplicitCredentialPolicy.
Result<ProxyDiscoveryConfig> LoadProxyDiscoveryConfig(const std::string& path);

// Limits of BITS's group policies of the same names, section [policy]:
//
//   [policy]
//   MaxFilesPerJob = 0 .. 2147483647  ; absent or 0: no limit
//
// BITS's default is 200 files for non-administrators; openbits sets no
// limit unless told (docs/compatibility.md). Administrators are exempt, as
// in BITS.
struct QueueLimits {
  int max_files_per_job = 0;  // 0: no limit
};

// Reads the limits; errors as LoadImplicitCredentialPolicy.
Result<QueueLimits> LoadQueueLimits(const std::string& path);

// Whether a job with no SetCredentials for a target answers that target's
// NTLM or Negotiate prompt with the owner's logon credentials.
bool SendsImplicitWithoutSetCredentials(const ImplicitCredentialPolicy& policy);

}  // namespace openbits::auth

#endif  // OPENBITS_AUTH_IMPLICIT_POLICY_H_
