// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/job_view.h"

#include <optional>
#include <utility>

#include "openbits/hresult.h"

#include "auth/client_certificate.h"
#include "auth/credentials.h"
#include "auth/request_policy.h"

namespace openbits::engine {
namespace {

std::optional<ClientCertificate> ClientCertificateOf(const store::JobRecord& r) {
  if (r.cert_location < 0) return std::nullopt;
  ClientCertificate c;
  c.location = static_cast<CertStoreLocation>(r.cert_location);
  c.store_name = r.cert_store;
  if (auto hash = auth::ParseThumbprint(r.cert_hash); hash.ok()) c.hash = *hash;
  c.subject = r.cert_subject;
  return c;
}

}  // namespace

FileProgress FileProgressOf(const JobData& job, std::uint32_t index) {
  const store::FileRecord& f = job.rec.files.at(index);
  FileProgress p;
  for (const std::shared_ptr<FileTransfer>& transfer : job.transfers) {
    if (transfer->file().index != index) continue;
    const store::FileRecord& live = transfer->file();
    p.bytes_total = live.bytes_total;
    p.bytes_transferred = transfer->bytes_written();
    p.completed = live.completed;
    return p;
  }
  p.bytes_total = f.bytes_total;
  p.bytes_transferred = f.bytes_transferred;
  p.completed = f.completed;
  return p;
}
JobProgress ProgressOf(const JobData& job) {
  JobProgress p;
  p.files_total = static_cast<std::uint32_t>(job.rec.files.size());
  for (std::uint32_t i = 0; i < job.rec.files.size(); ++i) {
    FileProgress f = FileProgressOf(job, i);
    if (f.bytes_total == kSizeUnknown || p.bytes_total == kSizeUnknown) {
      p.bytes_total = kSizeUnknown;
    } else {
      p.bytes_total += f.bytes_total;
    }
    p.bytes_transferred += f.bytes_transferred;
    if (f.completed) ++p.files_transferred;
  }
  return p;
}
Result<JobErrorInfo> ErrorOf(const JobData& job) {
  const store::JobRecord& r = job.rec;
  if (r.error_code == 0) {
    return Status(kBgEErrorInformationUnavailable, "the job has no error");
  }
  JobErrorInfo e;
  e.code = r.error_code;
  e.context = r.error_context;
  e.description = ErrorDescription(r.error_code);
  if (!r.error_description.empty()) e.description += " (" + r.error_description + ")";
  e.context_description = ErrorContextDescription(r.error_context);
  if (r.error_file >= 0 && static_cast<std::size_t>(r.error_file) < r.files.size()) {
    const store::FileRecord& f = r.files[static_cast<std::size_t>(r.error_file)];
    e.file_index = static_cast<std::uint32_t>(r.error_file);
    e.remote_name = auth::RedactUrl(f.remote_name);
    e.local_name = f.local_name;
    e.protocol = f.remote_name.rfind("https:", 0) == 0 ? "https" : "http";
  }
  return e;
}
JobInfo InfoOf(const JobData& job) {
  const store::JobRecord& r = job.rec;
  JobInfo info;
  info.id = r.id;
  info.type = r.type;
  info.state = r.state;
  info.priority = r.priority;
  info.owner = r.owner;
  info.display_name = r.display_name;
  info.description = r.description;
  info.progress = ProgressOf(job);
  auto at = [](std::int64_t ms) {
    return ms == 0 ? std::chrono::system_clock::time_point{}
                   : std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
  };
  info.times =
      JobTimes{at(r.creation_time_ms), at(r.modification_time_ms), at(r.completion_time_ms)};
  info.error_count = r.error_count;
  if (auto e = ErrorOf(job); e.ok()) info.error = std::move(*e);
  info.minimum_retry_delay = r.minimum_retry_delay_s;
  info.no_progress_timeout = r.no_progress_timeout_s;
  info.maximum_download_time = r.maximum_download_time_s;
  info.notify_flags = r.notify_flags;
  info.max_concurrent_files = r.max_concurrent_files;
  info.dynamic_content = r.dynamic_content;
  info.proxy = ProxySettings{r.proxy_usage, r.proxy_list, r.proxy_bypass};
  info.security_flags = r.security_flags;
  if (auto certificate = ClientCertificateOf(r)) info.client_certificate = std::move(*certificate);
  for (const store::SecretRecord& secret : r.secrets) {
    CredentialSlot slot;
    if (auth::ParseCredentialPurpose(secret.purpose, &slot)) info.credentials.push_back(slot);
  }
  return info;
}

}  // namespace openbits::engine
