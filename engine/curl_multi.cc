// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/curl_multi.h"

#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <sys/socket.h>
#include <utility>

#include <boost/asio/post.hpp>

namespace openbits::engine {

namespace asio = boost::asio;

constexpr int kIn = CURL_CSELECT_IN;
constexpr int kOut = CURL_CSELECT_OUT;
constexpr long kIdleConnections = 64;

struct CurlMulti::SocketWatch {
  SocketWatch(asio::io_context& io, curl_socket_t s) : fd(s), descriptor(io) {
    boost::system::error_code ec;
    descriptor.assign(s, ec);
    assigned = !ec;
  }
  curl_socket_t fd;
  asio::posix::stream_descriptor descriptor;
  bool assigned = false;
  int wanted = 0;   // kIn | kOut as curl last asked
  int pending = 0;  // directions with a wait in flight
  bool removed = false;

  void Detach() {
    removed = true;
    wanted = 0;
    if (assigned) {
      // release() cancels the waits and deregisters from epoll without
      // closing: the descriptor belongs to curl.
      (void)descriptor.release();
      assigned = false;
    }
  }
};

CurlMulti::CurlMulti(asio::io_context& io) : io_(io), timer_(io), multi_(curl_multi_init()) {
  curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETFUNCTION, &CurlMulti::OnSocket);
  curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_.get(), CURLMOPT_TIMERFUNCTION, &CurlMulti::OnTimer);
  curl_multi_setopt(multi_.get(), CURLMOPT_TIMERDATA, this);
  // Idle connections kept for reuse. curl's default follows the number of
  // transfers added at the moment, which drops each time a file ends, and
  // then closes connections the next file would have reused.
  curl_multi_setopt(multi_.get(), CURLMOPT_MAXCONNECTS, kIdleConnections);
}

CurlMulti::~CurlMulti() {
  for (auto& [easy, handler] : running_) curl_multi_remove_handle(multi_.get(), easy);
  running_.clear();
  multi_.reset();  // may call OnSocket/OnCloseSocket: the maps are still alive
  for (auto& [fd, watch] : sockets_) watch->Detach();
  sockets_.clear();
  timer_.cancel();
}

void CurlMulti::PrepareEasy(CURL* easy) {
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &CurlMulti::OnOpenSocket);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, this);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &CurlMulti::OnCloseSocket);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this);
}

curl_socket_t CurlMulti::OnOpenSocket(void* clientp, curlsocktype /*purpose*/,
                                      curl_sockaddr* address) {
  auto* self = static_cast<CurlMulti*>(clientp);
  // As curl's own, plus close-on-exec: a notification command the daemon
  // starts must not inherit connections.
  const curl_socket_t s =
      ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (s != CURL_SOCKET_BAD) self->closed_by_hook_.insert(s);
  return s;
}

void CurlMulti::Add(CURL* easy, DoneHandler on_done) {
  running_[easy] = std::move(on_done);
  CURLMcode rc = curl_multi_add_handle(multi_.get(), easy);
  if (rc != CURLM_OK) {
    auto handler = std::move(running_[easy]);
    running_.erase(easy);
    asio::post(io_, [handler = std::move(handler)] { handler(CURLE_FAILED_INIT); });
  }
  // curl_multi_add_handle sets a 0 ms timeout through OnTimer; the timer
  // handler kicks the transfer off.
}

void CurlMulti::Remove(CURL* easy) {
  if (running_.erase(easy) == 0) return;
  curl_multi_remove_handle(multi_.get(), easy);
}

int CurlMulti::OnSocket(CURL* /*easy*/, curl_socket_t s, int what, void* userp, void* /*socketp*/) {
  auto* self = static_cast<CurlMulti*>(userp);
  if (what == CURL_POLL_REMOVE) {
    if (self->closed_by_hook_.count(s) != 0) {
      self->Idle(s);
    } else {
      self->Forget(s);
    }
    return 0;
  }
  auto& slot = self->sockets_[s];
  if (!slot) slot = std::make_shared<SocketWatch>(self->io_, s);
  const std::shared_ptr<SocketWatch> watch = slot;
  watch->wanted = (what == CURL_POLL_IN ? kIn : 0) | (what == CURL_POLL_OUT ? kOut : 0) |
                  (what == CURL_POLL_INOUT ? kIn | kOut : 0);
  // Arm from outside curl's call stack: socket_action must not recurse.
  for (int direction : {kIn, kOut}) {
    if ((watch->wanted & direction) != 0 && (watch->pending & direction) == 0) {
      watch->pending |= direction;
      asio::post(self->io_, [self, watch, direction] {
        watch->pending &= ~direction;
        self->Watch(watch, direction);
      });
    }
  }
  return 0;
}

void CurlMulti::Forget(curl_socket_t s) {
  auto it = sockets_.find(s);
  if (it == sockets_.end()) return;
  it->second->Detach();
  sockets_.erase(it);
}

void CurlMulti::Idle(curl_socket_t s) {
  auto it = sockets_.find(s);
  if (it != sockets_.end()) it->second->wanted = 0;
}

int CurlMulti::OnCloseSocket(void* clientp, curl_socket_t s) {
  auto* self = static_cast<CurlMulti*>(clientp);
  self->closed_by_hook_.erase(s);
  self->Forget(s);  // deregister while the descriptor is still open
  return ::close(s);
}

void CurlMulti::Watch(const std::shared_ptr<SocketWatch>& watch, int direction) {
  if (watch->removed || !watch->assigned || (watch->wanted & direction) == 0 ||
      (watch->pending & direction) != 0) {
    return;
  }
  watch->pending |= direction;
  // Already ready? Then the edge may be gone: act without waiting for one.
  pollfd p{watch->fd, static_cast<short>(direction == kIn ? POLLIN : POLLOUT), 0};
  if (::poll(&p, 1, 0) > 0) {
    asio::post(io_, [this, watch, direction] { OnReady(watch, direction, {}); });
    return;
  }
  watch->descriptor.async_wait(direction == kIn ? asio::posix::descriptor_base::wait_read
                                                : asio::posix::descriptor_base::wait_write,
                               [this, watch, direction](const boost::system::error_code& ec) {
                                 OnReady(watch, direction, ec);
                               });
}

void CurlMulti::OnReady(const std::shared_ptr<SocketWatch>& watch, int direction,
                        const boost::system::error_code& ec) {
  watch->pending &= ~direction;
  if (watch->removed || ec == asio::error::operation_aborted) return;
  int running = 0;
  // A wait error (e.g. EPOLLERR) is reported to curl as readiness: curl then
  // reads the socket error itself.
  curl_multi_socket_action(multi_.get(), watch->fd, direction, &running);
  CheckDone();
  Watch(watch, direction);
}

int CurlMulti::OnTimer(CURLM* /*multi*/, long timeout_ms, void* userp) {
  auto* self = static_cast<CurlMulti*>(userp);
  if (timeout_ms < 0) {
    self->timer_.cancel();
    return 0;
  }
  if (timeout_ms == 0) {
    self->timer_.cancel();
    if (!self->kick_posted_) {
      self->kick_posted_ = true;
      asio::post(self->io_, [self, alive = std::weak_ptr<int>(self->alive_)] {
        if (alive.expired()) return;
        self->kick_posted_ = false;
        self->OnTimeout({});
      });
    }
    return 0;
  }
  self->timer_.expires_after(std::chrono::milliseconds(timeout_ms));
  self->timer_.async_wait([self](const boost::system::error_code& ec) { self->OnTimeout(ec); });
  return 0;
}

void CurlMulti::OnTimeout(const boost::system::error_code& ec) {
  if (ec == asio::error::operation_aborted) return;
  int running = 0;
  curl_multi_socket_action(multi_.get(), CURL_SOCKET_TIMEOUT, 0, &running);
  CheckDone();
}

void CurlMulti::CheckDone() {
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &queued)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    const CURLcode result = msg->data.result;
    auto it = running_.find(easy);
    if (it == running_.end()) continue;
    DoneHandler handler = std::move(it->second);
    running_.erase(it);
    curl_multi_remove_handle(multi_.get(), easy);
    // The handler may add or remove handles: run it after this loop's
    // curl_multi_info_read state is no longer needed.
    asio::post(io_, [handler = std::move(handler), result] { handler(result); });
  }
}

}  // namespace openbits::engine
