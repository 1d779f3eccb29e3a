// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// IPC requests as a hostile local client could send them, against a real
// engine (no transfers) in a temporary state directory.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "daemon/rpc.h"

namespace {

struct Daemon {
  Daemon() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/openbits-fuzz-XXXXXX";
    state = ::mkdtemp(pattern.data());
    openbits::ManagerOptions options;
    options.state_directory = state + "/state";
    options.key_directory = state + "/keys";
    options.run_transfers = false;
    engine = *openbits::engine::Engine::Open(options);
    rpc = std::make_unique<openbits::daemon::RpcDispatcher>(engine);
  }
  std::string state;
  std::shared_ptr<openbits::engine::Engine> engine;
  std::unique_ptr<openbits::daemon::RpcDispatcher> rpc;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Daemon* daemon = new Daemon();  // one engine for the whole run
  const std::string_view request(reinterpret_cast<const char*>(data), size);
  bool shutdown = false;
  const openbits::engine::Caller caller{size % 2 ? "1000" : "0", size % 2 == 0};
  (void)daemon->rpc->Handle(request, caller, &shutdown);
  return 0;
}
