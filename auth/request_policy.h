// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// What openbits lets a job put into an HTTP request, and how secrets are kept
// out of everything it shows.

#ifndef OPENBITS_AUTH_REQUEST_POLICY_H_
#define OPENBITS_AUTH_REQUEST_POLICY_H_

#include <string>
#include <string_view>
#include <vector>

#include "openbits/status.h"

namespace openbits::auth {

// Splits a SetCustomHeaders value into header lines and checks each one: a
// token name, a colon, a value of visible characters, spaces and tabs; lines
// separated by CRLF (a bare CR or LF is an injection attempt and fails);
// names openbits manages itself (Host, Range, If-Range, Content-Length,
// Transfer-Encoding, Connection, Expect, Upgrade, TE, Trailer, Keep-Alive)
// are refused. An empty string gives an empty list. E_INVALIDARG with the
// offending line number on failure.
Result<std::vector<std::string>> ParseCustomHeaders(std::string_view headers);

// `url` with any password in its user information replaced by "****".
// Strings that are not URLs are returned unchanged.
std::string RedactUrl(std::string_view url);

}  // namespace openbits::auth

#endif  // OPENBITS_AUTH_REQUEST_POLICY_H_
