// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// WWW-Authenticate / Proxy-Authenticate values: one header value per line.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "auth/challenge.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> values;
  std::string current;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      values.push_back(current);
      current.clear();
    } else {
      current += static_cast<char>(data[i]);
    }
  }
  values.push_back(current);
  for (const auto& challenge : openbits::auth::ParseChallenges(values)) {
    (void)openbits::auth::FindChallenge({challenge}, challenge.scheme);
  }
  return 0;
}
