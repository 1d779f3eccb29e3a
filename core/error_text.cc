// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Names and English descriptions of the codes openbits reports. The texts
// follow the MessageText of the Windows SDK's bitsmsg.h and winhttp.h.

#include <cstdio>
#include <string>
#include <string_view>

#include "openbits/hresult.h"
#include "openbits/status.h"
#include "openbits/types.h"

namespace openbits {
namespace {

struct CodeText {
  HResult code;
  std::string_view name;
  std::string_view text;
};

constexpr CodeText kCodes[] = {
    {kSOk, "S_OK", "The operation completed successfully."},
    {kEFail, "E_FAIL", "Unspecified error."},
    {kENotImpl, "E_NOTIMPL", "Not implemented."},
    {kEAbort, "E_ABORT", "Operation aborted."},
    {kEInvalidArg, "E_INVALIDARG", "The parameter is incorrect."},
    {kEAccessDenied, "E_ACCESSDENIED", "Access is denied."},
    {kEOutOfMemory, "E_OUTOFMEMORY",
     "Not enough memory resources are available to complete this operation."},
    {kEFileNotFound, "ERROR_FILE_NOT_FOUND", "The system cannot find the file specified."},
    {kEPathNotFound, "ERROR_PATH_NOT_FOUND", "The system cannot find the path specified."},
    {kEDiskFull, "ERROR_DISK_FULL", "There is not enough space on the disk."},
    {kEFileExists, "ERROR_FILE_EXISTS", "The file exists."},
    {kEWriteFault, "ERROR_WRITE_FAULT", "The system cannot write to the specified device."},
    {kETooManyOpenFiles, "ERROR_TOO_MANY_OPEN_FILES", "The system cannot open the file."},
    {kBgSPartialComplete, "BG_S_PARTIAL_COMPLETE",
     "Some of the transferred files were deleted because they were incomplete."},
    {kBgSUnableToDeleteFiles, "BG_S_UNABLE_TO_DELETE_FILES",
     "BITS was unable to delete all the temporary files associated with the job."},
    {kBgENewOwnerDiffMapping, "BG_E_NEW_OWNER_DIFF_MAPPING",
     "The new owner has insufficient access to the local files for the job."},
    {kBgENewOwnerNoFileAccess, "BG_E_NEW_OWNER_NO_FILE_ACCESS",
     "The new owner has insufficient access to the temporary directory."},
    {kBgENotSupportedWithCustomHttpMethod, "BG_E_NOT_SUPPORTED_WITH_CUSTOM_HTTP_METHOD",
     "The operation is not supported with a custom HTTP method."},
    {kBgEProxyListTooLarge, "BG_E_PROXY_LIST_TOO_LARGE",
     "The length of the proxy list exceeds the maximum (32,767 characters)."},
    {kBgEProxyBypassListTooLarge, "BG_E_PROXY_BYPASS_LIST_TOO_LARGE",
     "The length of the proxy bypass list exceeds the maximum (32,767 characters)."},
    {kBgEInvalidProxyInfo, "BG_E_INVALID_PROXY_INFO",
     "The proxy list or proxy bypass list is not valid, or the proxy server could not be used."},
    {kBgEUsernameTooLarge, "BG_E_USERNAME_TOO_LARGE",
     "The user name cannot exceed 300 characters."},
    {kBgEPasswordTooLarge, "BG_E_PASSWORD_TOO_LARGE",
     "The password cannot exceed 65536 characters."},
    {kBgEInvalidAuthTarget, "BG_E_INVALID_AUTH_TARGET",
     "The authentication target specified in the credentials is not defined."},
    {kBgEInvalidAuthScheme, "BG_E_INVALID_AUTH_SCHEME",
     "The authentication scheme specified in the credentials is not defined."},
    {kNteBadData, "NTE_BAD_DATA", "Bad Data."},
    {kNteNoKey, "NTE_NO_KEY", "Key does not exist."},
    {kBgENotFound, "BG_E_NOT_FOUND", "The requested job was not found."},
    {kBgEInvalidState, "BG_E_INVALID_STATE",
     "The requested action is not allowed in the current job state. The job might have been "
     "canceled or completed transferring. It is in a read-only state now."},
    {kBgEEmpty, "BG_E_EMPTY",
     "There are no files attached to this job. Attach files to the job, and then try again."},
    {kBgEFileNotAvailable, "BG_E_FILE_NOT_AVAILABLE",
     "No file is available because no URL generated an error."},
    {kBgEProtocolNotAvailable, "BG_E_PROTOCOL_NOT_AVAILABLE",
     "No protocol is available because no URL generated an error."},
    {kBgEErrorInformationUnavailable, "BG_E_ERROR_INFORMATION_UNAVAILABLE",
     "Error information is not available."},
    {kBgENetworkDisconnected, "BG_E_NETWORK_DISCONNECTED",
     "A connection could not be established to the server. BITS will try again when a network "
     "connection is available."},
    {kBgEMissingFileSize, "BG_E_MISSING_FILE_SIZE",
     "The server did not return the file size. The URL might point to dynamic content. The "
     "Content-Length header is not available in the server's HTTP reply."},
    {kBgEInsufficientHttpSupport, "BG_E_INSUFFICIENT_HTTP_SUPPORT",
     "The server does not support HTTP 1.1."},
    {kBgEInsufficientRangeSupport, "BG_E_INSUFFICIENT_RANGE_SUPPORT",
     "The server does not support the necessary HTTP protocol. Background Intelligent Transfer "
     "Service (BITS) requires that the server support the Range protocol header."},
    {kBgEInvalidServerResponse, "BG_E_INVALID_SERVER_RESPONSE",
     "The server's response was not valid. The server was not following the defined protocol. "
     "Resume the job, and then Background Intelligent Transfer Service (BITS) will try again."},
    {kBgETooManyFiles, "BG_E_TOO_MANY_FILES",
     "Upload jobs can only contain one file. Add only one file to the job, and then try again."},
    {kBgEStringTooLong, "BG_E_STRING_TOO_LONG", "The specified string is too long."},
    {kBgENoProgress, "BG_E_NO_PROGRESS",
     "The job is not making headway. The server may be misconfigured. Background Intelligent "
     "Transfer Service (BITS) will try again later."},
    {kBgEFileNotFound, "BG_E_FILE_NOT_FOUND",
     "The specified file name does not match any of the files in the job."},
    {kBgEInvalidRange, "BG_E_INVALID_RANGE",
     "One of the byte ranges is not valid: it is empty, or it lies beyond the end of the remote "
     "file."},
    {kBgEOverlappingRanges, "BG_E_OVERLAPPING_RANGES",
     "The list of byte ranges contains some overlapping ranges, which are not supported."},
    {kBgEConnectFailure, "BG_E_CONNECT_FAILURE", "A connection could not be established."},
    {kBgEConnectionClosed, "BG_E_CONNECTION_CLOSED", "The connection was closed prematurely."},
    {kBgETooManyJobsPerUser, "BG_E_TOO_MANY_JOBS_PER_USER",
     "The job count for the user has exceeded the per user job limit."},
    {kBgETooManyFilesInJob, "BG_E_TOO_MANY_FILES_IN_JOB",
     "The number of files in the job has exceeded the per job limit."},
    {kBgETooManyRangesInFile, "BG_E_TOO_MANY_RANGES_IN_FILE",
     "The number of ranges in the file has exceeded the per file limit."},
    {kBgEMaxDownloadTimeout, "BG_E_MAXDOWNLOAD_TIMEOUT",
     "The job was not completed within the maximum download time."},
    {kBgEDatabaseCorrupt, "BG_E_DATABASE_CORRUPT",
     "The job queue database is corrupt or was written by a newer version."},
    {kBgERemoteFileChanged, "BG_E_REMOTE_FILE_CHANGED",
     "The remote file has changed during the transfer. Call Resume to retry."},
    {kBgEReadOnlyWhenJobActive, "BG_E_READ_ONLY_WHEN_JOB_ACTIVE",
     "The property can only be changed when the job is suspended, in error or transferred."},
    {kBgEPropertySupportedForDownloadJobsOnly, "BG_E_PROPERTY_SUPPORTED_FOR_DOWNLOAD_JOBS_ONLY",
     "This property is supported for download jobs only."},
    {kBgEReadOnlyPropertyAfterAddFile, "BG_E_READ_ONLY_PROPERTY_AFTER_ADDFILE",
     "This property cannot be changed after a file has been added to the job."},
    {kBgEReadOnlyPropertyAfterResume, "BG_E_READ_ONLY_PROPERTY_AFTER_RESUME",
     "This property cannot be changed after the job has been resumed."},
    {kBgEErrorContextUnknown, "BG_E_ERROR_CONTEXT_UNKNOWN",
     "The error occurred in an unknown location."},
    {kBgEErrorContextGeneralQueueManager, "BG_E_ERROR_CONTEXT_GENERAL_QUEUE_MANAGER",
     "The error occurred in the Background Intelligent Transfer Service (BITS) queue manager."},
    {kBgEErrorContextLocalFile, "BG_E_ERROR_CONTEXT_LOCAL_FILE",
     "The error occurred while the local file was being processed. Verify that the file is not in "
     "use, and then try again."},
    {kBgEErrorContextRemoteFile, "BG_E_ERROR_CONTEXT_REMOTE_FILE",
     "The error occurred while the remote file was being processed."},
    {kBgEErrorContextGeneralTransport, "BG_E_ERROR_CONTEXT_GENERAL_TRANSPORT",
     "The error occurred in the transport layer. The client could not connect to the server."},
    {kBgEErrorContextQueueManagerNotification, "BG_E_ERROR_CONTEXT_QUEUE_MANAGER_NOTIFICATION",
     "The error occurred while the notification callback was being processed. Background "
     "Intelligent Transfer Service (BITS) will try again later."},
    {kWinHttpTimeout, "ERROR_WINHTTP_TIMEOUT", "The operation timed out."},
    {kWinHttpUnrecognizedScheme, "ERROR_WINHTTP_UNRECOGNIZED_SCHEME",
     "The URL does not use a recognized protocol."},
    {kWinHttpNameNotResolved, "ERROR_WINHTTP_NAME_NOT_RESOLVED",
     "The server name or address could not be resolved."},
    {kWinHttpCannotConnect, "ERROR_WINHTTP_CANNOT_CONNECT",
     "A connection with the server could not be established."},
    {kWinHttpConnectionError, "ERROR_WINHTTP_CONNECTION_ERROR",
     "The connection with the server was terminated abnormally."},
    {kWinHttpClientAuthCertNeeded, "ERROR_WINHTTP_CLIENT_AUTH_CERT_NEEDED",
     "A certificate is required to complete client authentication."},
    {kWinHttpInvalidServerResponse, "ERROR_WINHTTP_INVALID_SERVER_RESPONSE",
     "The server response could not be parsed."},
    {kWinHttpRedirectFailed, "ERROR_WINHTTP_REDIRECT_FAILED",
     "The redirection failed because either the scheme changed or all attempts made to redirect "
     "failed."},
    {kWinHttpSecureChannelError, "ERROR_WINHTTP_SECURE_CHANNEL_ERROR",
     "An error occurred in the secure channel support."},
    {kWinHttpSecureFailure, "ERROR_WINHTTP_SECURE_FAILURE",
     "A security error occurred: the server's certificate was not accepted."},
    {kWinHttpSecureCertDateInvalid, "ERROR_WINHTTP_SECURE_CERT_DATE_INVALID",
     "The server's certificate has expired or is not yet valid."},
    {kWinHttpSecureCertCnInvalid, "ERROR_WINHTTP_SECURE_CERT_CN_INVALID",
     "The server's certificate does not name the host that was requested."},
    {kWinHttpSecureInvalidCa, "ERROR_WINHTTP_SECURE_INVALID_CA",
     "The server's certificate was issued by an authority that is not trusted."},
    {kWinHttpSecureCertRevFailed, "ERROR_WINHTTP_SECURE_CERT_REV_FAILED",
     "The revocation of the server's certificate could not be checked: no certificate "
     "revocation list was available."},
    {kWinHttpSecureInvalidCert, "ERROR_WINHTTP_SECURE_INVALID_CERT",
     "The server's certificate is invalid."},
    {kWinHttpSecureCertRevoked, "ERROR_WINHTTP_SECURE_CERT_REVOKED",
     "The server's certificate has been revoked."},
    {kWinHttpSecureCertWrongUsage, "ERROR_WINHTTP_SECURE_CERT_WRONG_USAGE",
     "The server's certificate is not valid for the requested usage."},
    {kWinHttpAutoProxyServiceError, "ERROR_WINHTTP_AUTO_PROXY_SERVICE_ERROR",
     "A proxy for the specified URL cannot be located."},
    {kWinHttpAutodetectionFailed, "ERROR_WINHTTP_AUTODETECTION_FAILED",
     "WinHTTP was unable to discover the URL of the Proxy Auto-Configuration (PAC) file."},
    {kCryptENotFound, "CRYPT_E_NOT_FOUND", "Cannot find object or property."},
    {kCertEExpired, "CERT_E_EXPIRED",
     "A required certificate is not within its validity period when verifying against the "
     "current system clock or the timestamp in the signed file."},
    {kCryptENoKeyProperty, "CRYPT_E_NO_KEY_PROPERTY",
     "Cannot find the certificate and private key for decryption."},
    {kEInvalidPassword, "ERROR_INVALID_PASSWORD", "The specified network password is not correct."},
    {kENotFound, "ERROR_NOT_FOUND", "Element not found."},
};

const CodeText* Find(HResult code) {
  for (const CodeText& c : kCodes) {
    if (c.code == code) return &c;
  }
  return nullptr;
}

std::string_view HttpStatusText(int status) {
  switch (status) {
    case 204:
      return "The server has fulfilled the request but there is no new information to send back.";
    case 206:
      return "The server returned partial content that was not asked for.";
    case 300:
      return "The requested resource is available at multiple locations.";
    case 301:
      return "The requested resource has moved permanently.";
    case 302:
      return "The requested resource has moved temporarily.";
    case 304:
      return "The server's response was not valid. Resume the job, and then Background Intelligent "
             "Transfer Service (BITS) will try again.";
    case 400:
      return "The request could not be processed by the server due to invalid syntax.";
    case 401:
      return "The requested resource requires user authentication.";
    case 402:
      return "The server's response was not valid. Resume the job, and then Background Intelligent "
             "Transfer Service (BITS) will try again.";
    case 403:
      return "The client does not have sufficient access rights to the requested server object.";
    case 404:
      return "The requested URL does not exist on the server.";
    case 405:
      return "The HTTP verb used is not allowed.";
    case 406:
      return "No responses acceptable to the client were found.";
    case 407:
      return "Proxy authentication is required.";
    case 408:
      return "The server timed out waiting for the request.";
    case 409:
      return "The request could not be completed because of a conflict with the current state of "
             "the resource.";
    case 410:
      return "The requested resource is no longer available at the server, and no forwarding "
             "address is known.";
    case 411:
      return "The server cannot accept the request without a defined content length.";
    case 412:
      return "The precondition given in one or more of the request header fields evaluated to "
             "false.";
    case 413:
      return "The server cannot process the request because the request entity is too large.";
    case 414:
      return "The server cannot process the request because the request URI is too long.";
    case 415:
      return "The server cannot process the request because of an unsupported media type.";
    case 416:
      return "The server could not satisfy the range request.";
    case 417:
      return "The server could not meet the expectation given in an Expect request-header field.";
    case 429:
      return "The server is rate-limiting the client (too many requests).";
    case 500:
      return "An unexpected condition prevented the server from fulfilling the request.";
    case 501:
      return "The server does not support the functionality required to fulfill the request.";
    case 502:
      return "The server, while acting as a gateway or proxy, received an invalid response from "
             "the upstream server.";
    case 503:
      return "The service is temporarily overloaded.";
    case 504:
      return "The request was timed out waiting for a gateway.";
    case 505:
      return "The server does not support the HTTP protocol version that was used in the request "
             "message.";
    default:
      return {};
  }
}

}  // namespace

std::string FormatHResult(HResult code) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(code));
  return buf;
}

std::string ErrorName(HResult code) {
  if (const CodeText* c = Find(code)) return std::string(c->name);
  if (int http = HttpStatusOf(code); http != 0) {
    return "BG_E_HTTP_ERROR_" + std::to_string(http);
  }
  return {};
}

std::string ErrorDescription(HResult code) {
  if (const CodeText* c = Find(code)) return std::string(c->text);
  if (int http = HttpStatusOf(code); http != 0) {
    std::string_view text = HttpStatusText(http);
    if (!text.empty()) return std::string(text);
    return "The server returned HTTP status " + std::to_string(http) + ".";
  }
  return "Unknown error " + FormatHResult(code) + ".";
}

std::string Status::ToString() const {
  if (code_ == 0 && message_.empty()) return "OK";
  std::string out = FormatHResult(code_);
  std::string name = ErrorName(code_);
  if (!name.empty()) out += " " + name;
  out += ": ";
  out += message_.empty() ? ErrorDescription(code_) : message_;
  return out;
}

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "QUEUED";
    case JobState::kConnecting:
      return "CONNECTING";
    case JobState::kTransferring:
      return "TRANSFERRING";
    case JobState::kSuspended:
      return "SUSPENDED";
    case JobState::kError:
      return "ERROR";
    case JobState::kTransientError:
      return "TRANSIENT_ERROR";
    case JobState::kTransferred:
      return "TRANSFERRED";
    case JobState::kAcknowledged:
      return "ACKNOWLEDGED";
    case JobState::kCancelled:
      return "CANCELED";
    case JobState::kUnknown:
      break;
  }
  return "UNKNOWN";
}

std::string_view ProxyUsageName(ProxyUsage usage) {
  switch (usage) {
    case ProxyUsage::kPreconfig:
      return "PRECONFIG";
    case ProxyUsage::kNoProxy:
      return "NO_PROXY";
    case ProxyUsage::kOverride:
      return "OVERRIDE";
    case ProxyUsage::kAutodetect:
      return "AUTODETECT";
  }
  return "";
}

std::string_view CertStoreLocationName(CertStoreLocation location) {
  switch (location) {
    case CertStoreLocation::kCurrentUser:
      return "CURRENT_USER";
    case CertStoreLocation::kLocalMachine:
      return "LOCAL_MACHINE";
    case CertStoreLocation::kCurrentService:
      return "CURRENT_SERVICE";
    case CertStoreLocation::kServices:
      return "SERVICES";
    case CertStoreLocation::kUsers:
      return "USERS";
    case CertStoreLocation::kCurrentUserGroupPolicy:
      return "CURRENT_USER_GROUP_POLICY";
    case CertStoreLocation::kLocalMachineGroupPolicy:
      return "LOCAL_MACHINE_GROUP_POLICY";
    case CertStoreLocation::kLocalMachineEnterprise:
      return "LOCAL_MACHINE_ENTERPRISE";
  }
  return "";
}

std::string_view AuthTargetName(AuthTarget target) {
  switch (target) {
    case AuthTarget::kServer:
      return "SERVER";
    case AuthTarget::kProxy:
      return "PROXY";
  }
  return "";
}

std::string_view AuthSchemeName(AuthScheme scheme) {
  switch (scheme) {
    case AuthScheme::kBasic:
      return "BASIC";
    case AuthScheme::kDigest:
      return "DIGEST";
    case AuthScheme::kNtlm:
      return "NTLM";
    case AuthScheme::kNegotiate:
      return "NEGOTIATE";
    case AuthScheme::kPassport:
      return "PASSPORT";
  }
  return "";
}

std::string_view JobTypeName(JobType type) {
  switch (type) {
    case JobType::kDownload:
      return "DOWNLOAD";
    case JobType::kUpload:
      return "UPLOAD";
    case JobType::kUploadReply:
      return "UPLOAD-REPLY";
  }
  return "UNKNOWN";
}

std::string_view JobPriorityName(JobPriority priority) {
  switch (priority) {
    case JobPriority::kForeground:
      return "FOREGROUND";
    case JobPriority::kHigh:
      return "HIGH";
    case JobPriority::kNormal:
      return "NORMAL";
    case JobPriority::kLow:
      return "LOW";
  }
  return "UNKNOWN";
}

namespace {

struct PropertyNameEntry {
  JobProperty property;
  std::string_view name;
};

// The daemon's wire names (docs/ipc.md, job.set).
constexpr PropertyNameEntry kPropertyNames[] = {
    {JobProperty::kDynamicContent, "dynamicContent"},
    {JobProperty::kMinimumNotificationInterval, "minNotificationInterval"},
    {JobProperty::kDisplayName, "displayName"},
    {JobProperty::kDescription, "description"},
    {JobProperty::kPriority, "priority"},
    {JobProperty::kMinimumRetryDelay, "minRetryDelay"},
    {JobProperty::kNoProgressTimeout, "noProgressTimeout"},
    {JobProperty::kMaximumDownloadTime, "maxDownloadTime"},
    {JobProperty::kNotifyFlags, "notifyFlags"},
    {JobProperty::kNotifyCommandLine, "notifyCmdLine"},
    {JobProperty::kHttpMethod, "httpMethod"},
    {JobProperty::kProxySettings, "proxySettings"},
    {JobProperty::kMaximumConcurrentFiles, "maxConcurrentFiles"},
    {JobProperty::kSecurityFlags, "securityFlags"},
    {JobProperty::kCustomHeaders, "customHeaders"},
};

}  // namespace

std::string_view JobPropertyName(JobProperty property) {
  for (const PropertyNameEntry& e : kPropertyNames) {
    if (e.property == property) return e.name;
  }
  return "";
}

Result<JobProperty> ParseJobPropertyName(std::string_view name) {
  for (const PropertyNameEntry& e : kPropertyNames) {
    if (e.name == name) return e.property;
  }
  return Status(kEInvalidArg, "unknown property " + std::string(name));
}

std::string ErrorContextDescription(ErrorContext context) {
  switch (context) {
    case ErrorContext::kNone:
      return "No error context.";
    case ErrorContext::kUnknown:
      return ErrorDescription(kBgEErrorContextUnknown);
    case ErrorContext::kGeneralQueueManager:
      return ErrorDescription(kBgEErrorContextGeneralQueueManager);
    case ErrorContext::kQueueManagerNotification:
      return ErrorDescription(kBgEErrorContextQueueManagerNotification);
    case ErrorContext::kLocalFile:
      return ErrorDescription(kBgEErrorContextLocalFile);
    case ErrorContext::kRemoteFile:
      return ErrorDescription(kBgEErrorContextRemoteFile);
    case ErrorContext::kGeneralTransport:
      return ErrorDescription(kBgEErrorContextGeneralTransport);
    case ErrorContext::kRemoteApplication:
      return "The error was generated by the server application.";
  }
  return ErrorDescription(kBgEErrorContextUnknown);
}

}  // namespace openbits
