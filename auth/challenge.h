// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// WWW-Authenticate / Proxy-Authenticate parsing (RFC 7235 §4.1, §2.1):
// each header value holds one or more challenges,
//   challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
// separated by commas, and a response may repeat the header.

#ifndef OPENBITS_AUTH_CHALLENGE_H_
#define OPENBITS_AUTH_CHALLENGE_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace openbits::auth {

struct Challenge {
  std::string scheme;                         // lower case: "negotiate", "ntlm", "basic"
  std::string token68;                        // "Negotiate <token>"; empty if none
  std::map<std::string, std::string> params;  // lower-case names, unquoted values
};

// Every challenge in `values` (the header's values in order). Malformed
// pieces are skipped, never fatal: a server's garbage cannot stop a
// download that needs no authentication.
std::vector<Challenge> ParseChallenges(const std::vector<std::string>& values);

// The first challenge for `scheme` (lower case), or nullptr.
const Challenge* FindChallenge(const std::vector<Challenge>& challenges, std::string_view scheme);

}  // namespace openbits::auth

#endif  // OPENBITS_AUTH_CHALLENGE_H_
