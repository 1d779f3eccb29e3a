// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// SetProxySettings: validation, and which proxy a request uses.
//
// Syntax (bits-api.md §2.2): the proxy list holds entries
// `[scheme=][scheme://]host[:port]` separated by commas, semicolons or
// blanks; `scheme=` limits an entry to URLs of that scheme (http, https),
// `scheme://` is the proxy's own protocol (default http, port 80 or 443).
// The bypass list holds host names separated the same way, each may start
// with "*" ("*.example.org"), and "<local>" names every host without a dot.

#ifndef OPENBITS_AUTH_PROXY_SETTINGS_H_
#define OPENBITS_AUTH_PROXY_SETTINGS_H_

#include <string>
#include <string_view>
#include <vector>

#include "openbits/status.h"
#include "openbits/types.h"

namespace openbits::auth {

inline constexpr std::size_t kMaxProxyListLength = 32767;

// Checks SetProxySettings arguments: E_NOTIMPL for an unknown usage (and for
// AUTODETECT in a build without libproxy), E_INVALIDARG for lists given
// with a usage other than OVERRIDE, an OVERRIDE without proxies, or a
// malformed entry; BG_E_PROXY_LIST_TOO_LARGE / _BYPASS_LIST_TOO_LARGE.
Status ValidateProxySettings(ProxyUsage usage, std::string_view proxy_list,
                             std::string_view bypass_list);

// How a request reaches `host` over `url_scheme`.
struct ProxyChoice {
  enum class Route { kEnvironment, kDirect, kProxy };
  Route route = Route::kEnvironment;
  std::string proxy;     // kProxy: "http://host:port" (or https://)
  std::string no_proxy;  // the bypass list in libcurl's CURLOPT_NOPROXY form
};

// PRECONFIG and AUTODETECT give kEnvironment: the engine looks the route up
// (engine/proxy_discovery.h), or, in a build without libproxy, libcurl
// reads http_proxy, https_proxy and no_proxy. NO_PROXY goes direct,
// OVERRIDE uses the first entry for the scheme unless `host` is bypassed.
Result<ProxyChoice> ChooseProxy(const ProxySettings& settings, std::string_view url_scheme,
                                std::string_view host);

// Whether `host` matches an entry of `bypass_list`.
bool BypassMatches(std::string_view bypass_list, std::string_view host);

}  // namespace openbits::auth

#endif  // OPENBITS_AUTH_PROXY_SETTINGS_H_
