// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "auth/credentials.h"

#include <cstring>

#include "openbits/hresult.h"

namespace openbits::auth {
namespace {

std::string_view TargetWord(AuthTarget target) {
  return target == AuthTarget::kServer ? "server" : "proxy";
}

std::string_view SchemeWord(AuthScheme scheme) {
  switch (scheme) {
    case AuthScheme::kBasic:
      return "basic";
    case AuthScheme::kDigest:
      return "digest";
    case AuthScheme::kNtlm:
      return "ntlm";
    case AuthScheme::kNegotiate:
      return "negotiate";
    case AuthScheme::kPassport:
      return "passport";
  }
  return "";
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `in` into a secret buffer; malformed escapes stay as is.
platform::SecretBuffer PercentDecode(std::string_view in) {
  platform::SecretBuffer out(in.size());
  std::size_t n = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && HexValue(in[i + 1]) >= 0 && HexValue(in[i + 2]) >= 0) {
      out.data()[n++] = static_cast<std::uint8_t>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2]));
      i += 2;
    } else {
      out.data()[n++] = static_cast<std::uint8_t>(in[i]);
    }
  }
  out.Truncate(n);
  return out;
}

}  // namespace

std::string CredentialPurpose(AuthTarget target, AuthScheme scheme) {
  std::string out = "credential/";
  out += TargetWord(target);
  out += '/';
  out += SchemeWord(scheme);
  return out;
}

bool ParseCredentialPurpose(std::string_view purpose, CredentialSlot* slot) {
  for (AuthTarget t : {AuthTarget::kServer, AuthTarget::kProxy}) {
    for (AuthScheme s : {AuthScheme::kBasic, AuthScheme::kDigest, AuthScheme::kNtlm,
                         AuthScheme::kNegotiate, AuthScheme::kPassport}) {
      if (purpose == CredentialPurpose(t, s)) {
        *slot = CredentialSlot{t, s};
        return true;
      }
    }
  }
  return false;
}

std::string UrlPasswordPurpose(std::uint32_t index) {
  return "url-password/" + std::to_string(index);
}

Status ValidateCredentials(AuthTarget target, AuthScheme scheme, bool implicit,
                           std::string_view user_name, std::string_view password) {
  if (target != AuthTarget::kServer && target != AuthTarget::kProxy) {
    return Status(kBgEInvalidAuthTarget, "the authentication target must be SERVER or PROXY");
  }
  switch (scheme) {
    case AuthScheme::kBasic:
    case AuthScheme::kDigest:
    case AuthScheme::kNtlm:
    case AuthScheme::kNegotiate:
      break;
    case AuthScheme::kPassport:
      return Status(kENotImpl,
                    "Passport authentication is not supported: Microsoft retired the service "
                    "and no server offers it (docs/compatibility.md)");
    default:
      return Status(kBgEInvalidAuthScheme,
                    "the authentication scheme must be BASIC, DIGEST, NTLM or NEGOTIATE");
  }
  if (implicit) {
    if (scheme == AuthScheme::kBasic || scheme == AuthScheme::kDigest) {
      return Status(kEInvalidArg,
                    "implicit (NULL) credentials exist only for NTLM and NEGOTIATE; BASIC and "
                    "DIGEST need a user name and password");
    }
    return Status::Ok();
  }
  if (user_name.empty()) return Status(kEInvalidArg, "the user name is empty");
  if (user_name.size() > kMaxUserNameLength) {
    return Status(kBgEUsernameTooLarge, "the user name is longer than 300 characters");
  }
  if (password.size() > kMaxPasswordLength) {
    return Status(kBgEPasswordTooLarge, "the password is longer than 65536 characters");
  }
  if (user_name.find('\0') != std::string_view::npos ||
      password.find('\0') != std::string_view::npos) {
    return Status(kEInvalidArg, "the user name or password contains a NUL character");
  }
  if (scheme == AuthScheme::kBasic && user_name.find(':') != std::string_view::npos) {
    return Status(kEInvalidArg, "a Basic user name cannot contain ':' (RFC 7617)");
  }
  return Status::Ok();
}

platform::SecretBuffer EncodeCredential(bool implicit, std::string_view user_name,
                                        std::string_view password) {
  if (implicit) user_name = password = {};
  platform::SecretBuffer out(5 + user_name.size() + password.size());
  std::uint8_t* p = out.data();
  p[0] = implicit ? 0 : 1;
  const auto n = static_cast<std::uint32_t>(user_name.size());
  p[1] = static_cast<std::uint8_t>(n >> 24);
  p[2] = static_cast<std::uint8_t>(n >> 16);
  p[3] = static_cast<std::uint8_t>(n >> 8);
  p[4] = static_cast<std::uint8_t>(n);
  if (!user_name.empty()) std::memcpy(p + 5, user_name.data(), user_name.size());
  if (!password.empty()) std::memcpy(p + 5 + user_name.size(), password.data(), password.size());
  return out;
}

Result<Credential> DecodeCredential(const platform::SecretBuffer& plain) {
  const std::uint8_t* p = plain.data();
  if (plain.size() < 5 || p[0] > 1) return Status(kNteBadData, "not an encoded credential");
  const std::size_t n = (std::size_t{p[1]} << 24) | (std::size_t{p[2]} << 16) |
                        (std::size_t{p[3]} << 8) | std::size_t{p[4]};
  if (n > plain.size() - 5) return Status(kNteBadData, "not an encoded credential");
  Credential c;
  c.implicit = p[0] == 0;
  c.user_name = platform::SecretBuffer(p + 5, n);
  c.password = platform::SecretBuffer(p + 5 + n, plain.size() - 5 - n);
  return c;
}

Result<UrlUserInfo> SplitUserInfo(std::string_view url) {
  UrlUserInfo out;
  out.redacted_url = out.bare_url = std::string(url);
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return out;
  const std::size_t authority_start = scheme_end + 3;
  const std::size_t authority_end = url.find_first_of("/?#", authority_start);
  const std::string_view authority = url.substr(
      authority_start, authority_end == std::string_view::npos ? std::string_view::npos
                                                               : authority_end - authority_start);
  const auto at = authority.rfind('@');
  if (at == std::string_view::npos) return out;
  if (authority.find('@') != at) {
    return Status(kEInvalidArg,
                  "the URL's user information contains an unencoded '@' (write it as %40)");
  }
  const std::string_view userinfo = authority.substr(0, at);
  const auto colon = userinfo.find(':');
  const std::string_view user = userinfo.substr(0, colon);
  out.user_name = std::string(PercentDecode(user).view());
  const std::string prefix(url.substr(0, authority_start));
  const std::string rest(url.substr(authority_start + at + 1));
  out.bare_url = prefix + rest;
  if (colon != std::string_view::npos) {
    out.has_password = true;
    out.password = PercentDecode(userinfo.substr(colon + 1));
    out.redacted_url = prefix + std::string(user) + ":****@" + rest;
  }
  return out;
}

}  // namespace openbits::auth
