// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The OS's security package for challenge/response HTTP authentication:
// SPNEGO ("Negotiate": Kerberos, or NTLM inside SPNEGO) and raw NTLM.
// GSSAPI (MIT krb5, gss-ntlmssp) on Unix: negotiate_gssapi.cc; SSPI on
// Windows. openbits drives the exchange itself instead of leaving it to
// libcurl, because libcurl only uses the thread's default credentials and
// a job must authenticate as its own identity (docs/auth.md).

#ifndef OPENBITS_PLATFORM_NEGOTIATE_H_
#define OPENBITS_PLATFORM_NEGOTIATE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "openbits/status.h"

#include "platform/secret_buffer.h"

namespace openbits::platform {

enum class NegotiateMechanism {
  kSpnego,  // "Negotiate": Kerberos or NTLMSSP, as the two sides agree
  kNtlm,    // "NTLM": NTLMSSP alone
};

// Whose credentials answer the server.
struct NegotiateIdentity {
  // Explicit credentials: user name ("alice", "alice@REALM",
  // "DOMAIN\\alice") and password. Acquired into memory private to this
  // exchange: no credential cache of the user is read or written.
  bool implicit = false;
  std::string user_name;
  SecretBuffer password;
  // Implicit credentials: the Kerberos credential cache to use
  // ("FILE:/tmp/krb5cc_1000"); empty for the process's default.
  std::string credential_cache;
  // SPNEGO may only choose NTLMSSP (the credentials were given for NTLM).
  bool ntlm_only = false;
};

class NegotiateContext {
 public:
  virtual ~NegotiateContext() = default;
  // Feeds the server's token (empty at the start) and returns the token to
  // send next (empty when there is nothing more to send). Errors name the
  // mechanism and the reason (no ticket, clock skew, unknown principal...).
  virtual Result<std::vector<std::uint8_t>> Step(std::span<const std::uint8_t> server_token) = 0;
  // The mechanism reports the exchange finished on our side.
  virtual bool complete() const = 0;
  // Why the peer may have refused a token without saying why (a bare
  // "Negotiate" answer): Kerberos's own error for this identity and
  // service, or "" when Kerberos alone would succeed.
  virtual std::string Diagnose() { return {}; }
};

// Starts an exchange with the HTTP service on `host` (service principal
// HTTP@host). E_NOTIMPL when the mechanism is not installed.
Result<std::unique_ptr<NegotiateContext>> StartNegotiate(NegotiateMechanism mechanism,
                                                         const std::string& host,
                                                         const NegotiateIdentity& identity);

}  // namespace openbits::platform

#endif  // OPENBITS_PLATFORM_NEGOTIATE_H_
