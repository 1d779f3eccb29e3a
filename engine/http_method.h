// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// SetHttpMethod's rules (bits-api.md §2.6, HttpOptions2), shared by the
// library and the daemon.

#ifndef OPENBITS_ENGINE_HTTP_METHOD_H_
#define OPENBITS_ENGINE_HTTP_METHOD_H_

#include <string_view>

#include "openbits/status.h"

#include "store/records.h"

namespace openbits::engine {

// E_INVALIDARG unless `method` is an HTTP token of at most 32 characters
// that can fetch a body (HEAD, CONNECT and TRACE cannot).
Status ValidateHttpMethod(std::string_view method);

// Sets the method on `job`: only before the first Resume; a method other
// than GET makes the job FOREGROUND and is refused for ranged files.
Status ApplyHttpMethod(store::JobRecord& job, std::string_view method);

// True for a job whose requests are not plain GETs (no ranges, FOREGROUND).
inline bool HasCustomHttpMethod(const store::JobRecord& job) { return job.http_method != "GET"; }

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_HTTP_METHOD_H_
