// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/proxy_discovery.h"

#include <boost/asio/post.hpp>
#include <curl/curl.h>

#include "openbits/hresult.h"

#include "platform/c_handles.h"

namespace openbits::engine {

namespace asio = boost::asio;

namespace {

constexpr auto kCacheLifetime = std::chrono::minutes(5);

}  // namespace

Result<DiscoveredRoute> FirstUsableRoute(const std::vector<std::string>& proxies) {
  for (const std::string& p : proxies) {
    if (p == "direct://") return DiscoveredRoute{};
    // PAC's "SOCKS host:port" is SOCKS4, as in the browsers PAC came from.
    if (p.rfind("socks://", 0) == 0) return DiscoveredRoute{false, "socks4://" + p.substr(8)};
    for (const char* scheme : {"http://", "https://", "socks4://", "socks4a://", "socks5://"}) {
      if (p.rfind(scheme, 0) == 0 && p.size() > std::char_traits<char>::length(scheme)) {
        return DiscoveredRoute{false, p};
      }
    }
  }
  std::string listed;
  for (const std::string& p : proxies) listed += (listed.empty() ? "" : " ") + p;
  return Status(kWinHttpAutoProxyServiceError,
                "proxy discovery named no proxy openbits can use: " + listed);
}

Result<UrlOrigin> ParseOrigin(const std::string& url) {
  CPtr<CURLU> u(curl_url());
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return Status(kEInvalidArg, "malformed URL");
  }
  auto part = [&](CURLUPart which, unsigned flags) -> std::string {
    char* raw = nullptr;
    if (curl_url_get(u.get(), which, &raw, flags) != CURLUE_OK) return {};
    std::string out(raw);
    curl_free(raw);
    return out;
  };
  UrlOrigin origin{part(CURLUPART_SCHEME, 0), part(CURLUPART_HOST, 0),
                   part(CURLUPART_PORT, CURLU_DEFAULT_PORT)};
  if (origin.scheme.empty() || origin.host.empty() || origin.port.empty()) {
    return Status(kEInvalidArg, "malformed URL");
  }
  return origin;
}

std::string FormatOrigin(const UrlOrigin& origin) {
  return origin.scheme + "://" + origin.host + ":" + origin.port + "/";
}

Result<UrlOrigin> LastOrigin::Of(const std::string& url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return ParseOrigin(url);
  const std::string_view prefix =
      std::string_view(url).substr(0, url.find_first_of("/?#", scheme_end + 3));
  if (!prefix_.empty() && prefix_ == prefix) return origin_;
  auto origin = ParseOrigin(url);
  prefix_.clear();
  if (!origin.ok()) return origin;
  origin_ = *origin;
  prefix_ = std::string(prefix);
  return origin;
}

ProxyDiscovery::ProxyDiscovery(asio::io_context& io, std::string autoconfig_url,
                               std::chrono::milliseconds timeout)
    : io_(io),
      timeout_(timeout),
      configured_(platform::NewProxyResolver(platform::ProxyDiscovery::kConfigured, "")),
      autodetect_(platform::NewProxyResolver(platform::ProxyDiscovery::kAutodetect,
                                             std::move(autoconfig_url))) {}

ProxyDiscovery::~ProxyDiscovery() {
  configured_->Cancel();
  autodetect_->Cancel();
  worker_.join();
}

bool ProxyDiscovery::Handles(ProxyUsage usage) {
  return platform::ProxyResolutionAvailable() &&
         (usage == ProxyUsage::kPreconfig || usage == ProxyUsage::kAutodetect);
}

void ProxyDiscovery::Lookup(ProxyUsage usage, const std::string& url, Callback done) {
  const Result<UrlOrigin> parsed = last_origin_.Of(url);
  if (!parsed.ok()) {
    asio::post(io_, [done = std::move(done), url] {
      done(Status(kEInvalidArg, "the remote URL is malformed: " + url));
    });
    return;
  }
  const std::string origin = FormatOrigin(*parsed);
  const std::string key = std::to_string(static_cast<int>(usage)) + " " + origin;
  const auto now = std::chrono::steady_clock::now();
  if (auto it = cache_->find(key); it != cache_->end()) {
    if (it->second.expires > now) {
      asio::post(io_, [done = std::move(done), route = it->second.route] { done(route); });
      return;
    }
    cache_->erase(it);
  }
  auto [waiting, first] = waiting_->try_emplace(key);
  waiting->second.push_back(std::move(done));
  if (!first) return;  // answered with the lookup already asked
  platform::ProxyResolver* resolver =
      usage == ProxyUsage::kAutodetect ? autodetect_.get() : configured_.get();
  asio::post(worker_, [this, resolver, origin, key]() mutable {
    auto proxies = resolver->ProxiesFor(origin, timeout_);
    Result<DiscoveredRoute> route =
        proxies.ok() ? FirstUsableRoute(*proxies) : Result<DiscoveredRoute>(proxies.status());
    asio::post(io_, [cache = cache_, waiting = waiting_, key, route = std::move(route)] {
      if (route.ok()) {
        (*cache)[key] = Cached{*route, std::chrono::steady_clock::now() + kCacheLifetime};
      }
      auto it = waiting->find(key);
      if (it == waiting->end()) return;
      std::vector<Callback> callbacks = std::move(it->second);
      waiting->erase(it);
      for (Callback& callback : callbacks) callback(route);
    });
  });
}

void ProxyDiscovery::Prepare(ProxyUsage usage) {
  if (!Handles(usage)) return;
  const bool autodetect = usage == ProxyUsage::kAutodetect;
  bool& prepared = prepared_[autodetect ? 1 : 0];
  if (prepared) return;
  prepared = true;
  platform::ProxyResolver* resolver = autodetect ? autodetect_.get() : configured_.get();
  asio::post(worker_, [resolver] { resolver->Prepare(); });
}

}  // namespace openbits::engine
