// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// GSSAPI implementation of platform/negotiate.h. Explicit credentials go
// through gss_acquire_cred_with_password, which keeps the acquired ticket
// (Kerberos) or NT hash (gss-ntlmssp) in memory owned by the credential
// handle; implicit credentials come from gss_acquire_cred_from with the
// owner's credential cache, or the default credentials.

#include <cstring>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <string>

#include "openbits/hresult.h"

#include "platform/negotiate.h"

namespace openbits::platform {
namespace {

// 1.3.6.1.5.5.2 (SPNEGO), 1.2.840.113554.1.2.2 (Kerberos 5) and
// 1.3.6.1.4.1.311.2.2.10 (NTLMSSP).
gss_OID_desc kSpnegoOid = {6, const_cast<char*>("\x2b\x06\x01\x05\x05\x02")};
gss_OID_desc kKrb5Oid = {9, const_cast<char*>("\x2a\x86\x48\x86\xf7\x12\x01\x02\x02")};
gss_OID_desc kNtlmOid = {10, const_cast<char*>("\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a")};

std::string DisplayStatus(OM_uint32 code, int type, gss_OID mech) {
  std::string out;
  OM_uint32 context = 0;
  do {
    OM_uint32 minor = 0;
    gss_buffer_desc text = GSS_C_EMPTY_BUFFER;
    if (gss_display_status(&minor, code, type, mech, &context, &text) != GSS_S_COMPLETE) break;
    if (!out.empty()) out += "; ";
    std::string piece(static_cast<const char*>(text.value), text.length);
    gss_release_buffer(&minor, &text);
    while (!piece.empty() && piece.back() == '\0') piece.pop_back();  // some mechs count the NUL
    out += piece;
  } while (context != 0);
  return out;
}

Status GssError(const char* what, OM_uint32 major, OM_uint32 minor, gss_OID mech) {
  std::string message = std::string(what) + ": " + DisplayStatus(major, GSS_C_GSS_CODE, mech);
  if (minor != 0) message += " (" + DisplayStatus(minor, GSS_C_MECH_CODE, mech) + ")";
  return Status(kEAccessDenied, message);
}

class GssNegotiate final : public NegotiateContext {
 public:
  GssNegotiate(gss_OID mech, const char* mech_name) : mech_(mech), mech_name_(mech_name) {}
  ~GssNegotiate() override {
    OM_uint32 minor = 0;
    if (context_ != GSS_C_NO_CONTEXT) gss_delete_sec_context(&minor, &context_, GSS_C_NO_BUFFER);
    if (credential_ != GSS_C_NO_CREDENTIAL) gss_release_cred(&minor, &credential_);
    if (target_ != GSS_C_NO_NAME) gss_release_name(&minor, &target_);
  }

  Status Init(const std::string& host, const NegotiateIdentity& identity) {
    identity_.implicit = identity.implicit;
    identity_.user_name = identity.user_name;
    identity_.password = SecretBuffer(identity.password.data(), identity.password.size());
    identity_.credential_cache = identity.credential_cache;
    identity_.ntlm_only = identity.ntlm_only;
    OM_uint32 minor = 0;
    const std::string service = "HTTP@" + host;
    gss_buffer_desc service_buffer = {service.size(), const_cast<char*>(service.data())};
    const OM_uint32 imported =
        gss_import_name(&minor, &service_buffer, GSS_C_NT_HOSTBASED_SERVICE, &target_);
    if (GSS_ERROR(imported)) return GssError("import the service name", imported, minor, mech_);
    return AcquireCredentials(identity);
  }

  Status AcquireCredentials(const NegotiateIdentity& identity) {
    OM_uint32 minor = 0;
    OM_uint32 major = 0;
    gss_OID_set_desc mechs = {1, mech_};
    if (identity.implicit) {
      if (!identity.credential_cache.empty()) {
        gss_key_value_element_desc element = {"ccache", identity.credential_cache.c_str()};
        gss_key_value_set_desc store = {1, &element};
        major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &mechs,
                                      GSS_C_INITIATE, &store, &credential_, nullptr, nullptr);
        if (GSS_ERROR(major)) {
          return GssError("use the logon credentials", major, minor, mech_);
        }
      }
      // Otherwise GSS_C_NO_CREDENTIAL: the process's default credentials.
      if (identity.ntlm_only && mech_ == &kSpnegoOid && credential_ == GSS_C_NO_CREDENTIAL) {
        major = gss_acquire_cred(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &mechs, GSS_C_INITIATE,
                                 &credential_, nullptr, nullptr);
        if (GSS_ERROR(major)) return GssError("use the logon credentials", major, minor, mech_);
      }
      return RestrictToNtlm(identity);
    }
    gss_name_t user = GSS_C_NO_NAME;
    gss_buffer_desc user_buffer = {identity.user_name.size(),
                                   const_cast<char*>(identity.user_name.data())};
    major = gss_import_name(&minor, &user_buffer, GSS_C_NT_USER_NAME, &user);
    if (GSS_ERROR(major)) return GssError("import the user name", major, minor, mech_);
    gss_buffer_desc password = {identity.password.size(),
                                const_cast<std::uint8_t*>(identity.password.data())};
    major = gss_acquire_cred_with_password(&minor, user, &password, GSS_C_INDEFINITE, &mechs,
                                           GSS_C_INITIATE, &credential_, nullptr, nullptr);
    OM_uint32 ignored = 0;
    gss_release_name(&ignored, &user);
    if (GSS_ERROR(major)) {
      return GssError("acquire credentials with the password", major, minor, mech_);
    }
    return RestrictToNtlm(identity);
  }

  Status RestrictToNtlm(const NegotiateIdentity& identity) {
    if (!identity.ntlm_only || mech_ != &kSpnegoOid) return Status::Ok();
    gss_OID_set_desc ntlm = {1, &kNtlmOid};
    OM_uint32 minor = 0;
    const OM_uint32 major = gss_set_neg_mechs(&minor, credential_, &ntlm);
    if (GSS_ERROR(major)) return GssError("limit SPNEGO to NTLM", major, minor, mech_);
    return Status::Ok();
  }

  Result<std::vector<std::uint8_t>> Step(std::span<const std::uint8_t> server_token) override {
    OM_uint32 minor = 0;
    gss_buffer_desc input = {server_token.size(), const_cast<std::uint8_t*>(server_token.data())};
    gss_buffer_desc output = GSS_C_EMPTY_BUFFER;
    const OM_uint32 major = gss_init_sec_context(
        &minor, credential_, &context_, target_, mech_, GSS_C_MUTUAL_FLAG | GSS_C_SEQUENCE_FLAG, 0,
        GSS_C_NO_CHANNEL_BINDINGS, server_token.empty() ? GSS_C_NO_BUFFER : &input, nullptr,
        &output, nullptr, nullptr);
    std::vector<std::uint8_t> token(static_cast<const std::uint8_t*>(output.value),
                                    static_cast<const std::uint8_t*>(output.value) + output.length);
    OM_uint32 ignored = 0;
    gss_release_buffer(&ignored, &output);
    if (GSS_ERROR(major)) {
      Status error = GssError("the security context failed", major, minor, mech_);
      // SPNEGO hides the reason ("failed to negotiate a mechanism"): ask
      // Kerberos itself, which says "preauthentication failed", "client
      // not found", "clock skew too great" or "no credentials".
      if (std::string why = Diagnose(); !why.empty()) return Status(error.code(), why);
      return error;
    }
    complete_ = major == GSS_S_COMPLETE;
    return token;
  }

  std::string Diagnose() override {
    if (mech_ != &kSpnegoOid || identity_.ntlm_only) return {};
    std::string why = KerberosDiagnosis();
    if (why.empty()) return {};
    if (why.find("Decrypt integrity check failed") != std::string::npos ||
        why.find("Preauthentication failed") != std::string::npos) {
      why += " - the password is wrong";
    }
    return "Kerberos: " + why;
  }

  // The error Kerberos alone gives for this identity and target; "" if it
  // would have worked (then SPNEGO's own message stands).
  std::string KerberosDiagnosis() {
    GssNegotiate krb5(&kKrb5Oid, "Kerberos");
    NegotiateIdentity copy;
    copy.implicit = identity_.implicit;
    copy.user_name = identity_.user_name;
    copy.password = SecretBuffer(identity_.password.data(), identity_.password.size());
    copy.credential_cache = identity_.credential_cache;
    Status init = krb5.InitWithTarget(target_, copy);
    if (!init.ok()) return init.message();
    auto token = krb5.Step({});
    return token.ok() ? std::string() : token.status().message();
  }

  Status InitWithTarget(gss_name_t target, const NegotiateIdentity& identity) {
    OM_uint32 minor = 0;
    const OM_uint32 major = gss_duplicate_name(&minor, target, &target_);
    if (GSS_ERROR(major)) return GssError("copy the service name", major, minor, mech_);
    return AcquireCredentials(identity);
  }

  bool complete() const override { return complete_; }

 private:
  gss_OID mech_;
  const char* mech_name_;
  gss_name_t target_ = GSS_C_NO_NAME;
  gss_cred_id_t credential_ = GSS_C_NO_CREDENTIAL;
  gss_ctx_id_t context_ = GSS_C_NO_CONTEXT;
  bool complete_ = false;
  NegotiateIdentity identity_;
};

}  // namespace

Result<std::unique_ptr<NegotiateContext>> StartNegotiate(NegotiateMechanism mechanism,
                                                         const std::string& host,
                                                         const NegotiateIdentity& identity) {
  auto context = std::make_unique<GssNegotiate>(
      mechanism == NegotiateMechanism::kSpnego ? &kSpnegoOid : &kNtlmOid,
      mechanism == NegotiateMechanism::kSpnego ? "Negotiate" : "NTLM");
  OPENBITS_RETURN_IF_ERROR(context->Init(host, identity));
  return std::unique_ptr<NegotiateContext>(std::move(context));
}

}  // namespace openbits::platform
