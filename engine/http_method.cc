// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/http_method.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "openbits/hresult.h"

namespace openbits::engine {

Status ValidateHttpMethod(std::string_view method) {
  if (method.empty() || method.size() > 32) {
    return Status(kEInvalidArg, "the HTTP method must have 1 to 32 characters");
  }
  const bool token = std::all_of(method.begin(), method.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
  if (!token) return Status(kEInvalidArg, "the HTTP method must be a token (RFC 9110)");
  for (std::string_view refused : {"HEAD", "CONNECT", "TRACE"}) {
    if (method == refused) {
      return Status(kEInvalidArg, std::string(refused) + " cannot download a file");
    }
  }
  return Status::Ok();
}

Status ApplyHttpMethod(store::JobRecord& job, std::string_view method) {
  if (job.ever_resumed) {
    return Status(kBgEReadOnlyPropertyAfterResume,
                  "the HTTP method can only be set before the first Resume");
  }
  if (method != "GET") {
    if (std::any_of(job.files.begin(), job.files.end(),
                    [](const store::FileRecord& f) { return !f.ranges.empty(); })) {
      return Status(kBgENotSupportedWithCustomHttpMethod,
                    "a job with ranged files cannot use a custom HTTP method");
    }
    job.priority = JobPriority::kForeground;
  }
  job.http_method = std::string(method);
  return Status::Ok();
}

}  // namespace openbits::engine
