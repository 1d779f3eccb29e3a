// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// libcurl's multi_socket API driven by an Asio io_context.
//
// Follows the contract of CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION
// (and the wiring of curl's docs/examples/multi-uv.c), not the removed
// asiohiper.cpp:
// - a socket is watched for the announced events until curl says otherwise,
//   re-armed after every readiness callback;
// - Asio's reactor is edge-triggered and its async_wait never checks the
//   socket first, so before (re-)arming we poll() the descriptor once: data
//   left over by curl would otherwise never produce a new edge and the
//   transfer would stall (the bug curl issue #1191 describes);
// - the timer is one-shot; -1 cancels it; the socket callback may fire during
//   curl_multi_cleanup, so the socket table outlives the multi handle;
// - descriptors stay owned by curl: Asio only borrows them (release(), never
//   close()).
//
// All members must be used from the io_context's thread.

#ifndef OPENBITS_ENGINE_CURL_MULTI_H_
#define OPENBITS_ENGINE_CURL_MULTI_H_

#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <curl/curl.h>

#include "platform/c_handles.h"

namespace openbits::engine {

class CurlMulti {
 public:
  using DoneHandler = std::function<void(CURLcode)>;

  explicit CurlMulti(boost::asio::io_context& io);
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;
  // Removes every easy handle still running (their handlers are not called).
  ~CurlMulti();

  // Starts `easy`. `on_done` runs on the io thread once the transfer ends,
  // never from inside this call. REQUIRES: `easy` is not running.
  void Add(CURL* easy, DoneHandler on_done);

  // Stops `easy` before it ended; its handler is dropped. No-op if it is not
  // running. Must not be called from inside a curl callback.
  void Remove(CURL* easy);

  // Installs the socket hooks on `easy`: sockets are opened close-on-exec
  // and known to this object, and detached from the reactor before curl
  // closes them. Call once per easy handle, before any option of its own.
  void PrepareEasy(CURL* easy);

 private:
  struct SocketWatch;

  static int OnSocket(CURL* easy, curl_socket_t s, int what, void* userp, void* socketp);
  static int OnTimer(CURLM* multi, long timeout_ms, void* userp);
  static curl_socket_t OnOpenSocket(void* clientp, curlsocktype purpose, curl_sockaddr* address);
  static int OnCloseSocket(void* clientp, curl_socket_t s);

  void Watch(const std::shared_ptr<SocketWatch>& watch, int direction);
  void OnReady(const std::shared_ptr<SocketWatch>& watch, int direction,
               const boost::system::error_code& ec);
  void OnTimeout(const boost::system::error_code& ec);
  void Forget(curl_socket_t s);
  // curl stopped watching `s` (an idle connection): it stays registered, so
  // that reusing the connection for the next request costs no epoll_ctl.
  void Idle(curl_socket_t s);
  void CheckDone();

  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  // A 0 ms timeout (curl asks for one per added transfer) is posted, not
  // armed: re-arming the timer costs a timerfd_settime each time. The token
  // lets a posted kick see that this object is gone.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  bool kick_posted_ = false;
  std::unordered_map<curl_socket_t, std::shared_ptr<SocketWatch>> sockets_;
  // Sockets opened by OnOpenSocket: curl closes them through OnCloseSocket,
  // so their registration can outlive curl's interest. Any other socket
  // (the resolver's, a handed-over tunnel) is forgotten when curl drops it.
  std::unordered_set<curl_socket_t> closed_by_hook_;
  std::unordered_map<CURL*, DoneHandler> running_;
  CPtr<CURLM> multi_;  // last member: destroyed first, while the maps live
};

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_CURL_MULTI_H_
