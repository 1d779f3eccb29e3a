// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// bitsadmin's switches, with BITSAdmin's syntax and output
// (docs/bitsadmin.md).

#ifndef OPENBITS_CLI_COMMANDS_H_
#define OPENBITS_CLI_COMMANDS_H_

#include <ostream>
#include <string>
#include <vector>

namespace openbits::cli {

// Exit statuses (docs/bitsadmin.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;    // the operation failed (BITS error, job error)
inline constexpr int kExitUsage = 2;     // unknown switch or malformed arguments
inline constexpr int kExitNoDaemon = 3;  // openbitsd could not be reached or started

// Runs bitsadmin with `args` (without the program name).
int RunBitsadmin(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace openbits::cli

#endif  // OPENBITS_CLI_COMMANDS_H_
