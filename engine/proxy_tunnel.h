// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// ProxyTunnel: opens a CONNECT tunnel through an HTTP proxy itself, so that
// a challenge/response scheme that takes several legs on one connection
// (NTLM, SPNEGO with NTLMSSP) can answer the proxy from openbits' own
// security package, which libcurl's CONNECT gives no way to do. The
// connected socket is then handed to libcurl, which speaks TLS to the
// server through it as if it had connected directly.
//
// Runs on the io thread; every step is an asynchronous handler. One tunnel
// per request: the socket is never shared with another job.

#ifndef OPENBITS_ENGINE_PROXY_TUNNEL_H_
#define OPENBITS_ENGINE_PROXY_TUNNEL_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>

#include "openbits/status.h"

namespace openbits::engine {

class ProxyTunnel : public std::enable_shared_from_this<ProxyTunnel> {
 public:
  // The proxy's 407: its Proxy-Authenticate headers. Returns the value of
  // the next Proxy-Authorization header ("NTLM <token>"), or an error that
  // ends the tunnel (the refusal's reason).
  using Answer = std::function<Result<std::string>(const std::vector<std::string>& challenges)>;

  struct Outcome {
    // The connected tunnel, when the proxy answered 2xx; otherwise the
    // proxy's status (0: no answer; `why` says what happened).
    std::optional<boost::asio::ip::tcp::socket> socket;
    int status = 0;
    std::string why;
  };
  using Done = std::function<void(Outcome outcome)>;

  // Connects to `proxy_host`:`proxy_port` and asks for a tunnel to
  // `authority` ("host:port"). `answer` is asked for each 407 that offers a
  // challenge; `done` is called once, on the io thread, unless Cancel came
  // first.
  static std::shared_ptr<ProxyTunnel> Open(boost::asio::io_context& io,
                                           const std::string& proxy_host, int proxy_port,
                                           const std::string& authority,
                                           std::chrono::seconds timeout, Answer answer, Done done);

  // Stops every step; `done` is not called.
  void Cancel();

 private:
  ProxyTunnel(boost::asio::io_context& io, std::string proxy_host, int proxy_port,
              std::string authority, Answer answer, Done done);

  // Resolves the proxy and connects to it; then sends CONNECT with
  // `authorization_`.
  void Connect();
  void OnResolved(const boost::system::error_code& ec,
                  const boost::asio::ip::tcp::resolver::results_type& results);
  void OnConnected(const boost::system::error_code& ec);
  void SendConnect();
  void OnSent(const boost::system::error_code& ec);
  void OnHeaders(const boost::system::error_code& ec, std::size_t size);
  void OnBodyDrained(const boost::system::error_code& ec);
  void Finish(Outcome outcome);

  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer deadline_;
  boost::asio::streambuf response_;
  std::string request_;
  std::string authority_;
  std::string proxy_host_;
  int proxy_port_ = 0;
  // The Proxy-Authorization value of the next CONNECT ("" for none).
  std::string authorization_;
  Answer answer_;
  Done done_;
  // Of the 407 being read: what the next leg needs.
  std::vector<std::string> challenges_;
  bool proxy_closes_ = false;
  bool finished_ = false;
  int legs_ = 0;
};

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_PROXY_TUNNEL_H_
