// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include <cctype>
#include <string>
#include <string_view>

#include "openbits/hresult.h"
#include "openbits/types.h"

#include "platform/system.h"

namespace openbits {
namespace {

// Byte order of the textual form: the standard 8-4-4-4-12 grouping, bytes in
// the order they are stored (big-endian fields, as RFC 4122 prints them).
constexpr int kGroups[] = {4, 2, 2, 2, 6};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

Guid Guid::Generate() {
  Guid g;
  platform::FillRandom(g.bytes.data(), g.bytes.size());
  g.bytes[6] = static_cast<std::uint8_t>((g.bytes[6] & 0x0F) | 0x40);  // version 4
  g.bytes[8] = static_cast<std::uint8_t>((g.bytes[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return g;
}

std::string Guid::ToString() const {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "{";
  std::size_t i = 0;
  for (int g = 0; g < 5; ++g) {
    if (g > 0) out += '-';
    for (int k = 0; k < kGroups[g]; ++k, ++i) {
      out += kHex[bytes[i] >> 4];
      out += kHex[bytes[i] & 0x0F];
    }
  }
  out += '}';
  return out;
}

Result<Guid> Guid::Parse(std::string_view text) {
  if (text.size() == 38 && text.front() == '{' && text.back() == '}') {
    text = text.substr(1, 36);
  }
  if (text.size() != 36) return Status(kEInvalidArg, "not a GUID");
  Guid g;
  std::size_t pos = 0;
  std::size_t i = 0;
  for (int group = 0; group < 5; ++group) {
    if (group > 0) {
      if (text[pos] != '-') return Status(kEInvalidArg, "not a GUID");
      ++pos;
    }
    for (int k = 0; k < kGroups[group]; ++k, ++i) {
      int hi = HexValue(text[pos]);
      int lo = HexValue(text[pos + 1]);
      if (hi < 0 || lo < 0) return Status(kEInvalidArg, "not a GUID");
      g.bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
      pos += 2;
    }
  }
  return g;
}

}  // namespace openbits
