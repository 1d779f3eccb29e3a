// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// A home-made HTTP/1.1 server that misbehaves on demand: the one place a
// home-made server is right (no real server resets, stalls or lies to
// order). It serves one file at any path, with ranges, ETag and
// Last-Modified, and applies its fault to the first `faulty_requests`
// requests (or to all). Faults "on resuming" cut the first request half-way
// (a reset) and then apply to the next `faulty_requests` ones. Loopback only; one thread per
// connection, all joined on destruction; every wait is bounded.

#ifndef OPENBITS_TESTS_SUPPORT_FAULT_SERVER_H_
#define OPENBITS_TESTS_SUPPORT_FAULT_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace openbits::testing {

enum class Fault {
  kNone,
  kResetMidBody,       // RST after half the body
  kStall,              // half the body, then silence until the client leaves
  kCloseEarly,         // FIN after half the body (shorter than Content-Length)
  kWrongContentRange,  // on resuming: 206 for a range starting after the one asked, with its bytes
  kEarlierContentRange,  // on resuming: 206 from 1000 bytes before the byte asked, honestly
  kIgnoreRange,          // on resuming: 200 and the whole file to a range request
  kChangeEtag,           // half the body, RST; then a new version, new ETag
  kChangeLastModified,   // the same with Last-Modified only
  kLongerBody,           // more bytes than Content-Length
  kAbsurdLength,         // Content-Length of a petabyte, then FIN
  kSlowHeaders,          // the headers one byte at a time
  kEndlessHeaders,       // header lines, one byte every 50 ms, for ever
  kEndlessRedirect,      // 302 to a new URL, forever
  kRedirectLoop,         // 302 /a -> /b -> /a
  kGzip,                 // Content-Encoding: gzip though identity was asked
  k503,                  // 503 Service Unavailable
  k503RetryAfter,        // 503 with Retry-After: retry_after_seconds
  kEtagEveryRequest,     // a new ETag on every response, If-Range ignored (206 regardless)
  kBrokenKeepAlive,      // no "Connection: close", yet closed once the response is sent
};

class FaultServer {
 public:
  struct Options {
    std::uint64_t size = 1 << 20;
    // How many requests get the fault (-1: every request).
    int faulty_requests = 1;
    int retry_after_seconds = 0;
  };
  FaultServer(Fault fault, Options options);
  ~FaultServer();
  FaultServer(const FaultServer&) = delete;
  FaultServer& operator=(const FaultServer&) = delete;

  bool ok() const { return listen_fd_ >= 0; }
  std::string Url(const std::string& path = "/file") const;
  // The file's bytes in version 0 (before a change) or 1 (after).
  const std::string& Body(int version) const { return bodies_[version]; }

  struct Request {
    std::string method;
    std::string path;
    std::string range;     // "" when absent
    std::string if_range;  // "" when absent
    std::chrono::steady_clock::time_point at;
  };
  std::vector<Request> Requests() const;

 private:
  void Accept();
  void Serve(int fd);
  void Respond(int fd, const Request& request, int index);

  Fault fault_;
  Options options_;
  std::string bodies_[2];
  std::atomic<int> version_{0};
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::thread> connections_;
  std::vector<int> open_fds_;
  std::vector<Request> requests_;
};

}  // namespace openbits::testing

#endif  // OPENBITS_TESTS_SUPPORT_FAULT_SERVER_H_
