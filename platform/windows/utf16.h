// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// UTF-8 <-> UTF-16 for the Win32 "W" functions. Windows only.

#ifndef OPENBITS_PLATFORM_WINDOWS_UTF16_H_
#define OPENBITS_PLATFORM_WINDOWS_UTF16_H_

#include <windows.h>

#include <string>
#include <string_view>

namespace openbits::platform {

inline std::wstring Widen(std::string_view s) {
  if (s.empty()) return {};
  const int n = MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
  std::wstring out(static_cast<std::size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), out.data(), n);
  return out;
}

inline std::string Narrow(std::wstring_view s) {
  if (s.empty()) return {};
  const int n = WideCharToMultiByte(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0,
                                    nullptr, nullptr);
  std::string out(static_cast<std::size_t>(n), '\0');
  WideCharToMultiByte(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), out.data(), n, nullptr,
                      nullptr);
  return out;
}

}  // namespace openbits::platform

#endif  // OPENBITS_PLATFORM_WINDOWS_UTF16_H_
