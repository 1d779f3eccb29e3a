// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "auth/proxy_settings.h"

#include <algorithm>
#include <cctype>

#include "openbits/hresult.h"

#include "platform/proxy_resolver.h"

namespace openbits::auth {
namespace {

std::vector<std::string_view> Split(std::string_view list) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < list.size()) {
    while (i < list.size() &&
           (list[i] == ',' || list[i] == ';' || list[i] == ' ' || list[i] == '\t'))
      ++i;
    std::size_t end = i;
    while (end < list.size() && list[end] != ',' && list[end] != ';' && list[end] != ' ' &&
           list[end] != '\t')
      ++end;
    if (end > i) out.push_back(list.substr(i, end - i));
    i = end;
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

struct ProxyEntry {
  std::string for_scheme;  // "" = every scheme
  std::string url;         // scheme://host:port
};

bool ValidHost(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  if (host.front() == '[') {
    return host.back() == ']' && host.size() > 2 &&
           host.find_first_not_of("0123456789abcdefABCDEF:.", 1) == host.size() - 1;
  }
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

Result<ProxyEntry> ParseEntry(std::string_view text) {
  ProxyEntry e;
  if (auto eq = text.find('='); eq != std::string_view::npos) {
    e.for_scheme = Lower(text.substr(0, eq));
    if (e.for_scheme != "http" && e.for_scheme != "https") {
      return Status(kEInvalidArg, "proxy entry " + std::string(text) +
                                      ": only http= and https= may select a scheme");
    }
    text.remove_prefix(eq + 1);
  }
  std::string proxy_scheme = "http";
  if (auto sep = text.find("://"); sep != std::string_view::npos) {
    proxy_scheme = Lower(text.substr(0, sep));
    if (proxy_scheme != "http" && proxy_scheme != "https") {
      return Status(kEInvalidArg, "proxy entry " + std::string(text) +
                                      ": a proxy is reached over http:// or https://");
    }
    text.remove_prefix(sep + 3);
  }
  if (!text.empty() && text.back() == '/') text.remove_suffix(1);
  std::string_view host = text;
  std::string port = proxy_scheme == "https" ? "443" : "80";
  const auto colon = text.rfind(':');
  if (colon != std::string_view::npos && text.find(']', colon) == std::string_view::npos) {
    host = text.substr(0, colon);
    const std::string_view p = text.substr(colon + 1);
    if (p.empty() || p.size() > 5 || !std::all_of(p.begin(), p.end(), ::isdigit) ||
        std::stoul(std::string(p)) == 0 || std::stoul(std::string(p)) > 65535) {
      return Status(kEInvalidArg, "proxy entry " + std::string(text) + ": bad port");
    }
    port = std::string(p);
  }
  if (!ValidHost(host)) {
    return Status(kEInvalidArg, "proxy entry " + std::string(text) + ": bad host name");
  }
  e.url = proxy_scheme + "://" + std::string(host) + ":" + port;
  return e;
}

bool WildcardMatch(std::string_view pattern, std::string_view host) {
  if (pattern.empty()) return false;
  if (pattern.front() == '*') {
    const std::string_view suffix = pattern.substr(1);
    return host.size() >= suffix.size() &&
           host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
  return pattern == host;
}

}  // namespace

Status ValidateProxySettings(ProxyUsage usage, std::string_view proxy_list,
                             std::string_view bypass_list) {
  switch (usage) {
    case ProxyUsage::kPreconfig:
    case ProxyUsage::kNoProxy:
    case ProxyUsage::kOverride:
      break;
    case ProxyUsage::kAutodetect:
      if (!platform::ProxyResolutionAvailable()) {
        return Status(kENotImpl,
                      "AUTODETECT (WPAD/PAC) needs libproxy, which this build does not have; "
                      "use PRECONFIG or OVERRIDE (docs/auth.md)");
      }
      break;
    default:
      return Status(kENotImpl, "unknown proxy usage");
  }
  if (proxy_list.size() > kMaxProxyListLength) {
    return Status(kBgEProxyListTooLarge, "the proxy list is longer than 32767 characters");
  }
  if (bypass_list.size() > kMaxProxyListLength) {
    return Status(kBgEProxyBypassListTooLarge,
                  "the proxy bypass list is longer than 32767 characters");
  }
  if (usage != ProxyUsage::kOverride) {
    if (!proxy_list.empty() || !bypass_list.empty()) {
      return Status(kEInvalidArg, "proxy and bypass lists are only given with OVERRIDE");
    }
    return Status::Ok();
  }
  const auto entries = Split(proxy_list);
  if (entries.empty()) return Status(kEInvalidArg, "OVERRIDE needs at least one proxy");
  for (std::string_view entry : entries) {
    auto parsed = ParseEntry(entry);
    if (!parsed.ok()) return parsed.status();
  }
  for (std::string_view entry : Split(bypass_list)) {
    std::string_view host = entry;
    if (host == "<local>") continue;
    if (host.front() == '*') host.remove_prefix(1);
    if (!host.empty() && host.front() == '.') host.remove_prefix(1);
    if (!ValidHost(host)) {
      return Status(kEInvalidArg, "bypass entry " + std::string(entry) + ": bad host name");
    }
  }
  for (char c : proxy_list) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
      return Status(kEInvalidArg, "control character in the proxy list");
    }
  }
  return Status::Ok();
}

bool BypassMatches(std::string_view bypass_list, std::string_view host) {
  const std::string h = Lower(host);
  for (std::string_view entry : Split(bypass_list)) {
    if (entry == "<local>") {
      if (h.find('.') == std::string::npos && h.find(':') == std::string::npos) return true;
      continue;
    }
    if (WildcardMatch(Lower(entry), h)) return true;
  }
  return false;
}

Result<ProxyChoice> ChooseProxy(const ProxySettings& settings, std::string_view url_scheme,
                                std::string_view host) {
  ProxyChoice choice;
  switch (settings.usage) {
    case ProxyUsage::kNoProxy:
      choice.route = ProxyChoice::Route::kDirect;
      return choice;
    case ProxyUsage::kOverride:
      break;
    default:
      choice.route = ProxyChoice::Route::kEnvironment;
      return choice;
  }
  // CURLOPT_NOPROXY for hosts reached through redirects: libcurl matches a
  // name and its subdomains, so "*.example.org" becomes "example.org";
  // "<local>" has no equivalent there and is decided here only.
  for (std::string_view entry : Split(settings.bypass_list)) {
    if (entry == "<local>") continue;
    while (!entry.empty() && (entry.front() == '*' || entry.front() == '.')) entry.remove_prefix(1);
    if (entry.empty()) continue;
    if (!choice.no_proxy.empty()) choice.no_proxy += ',';
    choice.no_proxy += Lower(entry);
  }
  if (BypassMatches(settings.bypass_list, host)) {
    choice.route = ProxyChoice::Route::kDirect;
    return choice;
  }
  const std::string scheme = Lower(url_scheme);
  for (std::string_view text : Split(settings.proxy_list)) {
    auto entry = ParseEntry(text);
    if (!entry.ok()) return Status(kBgEInvalidProxyInfo, entry.status().message());
    if (entry->for_scheme.empty() || entry->for_scheme == scheme) {
      choice.route = ProxyChoice::Route::kProxy;
      choice.proxy = entry->url;
      return choice;
    }
  }
  choice.route = ProxyChoice::Route::kDirect;  // no proxy for this scheme
  return choice;
}

}  // namespace openbits::auth
