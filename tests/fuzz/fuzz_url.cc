// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// What users type: URLs with user information, custom headers, proxy and
// bypass lists, and credential arguments.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "auth/credentials.h"
#include "auth/proxy_settings.h"
#include "auth/request_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto split = openbits::auth::SplitUserInfo(text); split.ok() && split->has_password) {
    // The kept URL's authority shows "****" where the password was.
    const std::string& kept = split->redacted_url;
    const std::size_t start = kept.find("://") + 3;
    const std::string authority = kept.substr(start, kept.find_first_of("/?#", start) - start);
    if (authority.find(":****@") == std::string::npos) __builtin_trap();
  }
  (void)openbits::auth::RedactUrl(text);
  (void)openbits::auth::ParseCustomHeaders(text);
  const std::size_t half = size / 2;
  const auto usage = static_cast<openbits::ProxyUsage>(size % 5);
  (void)openbits::auth::ValidateProxySettings(usage, text.substr(0, half), text.substr(half));
  (void)openbits::auth::ChooseProxy(
      {openbits::ProxyUsage::kOverride, std::string(text.substr(0, half)),
       std::string(text.substr(half))},
      size % 2 ? "http" : "https", text.substr(half));
  (void)openbits::auth::ValidateCredentials(openbits::AuthTarget::kServer,
                                            static_cast<openbits::AuthScheme>(size % 7), false,
                                            text.substr(0, half), text.substr(half));
  (void)openbits::auth::DecodeCredential(openbits::platform::SecretBuffer(data, size));
  return 0;
}
