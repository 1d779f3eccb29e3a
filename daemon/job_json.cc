// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "daemon/job_json.h"

#include <chrono>

#include "auth/client_certificate.h"
#include "engine/job_view.h"
#include "remote/json_rpc.h"

namespace openbits::daemon {
namespace {

using json = nlohmann::json;

}  // namespace

static std::int64_t Ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

json Size(std::uint64_t v) { return v == kSizeUnknown ? json(nullptr) : json(v); }

json RangesJson(const std::vector<FileRange>& ranges) {
  json out = json::array();
  for (const FileRange& r : ranges) {
    out.push_back({{"offset", r.initial_offset},
                   {"length", r.length == kLengthToEof ? json(nullptr) : json(r.length)}});
  }
  return out;
}

// {"jobs": [...]} with what `bitsadmin /list` prints of each job (docs/ipc.md).
std::string SummaryListText(const std::vector<std::shared_ptr<engine::JobData>>& jobs,
                            const std::optional<std::string>& name) {
  std::string text = R"({"jobs":[)";
  text.reserve(text.size() + jobs.size() * 160);
  bool first = true;
  for (const auto& job : jobs) {
    const store::JobRecord& r = job->rec;
    if (name && r.display_name != *name) continue;
    const JobProgress p = engine::ProgressOf(*job);
    text += first ? R"({"id":")" : R"(,{"id":")";
    first = false;
    text += r.id.ToString();
    text += R"(","name":)";
    remote::AppendJsonString(&text, r.display_name);
    text += R"(,"state":")";
    text += JobStateName(r.state);
    text += R"(","filesTotal":)";
    text += std::to_string(p.files_total);
    text += R"(,"filesTransferred":)";
    text += std::to_string(p.files_transferred);
    text += R"(,"bytesTotal":)";
    text += p.bytes_total == kSizeUnknown ? "null" : std::to_string(p.bytes_total);
    text += R"(,"bytesTransferred":)";
    text += std::to_string(p.bytes_transferred);
    text += '}';
  }
  text += "]}";
  return text;
}

json InfoJson(const JobInfo& i) {
  json j = {
      {"id", i.id.ToString()},
      {"name", i.display_name},
      {"description", i.description},
      {"type", JobTypeName(i.type)},
      {"state", JobStateName(i.state)},
      {"priority", JobPriorityName(i.priority)},
      {"owner", i.owner},
      {"filesTotal", i.progress.files_total},
      {"filesTransferred", i.progress.files_transferred},
      {"bytesTotal", Size(i.progress.bytes_total)},
      {"bytesTransferred", i.progress.bytes_transferred},
      {"creationTime", Ms(i.times.creation)},
      {"modificationTime", Ms(i.times.modification)},
      {"completionTime", Ms(i.times.transfer_completion)},
      {"errorCount", i.error_count},
      {"minRetryDelay", i.minimum_retry_delay},
      {"noProgressTimeout", i.no_progress_timeout},
      {"maxDownloadTime", i.maximum_download_time},
      {"notifyFlags", i.notify_flags},
      {"dynamicContent", i.dynamic_content},
      {"maxConcurrentFiles", i.max_concurrent_files},
  };
  json credentials = json::array();
  for (const CredentialSlot& c : i.credentials) {
    credentials.push_back(
        {{"target", AuthTargetName(c.target)}, {"scheme", AuthSchemeName(c.scheme)}});
  }
  j["credentials"] = credentials;
  j["proxyUsage"] = ProxyUsageName(i.proxy.usage);
  j["proxyList"] = i.proxy.proxy_list;
  j["proxyBypass"] = i.proxy.bypass_list;
  j["securityFlags"] = i.security_flags;
  if (i.client_certificate) {
    const ClientCertificate& c = *i.client_certificate;
    j["clientCertificate"] = {{"location", CertStoreLocationName(c.location)},
                              {"store", c.store_name},
                              {"hash", auth::ThumbprintHex(c.hash)},
                              {"subject", c.subject}};
  } else {
    j["clientCertificate"] = nullptr;
  }
  if (i.error) {
    const JobErrorInfo& e = *i.error;
    j["error"] = {{"hresult", static_cast<std::uint32_t>(e.code)},
                  {"context", static_cast<int>(e.context)},
                  {"description", e.description},
                  {"contextDescription", e.context_description},
                  {"file", e.file_index ? json(*e.file_index) : json(nullptr)},
                  {"remote", e.remote_name},
                  {"local", e.local_name},
                  {"protocol", e.protocol}};
  }
  return j;
}

}  // namespace openbits::daemon
