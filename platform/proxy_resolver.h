// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Which proxies the platform's configuration names for a URL: environment
// variables, desktop settings, a PAC script, or WPAD discovery. On Linux and
// macOS this is libproxy, run in a helper process (openbits-proxy-resolver):
// a PAC script comes from the network and is JavaScript, so it never runs
// inside the daemon, and the helper drops root before it starts. One
// implementation per OS (proxy_resolver_posix.cc).

#ifndef OPENBITS_PLATFORM_PROXY_RESOLVER_H_
#define OPENBITS_PLATFORM_PROXY_RESOLVER_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "openbits/status.h"

namespace openbits::platform {

enum class ProxyDiscovery {
  kConfigured,  // the platform's configuration (PRECONFIG)
  kAutodetect,  // WPAD, or the PAC script at `script_url` when one is given (AUTODETECT)
};

class ProxyResolver {
 public:
  virtual ~ProxyResolver() = default;

  // The proxies for `url` in the order to try them: "direct://",
  // "http://host:port", "socks4://host:port", "socks5://host:port". Blocks
  // (it may fetch and run a PAC script): never call it on the event loop.
  // Fails after `timeout` without an answer (the helper is then restarted
  // for the next call), or when the helper cannot run. Thread-safe.
  virtual Result<std::vector<std::string>> ProxiesFor(const std::string& url,
                                                      std::chrono::milliseconds timeout) = 0;

  // Starts the helper now, so that the first ProxiesFor does not wait for
  // it to load; does nothing when it runs already or cannot run (the next
  // ProxiesFor reports why). Blocks briefly: never call it on the event
  // loop. Thread-safe.
  virtual void Prepare() = 0;

  // Makes a blocked ProxiesFor, and every later one, fail at once with
  // E_ABORT (shutdown). Thread-safe.
  virtual void Cancel() = 0;
};

// Whether proxies can be resolved: the build has libproxy and the helper
// is installed ($OPENBITS_PROXY_RESOLVER, beside the executable, or in
// libexec/openbits). Decided once per process.
bool ProxyResolutionAvailable();

// A resolver for `mode`; `script_url` is used by kAutodetect only. The
// helper starts on the first call, or on Prepare().
std::unique_ptr<ProxyResolver> NewProxyResolver(ProxyDiscovery mode, std::string script_url);

}  // namespace openbits::platform

#endif  // OPENBITS_PLATFORM_PROXY_RESOLVER_H_
