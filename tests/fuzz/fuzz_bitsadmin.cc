// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// bitsadmin's argument parsing and switches, as a user's script could call
// them, against a real daemon (RPC server and engine, no transfers) in this
// process. The input is the argument vector, NUL-separated. Switches that
// wait for jobs to finish (/transfer, /monitor) or read a named file
// (/addfileset) are left out: they would block the run, not find bugs.

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "cli/commands.h"
#include "daemon/rpc.h"
#include "daemon/server.h"

namespace {

struct Daemon {
  Daemon() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/openbits-fuzz-XXXXXX";
    dir = ::mkdtemp(pattern.data());
    openbits::ManagerOptions options;
    options.state_directory = dir + "/state";
    options.key_directory = dir + "/keys";
    options.run_transfers = false;
    engine = *openbits::engine::Engine::Open(options);
    rpc = std::make_unique<openbits::daemon::RpcDispatcher>(engine);
    const std::string socket_path = dir + "/openbitsd.sock";
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::copy(socket_path.begin(), socket_path.end(), addr.sun_path);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
      std::abort();
    }
    server = std::make_unique<openbits::daemon::Server>(io, fd, *rpc, [] {});
    server->Start();
    thread = std::thread([this] { io.run(); });
    ::setenv("OPENBITS_SOCKET", socket_path.c_str(), 1);
    ::setenv("OPENBITS_STATE_DIR", (dir + "/state").c_str(), 1);
    ::unsetenv("KRB5CCNAME");
  }
  std::string dir;
  std::shared_ptr<openbits::engine::Engine> engine;
  std::unique_ptr<openbits::daemon::RpcDispatcher> rpc;
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(io);
  std::unique_ptr<openbits::daemon::Server> server;
  std::thread thread;
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Daemon* daemon = new Daemon();  // one daemon for the whole run
  std::vector<std::string> args;
  std::string current;
  for (std::size_t i = 0; i < size && args.size() < 16; ++i) {
    if (data[i] == 0) {
      args.push_back(std::move(current));
      current.clear();
    } else {
      current += static_cast<char>(data[i]);
    }
  }
  if (args.size() < 16) args.push_back(std::move(current));
  for (const std::string& a : args) {
    const std::string l = Lower(a);
    if (l == "/transfer" || l == "/monitor" || l == "/addfileset") return 0;
  }
  std::ostringstream out;
  std::ostringstream err;
  const int status = openbits::cli::RunBitsadmin(args, out, err);
  if (status < 0 || status > 3) std::abort();  // only the documented exit statuses
  // Keep the queue small, or every /list slows the run down as it grows.
  static int runs = 0;
  if (++runs % 32 == 0) {
    // On the engine's thread, like every engine call: the daemon may still
    // be closing the last client's session there.
    daemon->engine->Call([&] {
      const openbits::engine::Caller admin{"", true};
      auto jobs = daemon->engine->ListJobs(admin, openbits::EnumScope::kAllUsers);
      if (jobs.ok() && jobs->size() > 16) {
        for (auto& job : *jobs) (void)daemon->engine->Cancel(*job);
      }
    });
  }
  return 0;
}
