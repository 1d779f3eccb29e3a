// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/proxy_tunnel.h"

#include <algorithm>
#include <cctype>
#include <istream>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include "engine/http_response.h"

namespace openbits::engine {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// A 407 page is a few hundred bytes; more is not a proxy talking HTTP.
constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
constexpr std::size_t kMaxBodyBytes = 1024 * 1024;
// NTLM takes three legs, SPNEGO with NTLMSSP the same; more is a loop.
constexpr int kMaxLegs = 4;

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::shared_ptr<ProxyTunnel> ProxyTunnel::Open(asio::io_context& io, const std::string& proxy_host,
                                               int proxy_port, const std::string& authority,
                                               std::chrono::seconds timeout, Answer answer,
                                               Done done) {
  std::shared_ptr<ProxyTunnel> t(
      new ProxyTunnel(io, proxy_host, proxy_port, authority, std::move(answer), std::move(done)));
  std::weak_ptr<ProxyTunnel> weak = t;
  t->deadline_.expires_after(timeout);
  t->deadline_.async_wait([weak](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) {
      self->Finish(Outcome{std::nullopt, 0, "the proxy did not open the tunnel in time"});
    }
  });
  t->Connect();
  return t;
}

ProxyTunnel::ProxyTunnel(asio::io_context& io, std::string proxy_host, int proxy_port,
                         std::string authority, Answer answer, Done done)
    : resolver_(io),
      socket_(io),
      deadline_(io),
      response_(kMaxHeaderBytes),
      authority_(std::move(authority)),
      proxy_host_(std::move(proxy_host)),
      proxy_port_(proxy_port),
      answer_(std::move(answer)),
      done_(std::move(done)) {}

void ProxyTunnel::Connect() {
  resolver_.async_resolve(proxy_host_, std::to_string(proxy_port_),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      const tcp::resolver::results_type& results) {
                            self->OnResolved(ec, results);
                          });
}

void ProxyTunnel::Cancel() {
  finished_ = true;
  done_ = nullptr;
  answer_ = nullptr;
  resolver_.cancel();
  deadline_.cancel();
  boost::system::error_code ignored;
  socket_.close(ignored);
}

void ProxyTunnel::OnResolved(const boost::system::error_code& ec,
                             const tcp::resolver::results_type& results) {
  if (finished_) return;
  if (ec) {
    Finish(
        Outcome{std::nullopt, 0, "cannot resolve the proxy " + proxy_host_ + ": " + ec.message()});
    return;
  }
  asio::async_connect(
      socket_, results,
      [self = shared_from_this()](const boost::system::error_code& error, const tcp::endpoint&) {
        self->OnConnected(error);
      });
}

void ProxyTunnel::OnConnected(const boost::system::error_code& ec) {
  if (finished_) return;
  if (ec) {
    Finish(Outcome{std::nullopt, 0, "cannot connect to the proxy: " + ec.message()});
    return;
  }
  SendConnect();
}

void ProxyTunnel::SendConnect() {
  request_ = "CONNECT " + authority_ + " HTTP/1.1\r\nHost: " + authority_ +
             "\r\nProxy-Connection: Keep-Alive\r\n";
  if (!authorization_.empty()) request_ += "Proxy-Authorization: " + authorization_ + "\r\n";
  request_ += "\r\n";
  asio::async_write(socket_, asio::buffer(request_),
                    [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                      self->OnSent(ec);
                    });
}

void ProxyTunnel::OnSent(const boost::system::error_code& ec) {
  if (finished_) return;
  if (ec) {
    Finish(Outcome{std::nullopt, 0, "cannot write to the proxy: " + ec.message()});
    return;
  }
  asio::async_read_until(
      socket_, response_, "\r\n\r\n",
      [self = shared_from_this()](const boost::system::error_code& error, std::size_t size) {
        self->OnHeaders(error, size);
      });
}

void ProxyTunnel::OnHeaders(const boost::system::error_code& ec, std::size_t size) {
  if (finished_) return;
  if (ec) {
    Finish(Outcome{std::nullopt, 0,
                   ec == asio::error::not_found
                       ? "the proxy's answer to CONNECT is too long"
                       : "the proxy closed the connection: " + ec.message()});
    return;
  }
  std::string head(asio::buffers_begin(response_.data()),
                   asio::buffers_begin(response_.data()) + static_cast<std::ptrdiff_t>(size));
  response_.consume(size);
  ResponseHeaders headers;
  proxy_closes_ = false;
  std::size_t start = 0;
  while (start < head.size()) {
    std::size_t end = head.find("\r\n", start);
    if (end == std::string::npos) end = head.size();
    const std::string_view line(head.data() + start, end - start);
    start = end + 2;
    if (line.empty()) break;
    headers.OnHeaderLine(std::string(line) + "\r\n");
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = Trim(line.substr(0, colon));
    if ((EqualsIgnoringCase(name, "Connection") || EqualsIgnoringCase(name, "Proxy-Connection")) &&
        EqualsIgnoringCase(Trim(line.substr(colon + 1)), "close")) {
      proxy_closes_ = true;
    }
  }
  const int status = headers.status();
  if (status / 100 == 2) {
    // Whatever the proxy sent past its headers belongs to the tunnel; a
    // proxy sends nothing before the client speaks TLS.
    if (response_.size() != 0) {
      Finish(Outcome{std::nullopt, status, "the proxy sent data before the tunnel was used"});
      return;
    }
    deadline_.cancel();
    finished_ = true;
    Done done = std::move(done_);
    done_ = nullptr;
    answer_ = nullptr;
    done(Outcome{std::move(socket_), status, ""});
    return;
  }
  if (status != 407 || headers.proxy_authenticate().empty() || !answer_) {
    Finish(Outcome{std::nullopt, status, ""});
    return;
  }
  challenges_ = headers.proxy_authenticate();
  const std::uint64_t body = headers.content_length().value_or(0);
  if (body > kMaxBodyBytes) {
    Finish(Outcome{std::nullopt, status, "the proxy's 407 page is too long"});
    return;
  }
  // The 407 page is read and dropped: the next leg goes on this connection.
  const std::size_t buffered = std::min<std::size_t>(response_.size(), body);
  response_.consume(buffered);
  const std::size_t missing = static_cast<std::size_t>(body) - buffered;
  if (missing == 0) {
    OnBodyDrained({});
    return;
  }
  asio::async_read(
      socket_, response_, asio::transfer_exactly(missing),
      [self = shared_from_this(), missing](const boost::system::error_code& error, std::size_t) {
        self->response_.consume(std::min(missing, self->response_.size()));
        self->OnBodyDrained(error);
      });
}

void ProxyTunnel::OnBodyDrained(const boost::system::error_code& ec) {
  if (finished_) return;
  if (ec) {
    Finish(Outcome{std::nullopt, 407, "the proxy closed the connection: " + ec.message()});
    return;
  }
  if (++legs_ > kMaxLegs) {
    Finish(Outcome{std::nullopt, 407, "too many authentication round trips"});
    return;
  }
  Result<std::string> authorization = answer_(challenges_);
  if (!authorization.ok()) {
    Finish(Outcome{std::nullopt, 407, authorization.status().message()});
    return;
  }
  if (authorization->empty()) {
    Finish(Outcome{std::nullopt, 407, ""});  // nothing to answer with
    return;
  }
  authorization_ = std::move(*authorization);
  if (!proxy_closes_) {
    SendConnect();
    return;
  }
  // A proxy that closes after its 407 gets the answer on a new connection
  // (enough for Kerberos; a connection-bound scheme fails there, as it
  // would in any client).
  boost::system::error_code ignored;
  socket_.close(ignored);
  response_.consume(response_.size());
  Connect();
}

void ProxyTunnel::Finish(Outcome outcome) {
  if (finished_) return;
  finished_ = true;
  deadline_.cancel();
  resolver_.cancel();
  boost::system::error_code ignored;
  socket_.close(ignored);
  Done done = std::move(done_);
  done_ = nullptr;
  answer_ = nullptr;
  if (done) done(std::move(outcome));
}

}  // namespace openbits::engine
