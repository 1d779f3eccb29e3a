// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The daemon's local socket server: one session per connection, requests
// are newline-delimited JSON-RPC, the caller is identified by the kernel
// (SO_PEERCRED), never by what it claims.

#ifndef OPENBITS_DAEMON_SERVER_H_
#define OPENBITS_DAEMON_SERVER_H_

#include <functional>
#include <memory>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "daemon/rpc.h"

namespace openbits::daemon {

class Session;

class Server {
 public:
  // `listening_fd` is a bound, listening Unix stream socket; the server owns
  // it from now on. `on_shutdown` runs when a client asked to stop.
  Server(boost::asio::io_context& io, int listening_fd, RpcDispatcher& dispatcher,
         std::function<void()> on_shutdown);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void Start();
  // Stops accepting and closes every session.
  void Stop();

 private:
  friend class Session;
  void Accept();
  void OnAccept(const boost::system::error_code& ec,
                boost::asio::local::stream_protocol::socket socket);

  boost::asio::io_context& io_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  RpcDispatcher& dispatcher_;
  std::function<void()> on_shutdown_;
  std::set<std::shared_ptr<Session>> sessions_;
  bool stopped_ = false;
};

}  // namespace openbits::daemon

#endif  // OPENBITS_DAEMON_SERVER_H_
