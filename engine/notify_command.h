// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// SetNotifyCmdLine: the program BITS runs when a job is transferred or in
// error. Run with an argument vector (never a shell), stdin from /dev/null,
// stdout and stderr inherited (the daemon's log).

#ifndef OPENBITS_ENGINE_NOTIFY_COMMAND_H_
#define OPENBITS_ENGINE_NOTIFY_COMMAND_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "openbits/status.h"

#include "platform/identity.h"

namespace openbits::engine {

// Splits a parameter string into arguments: blanks separate, double quotes
// group ("a b" is one argument), \" is a literal quote inside quotes.
// E_INVALIDARG for an unterminated quote.
Result<std::vector<std::string>> SplitCommandLine(std::string_view parameters);

// BITS's rules: both empty (removes), or an absolute program path of at
// most 4096 bytes and parameters of at most 4000 characters whose first
// token names the program (its path or its file name); no control
// characters. Empty parameters mean "just the program".
Status ValidateNotifyCommand(std::string_view program, std::string_view parameters);

// Starts the program; returns its pid. With `run_as`, the program runs as
// that user (uid, gid, groups; working directory their home), never with the
// daemon's rights.
Result<int> StartNotifyCommand(const std::string& program, std::string_view parameters,
                               const std::optional<platform::UserIdentity>& run_as = {});

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_NOTIFY_COMMAND_H_
