// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/job_validation.h"

#include <algorithm>
#include <span>
#include <unordered_set>

#include <curl/curl.h>

#include "openbits/hresult.h"

#include "auth/credentials.h"
#include "auth/request_policy.h"
#include "engine/http_method.h"
#include "engine/http_response.h"
#include "platform/c_handles.h"
#include "platform/file_system.h"

namespace openbits::engine {
namespace {

constexpr std::size_t kMaxUrlLength = 2200;
constexpr std::size_t kMaxPathLength = 4096;

}  // namespace

Status ValidateRemoteUrl(std::string_view url) {
  if (url.empty()) return Status(kEInvalidArg, "the remote URL is empty");
  if (url.size() > kMaxUrlLength) {
    return Status(kEInvalidArg, "the remote URL is longer than 2200 characters");
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) {
      return Status(kEInvalidArg,
                    "the remote URL contains a space or control character (CR, LF, NUL ...)");
    }
  }
  // libcurl parses the URL with any password masked: its copies are freed
  // without being wiped.
  auto user_info = auth::SplitUserInfo(url);
  if (!user_info.ok()) return user_info.status();
  CPtr<CURLU> u(curl_url());
  const std::string& text = user_info->redacted_url;
  if (curl_url_set(u.get(), CURLUPART_URL, text.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return Status(kEInvalidArg, "the remote URL is malformed");
  }
  char* raw = nullptr;
  if (curl_url_get(u.get(), CURLUPART_SCHEME, &raw, 0) != CURLUE_OK) {
    return Status(kEInvalidArg, "the remote URL has no scheme");
  }
  CPtr<char> scheme(raw);
  const std::string_view s(scheme.get());
  if (s != "http" && s != "https") {
    return Status(kEInvalidArg, "unsupported scheme \"" + std::string(s) +
                                    "\": only http and https are accepted");
  }
  raw = nullptr;
  if (curl_url_get(u.get(), CURLUPART_HOST, &raw, 0) != CURLUE_OK || raw == nullptr ||
      raw[0] == '\0') {
    curl_free(raw);
    return Status(kEInvalidArg, "the remote URL has no host");
  }
  curl_free(raw);
  return Status::Ok();
}

// Checks the local name's syntax and the name itself; the directory's
// checks (platform::CheckDestinationDirectory) are the caller's, once per
// directory.
Status ValidateLocalName(std::string_view path, const std::string& state_dir) {
  if (!platform::IsAbsolutePath(path)) {
    return Status(kEInvalidArg, "the local name must be an absolute path");
  }
  if (path.size() > kMaxPathLength) return Status(kEInvalidArg, "the local name is too long");
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f) {
      return Status(kEInvalidArg, "the local name contains a control character");
    }
  }
  if (path.back() == '/') return Status(kEInvalidArg, "the local name must name a file");
  std::size_t start = 1;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    std::string_view part =
        path.substr(start, end == std::string_view::npos ? path.npos : end - start);
    if (part == "." || part == "..") {
      return Status(kEInvalidArg, "the local name must not contain . or .. components");
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (path.substr(0, state_dir.size() + 1) == state_dir + "/") {
    return Status(kEInvalidArg, "the local name is inside the queue's state directory");
  }
  return Status::Ok();
}

Status BuildFileRecords(const store::JobRecord& job, const std::vector<FileInfo>& files,
                        const std::vector<FileRange>* ranges, const FileCheckContext& context,
                        std::vector<store::FileRecord>* out,
                        std::vector<store::SecretRecord>* secrets,
                        std::unordered_map<std::string, DestinationCheck>* directories) {
  if (files.empty()) return Status(kEInvalidArg, "no file given");
  if (ranges != nullptr) OPENBITS_RETURN_IF_ERROR(ValidateRanges(*ranges));
  if (ranges != nullptr && HasCustomHttpMethod(job)) {
    return Status(kBgENotSupportedWithCustomHttpMethod,
                  "ranges cannot be downloaded with a custom HTTP method");
  }
  if (ranges != nullptr && job.dynamic_content) {
    return Status(kEInvalidArg, "ranges cannot be downloaded from dynamic content");
  }
  std::vector<store::FileRecord> added;
  std::vector<store::SecretRecord> sealed;
  std::unordered_set<std::string_view> local_names;
  for (const store::FileRecord& f : job.files) {
    if (!f.renamed) local_names.insert(f.local_name);
  }
  // Many files share a directory; its checks run once.
  std::unordered_map<std::string, DestinationCheck> own_directories;
  if (directories == nullptr) directories = &own_directories;
  // A directory receiving this many files is listed once rather than each
  // name looked up, unless it holds several times as many names already.
  constexpr std::size_t kListForFiles = 32;
  constexpr std::size_t kListedNamesPerFile = 4;
  std::unordered_map<std::string, std::size_t> files_per_directory;
  if (files.size() >= kListForFiles) {
    for (const FileInfo& info : files) {
      auto parts = platform::SplitAbsolutePath(info.local_name);
      if (parts.ok()) ++files_per_directory[parts->directory];
    }
  }
  for (const FileInfo& info : files) {
    Status url = ValidateRemoteUrl(info.remote_name);
    if (!url.ok()) {
      return Status(url.code(), url.message() + ": " + auth::RedactUrl(info.remote_name));
    }
    auto user_info = auth::SplitUserInfo(info.remote_name);
    if (!user_info.ok()) {
      return Status(user_info.status().code(),
                    user_info.status().message() + ": " + auth::RedactUrl(info.remote_name));
    }
    Status local;
    {
      auto as_owner = context.owners.ActAs(job.owner);
      local = as_owner.ok() ? ValidateLocalName(info.local_name, context.state_directory)
                            : as_owner.status();
      if (local.ok()) {
        auto parts = platform::SplitAbsolutePath(info.local_name);
        if (!parts.ok()) {
          local = parts.status();
        } else {
          auto [known, inserted] = directories->try_emplace(parts->directory);
          DestinationCheck& check = known->second;
          if (inserted) {
            check.status =
                platform::CheckDestinationDirectory(parts->directory, context.state_directory);
            const auto count = files_per_directory.find(parts->directory);
            if (check.status.ok() && count != files_per_directory.end() &&
                count->second >= kListForFiles) {
              auto names = platform::NamesIn(parts->directory, kListedNamesPerFile * count->second);
              if (names.ok()) check.names.emplace(names->begin(), names->end());
            }
          }
          local = check.status;
          if (local.ok() && (!check.names || check.names->count(parts->name) != 0)) {
            local = platform::CheckDestinationName(info.local_name);
          }
        }
      }
    }
    if (!local.ok()) return Status(local.code(), local.message() + ": " + info.local_name);
    if (local_names.count(info.local_name) != 0) {
      return Status(kEInvalidArg, "the job already has a file named " + info.local_name);
    }
    store::FileRecord f;
    f.index = static_cast<std::uint32_t>(job.files.size() + added.size());
    // The password goes to the vault; the URL kept and shown has "****".
    f.remote_name = user_info->redacted_url;
    f.local_name = info.local_name;
    if (ranges != nullptr) f.ranges = *ranges;
    if (user_info->has_password) {
      const std::string purpose = auth::UrlPasswordPurpose(f.index);
      auto record = context.vault.Seal(
          job.id, purpose, std::span(user_info->password.data(), user_info->password.size()));
      if (!record.ok()) return record.status();
      sealed.push_back(store::SecretRecord{purpose, std::move(*record)});
    }
    local_names.insert(info.local_name);  // views into `files`, which outlive the loop
    added.push_back(std::move(f));
  }
  for (auto& f : added) out->push_back(std::move(f));
  for (auto& secret : sealed) secrets->push_back(std::move(secret));
  std::sort(secrets->begin(), secrets->end(),
            [](const auto& a, const auto& b) { return a.purpose < b.purpose; });
  return Status::Ok();
}

}  // namespace openbits::engine
