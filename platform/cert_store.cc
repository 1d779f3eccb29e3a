// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// What every OS's certificate store implementation shares.

#include "platform/cert_store.h"

#include <cctype>

#include "openbits/hresult.h"

namespace openbits::platform {

Status ValidateStoreName(std::string_view store_name) {
  constexpr std::size_t kMaxStoreNameLength = 64;
  if (store_name.empty() || store_name.size() > kMaxStoreNameLength || store_name == "." ||
      store_name == "..") {
    return Status(kEInvalidArg, "a certificate store name is a plain name of 1 to 64 characters");
  }
  for (char c : store_name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return Status(kEInvalidArg,
                    "a certificate store name has only letters, digits, '-', '_' and '.'");
    }
  }
  return Status::Ok();
}

}  // namespace openbits::platform
