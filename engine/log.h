// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The library's log: ManagerOptions::log, or nothing.

#ifndef OPENBITS_ENGINE_LOG_H_
#define OPENBITS_ENGINE_LOG_H_

#include <functional>
#include <string_view>

#include "openbits/manager.h"

namespace openbits::engine {

using LogSink = std::function<void(LogLevel, std::string_view)>;

// Hands `message` to `sink`, if there is one. An exception of the
// application's sink does not escape into the engine.
inline void Log(const LogSink& sink, LogLevel level, std::string_view message) {
  if (!sink) return;
  try {
    sink(level, message);
  } catch (...) {
  }
}

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_LOG_H_
