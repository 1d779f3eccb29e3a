// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "auth/request_policy.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "openbits/hresult.h"

namespace openbits::auth {
namespace {

bool IsTokenChar(unsigned char c) {
  // RFC 9110 tchar.
  if (std::isalnum(c)) return true;
  constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return kExtra.find(static_cast<char>(c)) != std::string_view::npos;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

constexpr std::array<std::string_view, 11> kManagedHeaders = {
    "Host",   "Range",   "If-Range", "Content-Length", "Transfer-Encoding", "Connection",
    "Expect", "Upgrade", "TE",       "Trailer",        "Keep-Alive"};

}  // namespace

Result<std::vector<std::string>> ParseCustomHeaders(std::string_view headers) {
  std::vector<std::string> lines;
  std::size_t line_number = 0;
  while (!headers.empty()) {
    ++line_number;
    const auto crlf = headers.find("\r\n");
    std::string_view line = headers.substr(0, crlf);
    headers = crlf == std::string_view::npos ? std::string_view() : headers.substr(crlf + 2);
    const std::string where = "custom header line " + std::to_string(line_number);
    if (line.empty()) {
      if (headers.empty()) break;  // a trailing CRLF is tolerated
      return Status(kEInvalidArg, where + " is empty");
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Status(kEInvalidArg, where + " is not \"Name: value\"");
    }
    std::string_view name = line.substr(0, colon);
    for (unsigned char c : name) {
      if (!IsTokenChar(c)) {
        return Status(kEInvalidArg, where + ": invalid character in the header name");
      }
    }
    for (unsigned char c : line.substr(colon + 1)) {
      if (c == '\r' || c == '\n') {
        return Status(kEInvalidArg, where + ": a bare CR or LF is not allowed");
      }
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        return Status(kEInvalidArg, where + ": control character in the header value");
      }
    }
    for (std::string_view managed : kManagedHeaders) {
      if (EqualsIgnoreCase(name, managed)) {
        return Status(kEInvalidArg,
                      where + ": " + std::string(managed) + " is set by openbits itself");
      }
    }
    lines.emplace_back(line);
  }
  return lines;
}

std::string RedactUrl(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const std::size_t authority_start = scheme_end + 3;
  const std::size_t authority_end = url.find_first_of("/?#", authority_start);
  std::string_view authority = url.substr(authority_start, authority_end == std::string_view::npos
                                                               ? std::string_view::npos
                                                               : authority_end - authority_start);
  const auto at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  const auto colon = authority.substr(0, at).find(':');
  if (colon == std::string_view::npos) return std::string(url);
  std::string out(url.substr(0, authority_start + colon + 1));
  out += "****";
  out += url.substr(authority_start + at);
  return out;
}

}  // namespace openbits::auth
