// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// A local client flooding openbitsd with requests and never reading the
// answers must not starve another client, must not grow the daemon's
// memory without bound (it is disconnected after 10,000 unread replies),
// and must not take the daemon down. Oversized and malformed lines get
// JSON-RPC errors.

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace openbits {
namespace {

const std::string kDaemon = OPENBITS_BIN_DIR "/openbitsd";

int ConnectTo(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::copy(path.begin(), path.end(), addr.sun_path);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::send(fd, text.data() + done, text.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// One reply line, waiting at most `limit_ms` for it ("" on timeout or EOF).
std::string ReadLine(int fd, int limit_ms) {
  std::string line;
  char c;
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, limit_ms) <= 0) return {};
    if (::recv(fd, &c, 1, 0) != 1) return {};
    if (c == '\n') return line;
    line += c;
  }
}

class IpcFloodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = state_ / "openbitsd.sock";
    daemon_ = testing::SpawnWithOutput({kDaemon, "--foreground", "--state-dir", state_ / "state",
                                        "--socket", socket_, "--key-dir", state_ / "keys"});
    ASSERT_GT(daemon_.pid, 0);
    ASSERT_TRUE(testing::WaitForDirectoryChange(
        state_.path(), [&] { return ::access(socket_.c_str(), F_OK) == 0; },
        std::chrono::seconds(30), daemon_.pid));
  }
  void TearDown() override {
    if (daemon_.pid > 0) {
      ::kill(daemon_.pid, SIGTERM);
      testing::Reap(daemon_);
    }
  }

  testing::TempDir state_;
  std::string socket_;
  testing::ChildProcess daemon_;
};

// Sanitized daemons answer 10-30 times slower: a smaller flood still keeps
// the heavy client's writes blocked when the other client asks.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kFloodRequests = 30000;
#else
constexpr int kFloodRequests = 100000;
#endif

TEST_F(IpcFloodTest, AHeavyClientDoesNotStarveAnother) {
  constexpr int kRequests = kFloodRequests;
  const int heavy = ConnectTo(socket_);
  ASSERT_GE(heavy, 0);
  std::mutex mu;
  std::condition_variable progressed;
  int sent = 0;
  bool writer_done = false;
  std::atomic<int> answered{0};
  std::thread writer([&] {
    const std::string request = R"({"jsonrpc":"2.0","id":1,"method":"job.list"})"
                                "\n";
    std::string batch;
    for (int i = 0; i < 100; ++i) batch += request;
    for (int i = 0; i < kRequests / 100; ++i) {
      const bool ok = SendAll(heavy, batch);
      {
        std::lock_guard lock(mu);
        if (ok) sent += 100;
        if (!ok || sent == kRequests) writer_done = true;
      }
      progressed.notify_all();
      if (!ok) break;
    }
  });
  std::thread reader([&] {
    // Counts answers as they come, in big reads (the daemon hangs up on a
    // client that falls 10,000 answers behind).
    char buffer[65536];
    while (answered < kRequests) {
      pollfd p{heavy, POLLIN, 0};
      if (::poll(&p, 1, 30000) <= 0) break;
      const ssize_t n = ::recv(heavy, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      answered += static_cast<int>(std::count(buffer, buffer + n, '\n'));
    }
  });
  bool flooding;
  {
    std::unique_lock lock(mu);
    progressed.wait_for(lock, std::chrono::seconds(60),
                        [&] { return sent >= kRequests / 5 || writer_done; });
    flooding = sent >= kRequests / 5 && !writer_done;
  }
  // Another client asks while tens of thousands of requests are queued
  // before it: its answer comes while the heavy client is still served.
  // (No ASSERT until the threads are joined.)
  const int polite = ConnectTo(socket_);
  EXPECT_GE(polite, 0);
  std::string reply;
  if (polite >= 0 &&
      SendAll(polite, R"({"jsonrpc":"2.0","id":7,"method":"job.create","params":{"name":"b"}})"
                      "\n")) {
    reply = ReadLine(polite, 30000);
  }
  const int heavy_answered_then = answered;
  EXPECT_NE(reply.find(R"("id":7)"), std::string::npos) << reply;
  EXPECT_NE(reply.find(R"("result")"), std::string::npos) << reply;
  writer.join();
  reader.join();
  EXPECT_TRUE(flooding) << "the heavy client stopped after " << sent << " requests";
  EXPECT_LT(heavy_answered_then, kRequests) << "the other client waited for the whole flood";
  EXPECT_EQ(answered, kRequests);  // and the heavy client lost nothing
  ::close(polite);
  ::close(heavy);
}

TEST_F(IpcFloodTest, AClientThatNeverReadsIsCutOff) {
  const int flooder = ConnectTo(socket_);
  ASSERT_GE(flooder, 0);
  const std::string request = R"({"jsonrpc":"2.0","id":1,"method":"job.list"})"
                              "\n";
  std::string batch;
  for (int i = 0; i < 100; ++i) batch += request;
  int sent = 0;
  while (sent < 1000000 && SendAll(flooder, batch)) sent += 100;
  // The daemon hung up once 10,000 answers were waiting to be read: its
  // memory does not grow with a client that never reads.
  EXPECT_LT(sent, 1000000);
  EXPECT_EQ(::kill(daemon_.pid, 0), 0);
  const int other = ConnectTo(socket_);
  ASSERT_GE(other, 0);
  ASSERT_TRUE(SendAll(other, R"({"jsonrpc":"2.0","id":8,"method":"job.list"})"
                             "\n"));
  EXPECT_NE(ReadLine(other, 30000).find(R"("id":8)"), std::string::npos);
  ::close(other);
  ::close(flooder);
}

TEST_F(IpcFloodTest, MalformedAndOversizedLinesGetErrors) {
  const int fd = ConnectTo(socket_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "{not json\n"));
  EXPECT_NE(ReadLine(fd, 30000).find("-32700"), std::string::npos);
  ASSERT_TRUE(SendAll(fd, R"({"jsonrpc":"2.0","id":2,"method":"job.info","params":{"id":5}})"
                          "\n"));
  EXPECT_NE(ReadLine(fd, 30000).find(R"("error")"), std::string::npos);
  ASSERT_TRUE(SendAll(fd, R"({"jsonrpc":"2.0","id":3,"method":"no.such"})"
                          "\n"));
  EXPECT_NE(ReadLine(fd, 30000).find("-32601"), std::string::npos);
  // Over the request size limit without a newline: an error, then hang-up.
  std::string huge(2 << 20, 'x');
  SendAll(fd, huge);  // the daemon may hang up before taking all of it
  EXPECT_NE(ReadLine(fd, 30000).find("request too large"), std::string::npos);
  EXPECT_EQ(ReadLine(fd, 30000), "");
  ::close(fd);
  EXPECT_EQ(::kill(daemon_.pid, 0), 0);
}

}  // namespace
}  // namespace openbits
