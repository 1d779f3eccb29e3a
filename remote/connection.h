// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The client side of the daemon's socket: connecting, and starting a
// per-user openbitsd when none answers. Shared by bitsadmin and
// openbits::Connect().

#ifndef OPENBITS_REMOTE_CONNECTION_H_
#define OPENBITS_REMOTE_CONNECTION_H_

#include <string>

#include "openbits/status.h"

namespace openbits::remote {

// The system daemon's socket (openbitsd --system).
inline constexpr const char* kSystemSocket = "/run/openbits/openbitsd.sock";

// Connects to the daemon at `socket_path` and returns the socket. If none
// answers and `autostart`, starts `daemon_program` ("" = openbitsd beside
// this executable, else on PATH) for `state_dir`, which returns once it
// listens, and connects again.
Result<int> ConnectToDaemon(const std::string& state_dir, const std::string& socket_path,
                            bool autostart, const std::string& daemon_program = "");

}  // namespace openbits::remote

#endif  // OPENBITS_REMOTE_CONNECTION_H_
