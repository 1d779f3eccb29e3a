// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "daemon/server.h"

#include <string>
#include <sys/socket.h>
#include <sys/types.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "platform/secret_buffer.h"

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

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, stream_protocol::socket socket, engine::Caller caller)
      : server_(server),
        socket_(std::move(socket)),
        caller_(std::move(caller)),
        buffer_(kMaxRequestBytes + 1) {}

  void Start() { ReadRequest(); }
  void Close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 private:
  void ReadRequest() {
    asio::async_read_until(socket_, buffer_, '\n',
                           [self = shared_from_this()](const boost::system::error_code& ec,
                                                       std::size_t n) { self->OnRequest(ec, n); });
  }

  void OnRequest(const boost::system::error_code& ec, std::size_t length) {
    if (ec == asio::error::not_found) {
      // Longer than kMaxRequestBytes without a newline: refuse and hang up.
      Reply(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"request too large"}})",
            /*then_close=*/true);
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
    std::string response = server_.dispatcher_.Handle(line, caller_, &shutdown);
    platform::Cleanse(line);
    if (shutdown) {
      Reply(response, /*then_close=*/true);
      asio::post(server_.io_, server_.on_shutdown_);
      return;
    }
    if (response.empty()) {
      ReadRequest();  // a notification
      return;
    }
    Reply(response, /*then_close=*/false);
  }

  void Reply(std::string response, bool then_close) {
    reply_ = std::move(response);
    reply_ += '\n';
    asio::async_write(
        socket_, asio::buffer(reply_),
        [self = shared_from_this(), then_close](const boost::system::error_code& ec, std::size_t) {
          if (ec || then_close) {
            self->End();
          } else {
            self->ReadRequest();
          }
        });
  }

  void End() {
    Close();
    server_.sessions_.erase(shared_from_this());
  }

  Server& server_;
  stream_protocol::socket socket_;
  engine::Caller caller_;
  asio::streambuf buffer_;
  std::string reply_;
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
