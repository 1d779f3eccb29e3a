// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// RAII for Core Foundation references (CFRelease), shared by the macOS
// implementations of platform/.

#ifndef OPENBITS_PLATFORM_MACOS_CF_PTR_H_
#define OPENBITS_PLATFORM_MACOS_CF_PTR_H_

#include <CoreFoundation/CoreFoundation.h>
#include <memory>
#include <type_traits>

namespace openbits::platform {

template <typename T>
struct CfReleaser {
  void operator()(T ref) const {
    if (ref != nullptr) CFRelease(ref);
  }
};
template <typename T>
using CfPtr = std::unique_ptr<std::remove_pointer_t<T>, CfReleaser<T>>;

}  // namespace openbits::platform

#endif  // OPENBITS_PLATFORM_MACOS_CF_PTR_H_
