// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "daemon/server.h"

#include <algorithm>
#include <deque>
#include <string>
#include <sys/socket.h>
#include <sys/types.h>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "platform/secret_buffer.h"
#include "platform/system.h"

namespace openbits::daemon {

namespace asio = boost::asio;
using asio::local::stream_protocol;

namespace {

// The connecting process's identity, from the kernel.
bool PeerOf(stream_protocol::socket& socket, engine::Caller* caller) {
#if defined(SO_PEERCRED)
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return false;
  }
  caller->user = std::to_string(cred.uid);
  caller->is_admin = cred.uid == 0;
  return true;
#else
  uid_t uid = 0;
  gid_t gid = 0;
  if (::getpeereid(socket.native_handle(), &uid, &gid) != 0) return false;
  caller->user = std::to_string(uid);
  caller->is_admin = uid == 0;
  return true;
#endif
}

}  // namespace

// One connection. Requests are read one at a time; replies and pushed
// events go through one write queue, so a "job.event" from the engine's
// notification thread never interleaves with a reply.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, stream_protocol::socket socket, engine::Caller caller)
      : server_(server),
        socket_(std::move(socket)),
        caller_(std::move(caller)),
        buffer_(kMaxRequestBytes + 1) {}

  void Start() {
    pusher_ = std::make_shared<SessionPusher>(weak_from_this(), socket_.get_executor());
    ReadRequest();
  }
  void Close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  // Queues `line` (without newline) for writing; REQUIRES: on the io thread.
  void Send(std::string line) {
    if (closed_) return;
    if (outbox_.size() >= kMaxQueuedMessages) {
      End();  // a client that never reads must not grow our memory forever
      return;
    }
    line += '\n';
    outbox_.push_back(std::move(line));
    if (writing_ == 0) WriteNext();
  }

 private:
  static constexpr std::size_t kMaxQueuedMessages = 10000;
  static constexpr std::size_t kTrimAfterBytes = 1 << 20;
  static constexpr std::size_t kMaxGatheredMessages = 256;

  class SessionPusher final : public Pusher {
   public:
    SessionPusher(std::weak_ptr<Session> session, stream_protocol::socket::executor_type executor)
        : session_(std::move(session)), executor_(std::move(executor)) {}
    void Push(std::string line) override {
      asio::post(executor_, [weak = session_, line = std::move(line)]() mutable {
        if (auto session = weak.lock()) session->Send(std::move(line));
      });
    }

   private:
    std::weak_ptr<Session> session_;
    stream_protocol::socket::executor_type executor_;
  };

  void ReadRequest() {
    asio::async_read_until(socket_, buffer_, '\n',
                           [self = shared_from_this()](const boost::system::error_code& ec,
                                                       std::size_t n) { self->OnRequest(ec, n); });
  }

  void OnRequest(const boost::system::error_code& ec, std::size_t length) {
    if (ec == asio::error::not_found) {
      // Longer than kMaxRequestBytes without a newline: refuse and hang up.
      close_after_write_ = true;
      Send(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"request too large"}})");
      return;
    }
    if (ec) {
      End();
      return;
    }
    std::string line(asio::buffers_begin(buffer_.data()),
                     asio::buffers_begin(buffer_.data()) + static_cast<std::ptrdiff_t>(length));
    // The request may carry a password: wipe the bytes read before they
    // are handed back to the buffer's free space.
    platform::Cleanse(const_cast<void*>(asio::buffer_sequence_begin(buffer_.data())->data()),
                      length);
    buffer_.consume(length);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    bool shutdown = false;
    std::string response;
    try {
      response = server_.dispatcher_.Handle(line, caller_, &shutdown, pusher_);
    } catch (const std::exception&) {
      // Handle reports errors as JSON-RPC errors; this is the last line of
      // defence that keeps one bad request from ending the daemon.
      response =
          R"({"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error"}})";
    }
    platform::Cleanse(line);
    if (shutdown) {
      close_after_write_ = true;
      Send(std::move(response));
      asio::post(server_.io_, server_.on_shutdown_);
      return;
    }
    if (!response.empty()) Send(std::move(response));
    ReadRequest();
  }

  void WriteNext() {
    // Whatever is queued goes out in one gathered write: under a flood of
    // requests, one system call per answer would be the daemon's bottleneck.
    // The deque keeps the strings in place while more are queued behind them.
    writing_ = std::min(outbox_.size(), kMaxGatheredMessages);
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(writing_);
    for (std::size_t i = 0; i < writing_; ++i) buffers.push_back(asio::buffer(outbox_[i]));
    asio::async_write(
        socket_, buffers,
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t written) {
          self->outbox_.erase(self->outbox_.begin(),
                              self->outbox_.begin() + static_cast<std::ptrdiff_t>(self->writing_));
          self->writing_ = 0;
          // A large reply (a list of a big queue) left its tree and text in
          // freed heap; hand that back to the OS so an idle daemon stays
          // small.
          if (written >= kTrimAfterBytes) platform::ReleaseFreedMemory();
          if (ec || (self->close_after_write_ && self->outbox_.empty())) {
            self->End();
          } else if (!self->outbox_.empty()) {
            self->WriteNext();
          }
        });
  }

  void End() {
    if (closed_) return;
    closed_ = true;
    Close();
    server_.dispatcher_.DropSubscriptions(pusher_.get());
    server_.sessions_.erase(shared_from_this());
  }

  Server& server_;
  stream_protocol::socket socket_;
  engine::Caller caller_;
  asio::streambuf buffer_;
  std::deque<std::string> outbox_;
  std::size_t writing_ = 0;  // messages at the front of outbox_ being written
  std::shared_ptr<SessionPusher> pusher_;
  bool close_after_write_ = false;
  bool closed_ = false;
};

Server::Server(asio::io_context& io, int listening_fd, RpcDispatcher& dispatcher,
               std::function<void()> on_shutdown)
    : io_(io), acceptor_(io), dispatcher_(dispatcher), on_shutdown_(std::move(on_shutdown)) {
  acceptor_.assign(stream_protocol(), listening_fd);
}

void Server::Start() { Accept(); }

void Server::Accept() {
  acceptor_.async_accept(
      [this](const boost::system::error_code& ec, stream_protocol::socket socket) {
        OnAccept(ec, std::move(socket));
      });
}

void Server::OnAccept(const boost::system::error_code& ec, stream_protocol::socket socket) {
  if (stopped_) return;
  if (!ec) {
    engine::Caller caller;
    if (PeerOf(socket, &caller)) {
      auto session = std::make_shared<Session>(*this, std::move(socket), std::move(caller));
      sessions_.insert(session);
      session->Start();
    }
  }
  Accept();
}

void Server::Stop() {
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (auto& session : sessions_) session->Close();
  sessions_.clear();
}

}  // namespace openbits::daemon
