// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The daemon's JSON-RPC 2.0 methods (docs/ipc.md). One request line in, one
// response line out; malformed input gets a JSON-RPC error, never an
// exception or a crash.

#ifndef OPENBITS_DAEMON_RPC_H_
#define OPENBITS_DAEMON_RPC_H_

#include <memory>
#include <string>
#include <string_view>

#include "engine/engine.h"

namespace openbits::daemon {

// Protocol version reported by "openbits.hello"; bumped on incompatible
// changes.
inline constexpr int kProtocolVersion = 1;

// Longest request line accepted, in bytes.
inline constexpr std::size_t kMaxRequestBytes = 1 << 20;

// Where a session's server-initiated messages go ("job.event"
// notifications). Push may be called from any thread.
class Pusher {
 public:
  virtual ~Pusher() = default;
  virtual void Push(std::string line) = 0;
};

class RpcDispatcher {
 public:
  explicit RpcDispatcher(std::shared_ptr<engine::Engine> engine);

  // Handles one request from `caller` and returns the response (no
  // trailing newline). Returns an empty string for a notification (a
  // request without "id"). Sets *shutdown when the caller asked the daemon
  // to stop and was allowed to. `pusher` (may be null) receives the events
  // of jobs the session subscribes to ("job.subscribe").
  std::string Handle(std::string_view request, const engine::Caller& caller, bool* shutdown,
                     const std::shared_ptr<Pusher>& pusher = nullptr);

  // The session of `pusher` ended: its jobs lose their subscription.
  void DropSubscriptions(const Pusher* pusher);

 private:
  std::shared_ptr<engine::Engine> engine_;
};

}  // namespace openbits::daemon

#endif  // OPENBITS_DAEMON_RPC_H_
