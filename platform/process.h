// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Child processes (the notify command line): started with an argument
// vector, never a shell, and reaped by polling, because a library must not
// take over the process's child signal.

#ifndef OPENBITS_PLATFORM_PROCESS_H_
#define OPENBITS_PLATFORM_PROCESS_H_

#include <optional>
#include <string>
#include <vector>

#include "openbits/status.h"

#include "platform/identity.h"

namespace openbits::platform {

// Starts `program` with `args` (args[0] is the program's name as it sees
// it), standard input from the null device, standard output and error
// inherited, in a process group of its own (a signal to ours does not reach
// it). With `run_as`, the child runs as that user (ids, groups, working
// directory their home, HOME theirs) or not at all: never with our rights.
// Returns the process id; E_FILE_NOT_FOUND-class errors when it cannot start.
Result<int> SpawnProcess(const std::string& program, const std::vector<std::string>& args,
                         const std::optional<UserIdentity>& run_as);

enum class ProcessExit { kRunning, kSucceeded, kFailed };

// Reaps `pid` if it has exited, without waiting: kSucceeded for exit code 0,
// kFailed for any other end (or a pid that is not our child).
ProcessExit PollProcess(int pid);

}  // namespace openbits::platform

#endif  // OPENBITS_PLATFORM_PROCESS_H_
