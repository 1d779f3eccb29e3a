// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// SSPI implementation of platform/negotiate.h (the Windows counterpart of
// negotiate_gssapi.cc). Explicit credentials are given to
// AcquireCredentialsHandleW as a SEC_WINNT_AUTH_IDENTITY_EXW, so the
// security package keeps them inside this credential handle and nothing
// reaches the user's logon session; implicit credentials are the calling
// thread's logon session (a service impersonates the job's owner first).
// "NTLM only" (credentials given for NTLM) limits the Negotiate package to
// NTLM through the identity's package list.
//
// Compiled with MinGW-w64 by tests/windows_compile_check.sh; it runs only
// in a Windows build, which does not exist yet (docs/compatibility.md).

#include <windows.h>
// After windows.h, which they need.
#define SECURITY_WIN32
#include <security.h>
#include <sspi.h>

#include <cstdio>
#include <string>
#include <vector>

#include "openbits/hresult.h"

#include "platform/negotiate.h"
#include "platform/windows/utf16.h"

namespace openbits::platform {
namespace {

// What the package says, in the words a user can act on.
std::string Describe(SECURITY_STATUS status) {
  switch (status) {
    case SEC_E_LOGON_DENIED:
      return "the user name or password is wrong";
    case SEC_E_NO_CREDENTIALS:
      return "no credentials are available (no ticket, or no logon session)";
    case SEC_E_TARGET_UNKNOWN:
      return "the service principal is unknown to the domain";
    case SEC_E_WRONG_PRINCIPAL:
      return "the server's principal is not the one asked for";
    case SEC_E_TIME_SKEW:
      return "the clocks of this machine and the domain controller differ too much";
    case SEC_E_NO_AUTHENTICATING_AUTHORITY:
      return "no domain controller could be reached";
    case SEC_E_INVALID_TOKEN:
      return "the peer's token is not valid";
    case SEC_E_SECPKG_NOT_FOUND:
      return "the security package is not installed";
    default:
      break;
  }
  wchar_t* text = nullptr;
  const DWORD n = FormatMessageW(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, static_cast<DWORD>(status), 0, reinterpret_cast<wchar_t*>(&text), 0, nullptr);
  std::string out = n != 0 ? Narrow(std::wstring_view(text, n)) : std::string();
  if (text != nullptr) LocalFree(text);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) {
    out.pop_back();
  }
  char code[16];
  std::snprintf(code, sizeof code, "0x%08lX", static_cast<unsigned long>(status));
  return out.empty() ? std::string("SSPI error ") + code : out + " (" + code + ")";
}

Status SspiError(const char* mechanism, const char* what, SECURITY_STATUS status) {
  HResult code = kEAccessDenied;
  if (status == SEC_E_SECPKG_NOT_FOUND) code = kENotImpl;
  return Status(code, std::string(mechanism) + ": " + what + ": " + Describe(status));
}

// UTF-16 that is wiped when it goes (the password).
class WideSecret {
 public:
  explicit WideSecret(std::string_view utf8) {
    if (utf8.empty()) return;
    const int n =
        MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), nullptr, 0);
    chars_.resize(static_cast<std::size_t>(n) + 1, L'\0');
    MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), chars_.data(), n);
  }
  ~WideSecret() {
    if (!chars_.empty()) SecureZeroMemory(chars_.data(), chars_.size() * sizeof(wchar_t));
  }
  WideSecret(const WideSecret&) = delete;
  WideSecret& operator=(const WideSecret&) = delete;

  wchar_t* data() { return chars_.empty() ? nullptr : chars_.data(); }
  unsigned long length() const {
    return chars_.empty() ? 0 : static_cast<unsigned long>(chars_.size() - 1);
  }

 private:
  std::vector<wchar_t> chars_;
};

class SspiNegotiate final : public NegotiateContext {
 public:
  explicit SspiNegotiate(NegotiateMechanism mechanism)
      : package_(mechanism == NegotiateMechanism::kNtlm ? L"NTLM" : L"Negotiate"),
        mechanism_name_(mechanism == NegotiateMechanism::kNtlm ? "NTLM" : "Negotiate") {
    SecInvalidateHandle(&credential_);
    SecInvalidateHandle(&context_);
  }
  ~SspiNegotiate() override {
    if (SecIsValidHandle(&context_)) DeleteSecurityContext(&context_);
    if (SecIsValidHandle(&credential_)) FreeCredentialsHandle(&credential_);
  }
  SspiNegotiate(const SspiNegotiate&) = delete;
  SspiNegotiate& operator=(const SspiNegotiate&) = delete;

  Status Init(const std::string& host, const NegotiateIdentity& identity) {
    PSecPkgInfoW info = nullptr;
    SECURITY_STATUS status = QuerySecurityPackageInfoW(const_cast<wchar_t*>(package_), &info);
    if (status != SEC_E_OK) return SspiError(mechanism_name_, "the security package", status);
    max_token_ = info->cbMaxToken;
    FreeContextBuffer(info);
    target_ = L"HTTP/" + Widen(host);

    // "DOMAIN\user" names the domain; "user@REALM" is a UPN, given whole.
    std::wstring user, domain;
    if (!identity.implicit) {
      const std::wstring name = Widen(identity.user_name);
      const auto slash = name.find(L'\\');
      if (slash != std::wstring::npos) {
        domain = name.substr(0, slash);
        user = name.substr(slash + 1);
      } else {
        user = name;
      }
    }
    WideSecret password(identity.implicit ? std::string_view() : identity.password.view());
    std::wstring packages = identity.ntlm_only ? L"NTLM" : L"";
    SEC_WINNT_AUTH_IDENTITY_EXW auth{};
    auth.Version = SEC_WINNT_AUTH_IDENTITY_VERSION;
    auth.Length = sizeof auth;
    auth.Flags = SEC_WINNT_AUTH_IDENTITY_UNICODE;
    if (!identity.implicit) {
      auth.User = reinterpret_cast<unsigned short*>(user.data());
      auth.UserLength = static_cast<unsigned long>(user.size());
      auth.Domain = domain.empty() ? nullptr : reinterpret_cast<unsigned short*>(domain.data());
      auth.DomainLength = static_cast<unsigned long>(domain.size());
      auth.Password = reinterpret_cast<unsigned short*>(password.data());
      auth.PasswordLength = password.length();
    }
    if (!packages.empty()) {
      auth.PackageList = reinterpret_cast<unsigned short*>(packages.data());
      auth.PackageListLength = static_cast<unsigned long>(packages.size());
    }
    const bool pass_identity = !identity.implicit || !packages.empty();
    TimeStamp expiry{};
    status = AcquireCredentialsHandleW(
        nullptr, const_cast<wchar_t*>(package_), SECPKG_CRED_OUTBOUND, nullptr,
        pass_identity ? &auth : nullptr, nullptr, nullptr, &credential_, &expiry);
    if (status != SEC_E_OK) {
      SecInvalidateHandle(&credential_);
      return SspiError(mechanism_name_,
                       identity.implicit ? "the logon session's credentials"
                                         : "acquire credentials with the password",
                       status);
    }
    return Status::Ok();
  }

  Result<std::vector<std::uint8_t>> Step(std::span<const std::uint8_t> server_token) override {
    if (complete_) return std::vector<std::uint8_t>();
    SecBuffer in_buffer{static_cast<unsigned long>(server_token.size()), SECBUFFER_TOKEN,
                        const_cast<std::uint8_t*>(server_token.data())};
    SecBufferDesc in{SECBUFFER_VERSION, 1, &in_buffer};
    std::vector<std::uint8_t> token(max_token_);
    SecBuffer out_buffer{static_cast<unsigned long>(token.size()), SECBUFFER_TOKEN, token.data()};
    SecBufferDesc out{SECBUFFER_VERSION, 1, &out_buffer};
    const bool first = !SecIsValidHandle(&context_);
    if (!first && server_token.empty()) {
      return SspiError(mechanism_name_, "continue the exchange", SEC_E_INVALID_TOKEN);
    }
    unsigned long attributes = 0;
    TimeStamp expiry{};
    SECURITY_STATUS status = InitializeSecurityContextW(
        &credential_, first ? nullptr : &context_, target_.data(),
        ISC_REQ_MUTUAL_AUTH | ISC_REQ_CONNECTION, 0, SECURITY_NATIVE_DREP,
        server_token.empty() ? nullptr : &in, 0, &context_, &out, &attributes, &expiry);
    if (status == SEC_I_COMPLETE_NEEDED || status == SEC_I_COMPLETE_AND_CONTINUE) {
      const SECURITY_STATUS completed = CompleteAuthToken(&context_, &out);
      if (completed != SEC_E_OK) {
        return SspiError(mechanism_name_, "complete the token", completed);
      }
      status = status == SEC_I_COMPLETE_NEEDED ? SEC_E_OK : SEC_I_CONTINUE_NEEDED;
    }
    if (status != SEC_E_OK && status != SEC_I_CONTINUE_NEEDED) {
      if (first) SecInvalidateHandle(&context_);
      return SspiError(mechanism_name_, first ? "start the exchange" : "continue the exchange",
                       status);
    }
    complete_ = status == SEC_E_OK;
    token.resize(out_buffer.cbBuffer);
    return token;
  }

  bool complete() const override { return complete_; }

 private:
  const wchar_t* package_;
  const char* mechanism_name_;
  std::wstring target_;
  unsigned long max_token_ = 0;
  CredHandle credential_{};
  CtxtHandle context_{};
  bool complete_ = false;
};

}  // namespace

Result<std::unique_ptr<NegotiateContext>> StartNegotiate(NegotiateMechanism mechanism,
                                                         const std::string& host,
                                                         const NegotiateIdentity& identity) {
  auto context = std::make_unique<SspiNegotiate>(mechanism);
  OPENBITS_RETURN_IF_ERROR(context->Init(host, identity));
  return std::unique_ptr<NegotiateContext>(std::move(context));
}

}  // namespace openbits::platform
