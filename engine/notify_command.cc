// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/notify_command.h"

#include "openbits/hresult.h"

#include "platform/process.h"

namespace openbits::engine {
namespace {

constexpr std::size_t kMaxProgram = 4096;
constexpr std::size_t kMaxParameters = 4000;

std::string_view BaseName(std::string_view path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

Result<std::vector<std::string>> SplitCommandLine(std::string_view text) {
  std::vector<std::string> args;
  std::string current;
  bool in_token = false;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '\\' && i + 1 < text.size() && text[i + 1] == '"') {
        current += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        current += c;
      }
    } else if (c == ' ' || c == '\t') {
      if (in_token) args.push_back(std::move(current));
      current.clear();
      in_token = false;
    } else if (c == '"') {
      quoted = true;
      in_token = true;
    } else {
      current += c;
      in_token = true;
    }
  }
  if (quoted) return Status(kEInvalidArg, "unterminated quote in the parameters");
  if (in_token) args.push_back(std::move(current));
  return args;
}

Status ValidateNotifyCommand(std::string_view program, std::string_view parameters) {
  if (program.empty() && parameters.empty()) return Status::Ok();
  if (program.empty() || program.front() != '/') {
    return Status(kEInvalidArg, "the notification program must be an absolute path");
  }
  if (program.size() > kMaxProgram) return Status(kBgEStringTooLong, "program path too long");
  if (parameters.size() > kMaxParameters) {
    return Status(kBgEStringTooLong, "the parameters are longer than 4000 characters");
  }
  for (std::string_view s : {program, parameters}) {
    for (unsigned char c : s) {
      if (c < 0x20 && c != '\t') return Status(kEInvalidArg, "control character in the command");
    }
  }
  if (parameters.empty()) return Status::Ok();
  auto args = SplitCommandLine(parameters);
  if (!args.ok()) return args.status();
  if (args->empty() || ((*args)[0] != program && BaseName((*args)[0]) != BaseName(program))) {
    return Status(kEInvalidArg, "the parameters must start with the program's name");
  }
  return Status::Ok();
}

Result<int> StartNotifyCommand(const std::string& program, std::string_view parameters,
                               const std::optional<platform::UserIdentity>& run_as) {
  std::vector<std::string> args;
  if (parameters.empty()) {
    args.push_back(program);
  } else {
    auto split = SplitCommandLine(parameters);
    if (!split.ok()) return split.status();
    args = std::move(*split);
  }
  return platform::SpawnProcess(program, args, run_as);
}

}  // namespace openbits::engine
