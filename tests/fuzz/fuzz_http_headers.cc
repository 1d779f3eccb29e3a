// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Response headers as a server could send them: status lines, Content-Range,
// Content-Length, validators, and the decision taken on them.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/http_response.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)openbits::engine::ParseContentRange(text);
  openbits::engine::ResponseHeaders headers;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = text.find('\n', start);
    headers.OnHeaderLine(
        text.substr(start, end == std::string_view::npos ? text.npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  openbits::engine::RequestPlan plan;
  plan.remote_offset = size % 4096;
  plan.known_total = size % 3 == 0 ? openbits::kSizeUnknown : size * 7;
  plan.stored_etag = size % 2 == 0 ? "\"abc\"" : "";
  (void)openbits::engine::DecideResponse(plan, headers);
  return 0;
}
