// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "auth/implicit_policy.h"

#include <algorithm>
#include <optional>
#include <sys/stat.h>

#include <boost/property_tree/ini_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include "openbits/hresult.h"

namespace openbits::auth {

namespace {

// The file's tree; an empty one when there is no file.
Result<boost::property_tree::ptree> ReadConfig(const std::string& path) {
  boost::property_tree::ptree tree;
  struct stat st {};
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return tree;
  // Boost.PropertyTree reports errors by exception; they stop here.
  try {
    boost::property_tree::ini_parser::read_ini(path, tree);
  } catch (const boost::property_tree::ini_parser_error& e) {
    return Status(kEInvalidArg, path + ": " + e.what());
  }
  return tree;
}

Status ReadNumber(const boost::property_tree::ptree& tree, const std::string& path,
                  const std::string& section, const char* key, int low, int high, int* out) {
  const auto value = tree.get_optional<std::string>(section + "." + key);
  if (!value) return Status::Ok();
  try {
    std::size_t used = 0;
    const int n = std::stoi(*value, &used);
    if (used != value->size() || n < low || n > high) throw std::out_of_range(*value);
    *out = n;
    return Status::Ok();
  } catch (const std::exception&) {
    return Status(kEInvalidArg, path + ": [" + section + "] " + key + " must be a number from " +
                                    std::to_string(low) + " to " + std::to_string(high) +
                                    ", not \"" + *value + "\"");
  }
}

}  // namespace

Result<ProxyDiscoveryConfig> LoadProxyDiscoveryConfig(const std::string& path) {
  ProxyDiscoveryConfig config;
  auto tree = ReadConfig(path);
  if (!tree.ok()) return tree.status();
  if (auto url = tree->get_optional<std::string>("proxy.AutoConfigUrl"); url && !url->empty()) {
    const bool printable = std::all_of(url->begin(), url->end(), [](char c) {
      return static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
    });
    if (url->rfind("http://", 0) != 0 || url->size() <= 7 || !printable) {
      return Status(kEInvalidArg,
                    path + ": [proxy] AutoConfigUrl must be an http:// URL, not \"" + *url + "\"");
    }
    config.autoconfig_url = *url;
  }
  OPENBITS_RETURN_IF_ERROR(
      ReadNumber(*tree, path, "proxy", "AutoConfigTimeout", 1, 600, &config.timeout_s));
  return config;
}

Result<ImplicitCredentialPolicy> LoadImplicitCredentialPolicy(const std::string& path) {
  ImplicitCredentialPolicy policy;
  auto tree = ReadConfig(path);
  if (!tree.ok()) return tree.status();
  auto read = [&](const char* key, int low, int high, int* out) -> Status {
    return ReadNumber(*tree, path, "policy", key, low, high, out);
  };
  OPENBITS_RETURN_IF_ERROR(read("UseLMCompat", 0, 2, &policy.use_lm_compat));
  OPENBITS_RETURN_IF_ERROR(read("LMCompatibilityLevel", 0, 5, &policy.lm_compatibility_level));
  return policy;
}

Result<QueueLimits> LoadQueueLimits(const std::string& path) {
  QueueLimits limits;
  auto tree = ReadConfig(path);
  if (!tree.ok()) return tree.status();
  OPENBITS_RETURN_IF_ERROR(ReadNumber(*tree, path, "policy", "MaxFilesPerJob", 0, 2147483647,
                                      &limits.max_files_per_job));
  return limits;
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
