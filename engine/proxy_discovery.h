// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// ProxyDiscovery: the route of a request under PRECONFIG (the platform's
// configuration through libproxy, where the build has it) and AUTODETECT
// (WPAD, or the PAC script named in openbits.conf). A lookup may fetch and
// run a PAC script, so it runs on a worker thread and answers on the io
// thread. Answers are kept per origin for five minutes: PAC scripts are
// given the origin only ("https://host:port/"), never a path or user
// information, as browsers do for https.

#ifndef OPENBITS_ENGINE_PROXY_DISCOVERY_H_
#define OPENBITS_ENGINE_PROXY_DISCOVERY_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "openbits/status.h"
#include "openbits/types.h"

#include "platform/proxy_resolver.h"

namespace openbits::engine {

struct DiscoveredRoute {
  bool direct = true;
  std::string proxy_url;  // when !direct: "http://host:port", "socks5://host:port", ...
};

// The first route of a resolver's answer that libcurl can use;
// ERROR_WINHTTP_AUTO_PROXY_SERVICE_ERROR when there is none.
Result<DiscoveredRoute> FirstUsableRoute(const std::vector<std::string>& proxies);

// The scheme, host and port (defaulted from the scheme) of `url` as
// libcurl parses them; kEInvalidArg if it does not parse.
struct UrlOrigin {
  std::string scheme;
  std::string host;
  std::string port;
};
Result<UrlOrigin> ParseOrigin(const std::string& url);

// "scheme://host:port/": all of a URL that a PAC script is given.
std::string FormatOrigin(const UrlOrigin& origin);

// ParseOrigin that remembers its last answer: a job's files mostly share
// one origin, and curl's parser was a visible share of the engine thread's
// work per small file. Not thread-safe.
class LastOrigin {
 public:
  Result<UrlOrigin> Of(const std::string& url);

 private:
  std::string prefix_;  // the URL text before the path the answer is for
  UrlOrigin origin_;
};

class ProxyDiscovery {
 public:
  ProxyDiscovery(boost::asio::io_context& io, std::string autoconfig_url,
                 std::chrono::milliseconds timeout);
  ProxyDiscovery(const ProxyDiscovery&) = delete;
  ProxyDiscovery& operator=(const ProxyDiscovery&) = delete;
  // Cancels lookups in flight and waits for the worker.
  ~ProxyDiscovery();

  // Whether requests of a job with `usage` are routed by a lookup.
  static bool Handles(ProxyUsage usage);

  using Callback = std::function<void(Result<DiscoveredRoute>)>;

  // Finds the route for `url` under `usage` (PRECONFIG or AUTODETECT) and
  // calls `done` on the io thread, never from inside this call. Call on the
  // io thread.
  void Lookup(ProxyUsage usage, const std::string& url, Callback done);

  // Starts the resolver for `usage` in the background, once, so that a job
  // about to run does not wait for it to load. Call on the io thread.
  void Prepare(ProxyUsage usage);

 private:
  struct Cached {
    DiscoveredRoute route;
    std::chrono::steady_clock::time_point expires;
  };

  boost::asio::io_context& io_;
  const std::chrono::milliseconds timeout_;
  std::unique_ptr<platform::ProxyResolver> configured_;
  std::unique_ptr<platform::ProxyResolver> autodetect_;
  // io thread only; shared with answers still queued there when this
  // object is destroyed.
  std::shared_ptr<std::map<std::string, Cached>> cache_ =
      std::make_shared<std::map<std::string, Cached>>();
  // Lookups waiting for the answer to one already asked (io thread only):
  // the files of a job start together and share an origin.
  std::shared_ptr<std::map<std::string, std::vector<Callback>>> waiting_ =
      std::make_shared<std::map<std::string, std::vector<Callback>>>();
  bool prepared_[2] = {false, false};
  LastOrigin last_origin_;  // io thread only
  boost::asio::thread_pool worker_{1};
};

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_PROXY_DISCOVERY_H_
