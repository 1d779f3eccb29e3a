// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/job_properties.h"

#include <algorithm>
#include <string>
#include <utility>

#include "openbits/hresult.h"

#include "auth/proxy_settings.h"
#include "engine/http_method.h"
#include "engine/notify_command.h"

namespace openbits::engine {
namespace {

constexpr std::uint32_t kKnownNotifyFlags = kNotifyJobTransferred | kNotifyJobError |
                                            kNotifyDisable | kNotifyJobModification |
                                            kNotifyFileTransferred;
constexpr std::uint32_t kKnownSecurityFlags =
    kSslEnableCrlCheck | kSslIgnoreCertCnInvalid | kSslIgnoreCertDateInvalid | kSslIgnoreUnknownCa |
    kSslIgnoreCertWrongUsage | kRedirectPolicyMask | kRedirectAllowHttpsToHttp;

template <typename T>
Result<const T*> ValueAs(JobProperty property, const PropertyValue& value, const char* type) {
  const T* typed = std::get_if<T>(&value);
  if (typed == nullptr) {
    return Status(kEInvalidArg, std::string(JobPropertyName(property)) + " takes " + type);
  }
  return typed;
}

bool HasRangedFiles(const store::JobRecord& job) {
  return std::any_of(job.files.begin(), job.files.end(),
                     [](const store::FileRecord& f) { return !f.ranges.empty(); });
}

Status CheckSecurityFlags(std::uint32_t flags) {
  if ((flags & ~kKnownSecurityFlags) != 0) {
    return Status(kENotImpl, "unknown security flags " +
                                 FormatHResult(static_cast<HResult>(flags & ~kKnownSecurityFlags)));
  }
  const std::uint32_t policy = flags & kRedirectPolicyMask;
  if (policy != kRedirectPolicyAllowSilent && policy != kRedirectPolicyAllowReport &&
      policy != kRedirectPolicyDisallow) {
    return Status(kEInvalidArg,
                  "the redirect policy is ALLOW_SILENT (0x0000), ALLOW_REPORT "
                  "(0x0100) or DISALLOW (0x0200)");
  }
  return Status::Ok();
}

Status ApplyText(store::JobRecord& job, JobProperty property, const std::string& text) {
  switch (property) {
    case JobProperty::kDisplayName:
      if (text.size() > kMaxDisplayName) {
        return Status(kEInvalidArg, "the display name is longer than 256 characters");
      }
      job.display_name = text;
      return Status::Ok();
    case JobProperty::kDescription:
      if (text.size() > kMaxDescription) {
        return Status(kEInvalidArg, "the description is longer than 1024 characters");
      }
      job.description = text;
      return Status::Ok();
    case JobProperty::kHttpMethod:
      OPENBITS_RETURN_IF_ERROR(ValidateHttpMethod(text));
      return ApplyHttpMethod(job, text);
    default:
      return Status(kEInvalidArg, "not a text property");
  }
}

Status ApplyNumber(store::JobRecord& job, JobProperty property, std::uint32_t n) {
  switch (property) {
    case JobProperty::kPriority:
      if (n > 3) return Status(kEInvalidArg, "unknown priority");
      if (HasCustomHttpMethod(job) && n != 0) {
        return Status(kBgENotSupportedWithCustomHttpMethod,
                      "a job with a custom HTTP method stays FOREGROUND");
      }
      job.priority = static_cast<JobPriority>(n);
      return Status::Ok();
    case JobProperty::kMinimumRetryDelay:
      job.minimum_retry_delay_s = std::max(n, kMinimumRetryDelaySeconds);
      return Status::Ok();
    case JobProperty::kNoProgressTimeout:
      job.no_progress_timeout_s = n;
      return Status::Ok();
    case JobProperty::kMaximumDownloadTime:
      job.maximum_download_time_s = n;
      return Status::Ok();
    case JobProperty::kNotifyFlags:
      if ((n & ~kKnownNotifyFlags) != 0) return Status(kENotImpl, "unknown notify flags");
      job.notify_flags = n;
      return Status::Ok();
    case JobProperty::kMinimumNotificationInterval:
      job.min_notification_interval_ms = n;
      return Status::Ok();
    case JobProperty::kMaximumConcurrentFiles:
      if (n < 1 || n > kMaxConcurrentFiles) {
        return Status(kEInvalidArg, "the maximum of concurrent files is 1..16");
      }
      job.max_concurrent_files = n;
      return Status::Ok();
    case JobProperty::kSecurityFlags:
      OPENBITS_RETURN_IF_ERROR(CheckSecurityFlags(n));
      job.security_flags = n;
      return Status::Ok();
    default:
      return Status(kEInvalidArg, "not a numeric property");
  }
}

bool TakesText(JobProperty p) {
  return p == JobProperty::kDisplayName || p == JobProperty::kDescription ||
         p == JobProperty::kHttpMethod || p == JobProperty::kCustomHeaders;
}

}  // namespace

Status ApplyProperty(store::JobRecord& job, JobProperty property, const PropertyValue& value) {
  if (property == JobProperty::kCustomHeaders) {
    return Status(kEInvalidArg, "custom headers are sealed in the vault, not in the record");
  }
  if (TakesText(property)) {
    auto text = ValueAs<std::string>(property, value, "a string");
    if (!text.ok()) return text.status();
    return ApplyText(job, property, **text);
  }
  switch (property) {
    case JobProperty::kDynamicContent: {
      auto enable = ValueAs<bool>(property, value, "a boolean");
      if (!enable.ok()) return enable.status();
      if (job.ever_resumed) {
        return Status(kBgEReadOnlyPropertyAfterResume,
                      "dynamic content can only be set before the first Resume");
      }
      if (**enable && HasRangedFiles(job)) {
        return Status(kEInvalidArg, "a job with ranged files cannot use dynamic content");
      }
      job.dynamic_content = **enable;
      return Status::Ok();
    }
    case JobProperty::kNotifyCommandLine: {
      auto line = ValueAs<NotifyCommandLine>(property, value, "{program, parameters}");
      if (!line.ok()) return line.status();
      OPENBITS_RETURN_IF_ERROR(ValidateNotifyCommand((*line)->program, (*line)->parameters));
      job.notify_program = (*line)->program;
      job.notify_parameters = (*line)->parameters;
      return Status::Ok();
    }
    case JobProperty::kProxySettings: {
      auto proxy = ValueAs<ProxySettings>(property, value, "{usage, list, bypass}");
      if (!proxy.ok()) return proxy.status();
      const ProxySettings& p = **proxy;
      OPENBITS_RETURN_IF_ERROR(auth::ValidateProxySettings(p.usage, p.proxy_list, p.bypass_list));
      job.proxy_usage = p.usage;
      job.proxy_list = p.proxy_list;
      job.proxy_bypass = p.bypass_list;
      return Status::Ok();
    }
    default: {
      auto n = ValueAs<std::uint32_t>(property, value, "a 32-bit unsigned number");
      if (!n.ok()) return n.status();
      return ApplyNumber(job, property, **n);
    }
  }
}

PropertyValue ReadProperty(const store::JobRecord& job, JobProperty property) {
  switch (property) {
    case JobProperty::kDynamicContent:
      return job.dynamic_content;
    case JobProperty::kMinimumNotificationInterval:
      return job.min_notification_interval_ms;
    case JobProperty::kDisplayName:
      return job.display_name;
    case JobProperty::kDescription:
      return job.description;
    case JobProperty::kPriority:
      return static_cast<std::uint32_t>(job.priority);
    case JobProperty::kMinimumRetryDelay:
      return job.minimum_retry_delay_s;
    case JobProperty::kNoProgressTimeout:
      return job.no_progress_timeout_s;
    case JobProperty::kMaximumDownloadTime:
      return job.maximum_download_time_s;
    case JobProperty::kNotifyFlags:
      return job.notify_flags;
    case JobProperty::kNotifyCommandLine:
      return NotifyCommandLine{job.notify_program, job.notify_parameters};
    case JobProperty::kHttpMethod:
      return job.http_method;
    case JobProperty::kProxySettings:
      return ProxySettings{job.proxy_usage, job.proxy_list, job.proxy_bypass};
    case JobProperty::kMaximumConcurrentFiles:
      return job.max_concurrent_files;
    case JobProperty::kSecurityFlags:
      return job.security_flags;
    case JobProperty::kCustomHeaders:
      break;
  }
  return std::string();
}

store::JobRecord CopyRow(store::JobRecord& job) {
  std::vector<store::FileRecord> files = std::move(job.files);
  std::vector<store::SecretRecord> secrets = std::move(job.secrets);
  store::JobRecord row = job;
  job.files = std::move(files);
  job.secrets = std::move(secrets);
  return row;
}

void RestoreRow(store::JobRecord& job, store::JobRecord row) {
  row.files = std::move(job.files);
  row.secrets = std::move(job.secrets);
  job = std::move(row);
}

}  // namespace openbits::engine
