// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "auth/implicit_policy.h"

#include <sys/stat.h>

#include <boost/property_tree/ini_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include "openbits/hresult.h"

namespace openbits::auth {

Result<ImplicitCredentialPolicy> LoadImplicitCredentialPolicy(const std::string& path) {
  ImplicitCredentialPolicy policy;
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return policy;
  boost::property_tree::ptree tree;
  // Boost.PropertyTree reports errors by exception; they stop here.
  try {
    boost::property_tree::ini_parser::read_ini(path, tree);
  } catch (const boost::property_tree::ini_parser_error& e) {
    return Status(kEInvalidArg, path + ": " + e.what());
  }
  auto read = [&](const char* key, int low, int high, int* out) -> Status {
    const auto value = tree.get_optional<std::string>(std::string("policy.") + key);
    if (!value) return Status::Ok();
    try {
      std::size_t used = 0;
      const int n = std::stoi(*value, &used);
      if (used != value->size() || n < low || n > high) throw std::out_of_range(*value);
      *out = n;
      return Status::Ok();
    } catch (const std::exception&) {
      return Status(kEInvalidArg, path + ": [policy] " + key + " must be a number from " +
                                      std::to_string(low) + " to " + std::to_string(high) +
                                      ", not \"" + *value + "\"");
    }
  };
  OPENBITS_RETURN_IF_ERROR(read("UseLMCompat", 0, 2, &policy.use_lm_compat));
  OPENBITS_RETURN_IF_ERROR(read("LMCompatibilityLevel", 0, 5, &policy.lm_compatibility_level));
  return policy;
}

bool SendsImplicitWithoutSetCredentials(const ImplicitCredentialPolicy& policy) {
  switch (policy.use_lm_compat) {
    case 0:
      return true;
    case 1:
      return policy.lm_compatibility_level >= 2;
    default:
      return false;
  }
}

}  // namespace openbits::auth
