// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Where the per-user daemon keeps its queue and socket. One implementation
// per OS (paths_posix.cc).

#ifndef OPENBITS_PLATFORM_PATHS_H_
#define OPENBITS_PLATFORM_PATHS_H_

#include <string>

namespace openbits::platform {

// $OPENBITS_STATE_DIR, else ${XDG_STATE_HOME:-$HOME/.local/state}/openbits.
// Empty if none of these variables is set.
std::string DefaultStateDirectory();

// $OPENBITS_SOCKET, else <state_directory>/openbitsd.sock.
std::string DefaultSocketPath(const std::string& state_directory);

// The directory holding the running executable ("" if unknown).
std::string ExecutableDirectory();

}  // namespace openbits::platform

#endif  // OPENBITS_PLATFORM_PATHS_H_
