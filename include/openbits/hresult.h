// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The HRESULT values openbits reports, with the numbers Microsoft BITS uses
// (bitsmsg.h, winerror.h). Names follow BITS with a `k` prefix and CamelCase:
// BG_E_NOT_FOUND is kBgENotFound. ErrorName() gives back the Windows name.

#ifndef OPENBITS_HRESULT_H_
#define OPENBITS_HRESULT_H_

#include <string>

#include "openbits/status.h"

namespace openbits {

constexpr HResult MakeHResult(std::uint32_t value) { return static_cast<HResult>(value); }

// Generic COM / Win32 codes.
inline constexpr HResult kSOk = 0;
inline constexpr HResult kEFail = MakeHResult(0x80004005);
inline constexpr HResult kENotImpl = MakeHResult(0x80004001);
inline constexpr HResult kEAbort = MakeHResult(0x80004004);
inline constexpr HResult kEInvalidArg = MakeHResult(0x80070057);
inline constexpr HResult kEAccessDenied = MakeHResult(0x80070005);
inline constexpr HResult kEOutOfMemory = MakeHResult(0x8007000E);
inline constexpr HResult kEFileNotFound = MakeHResult(0x80070002);  // ERROR_FILE_NOT_FOUND
inline constexpr HResult kEPathNotFound = MakeHResult(0x80070003);  // ERROR_PATH_NOT_FOUND
inline constexpr HResult kEDiskFull = MakeHResult(0x80070070);      // ERROR_DISK_FULL
inline constexpr HResult kEFileExists = MakeHResult(0x80070050);    // ERROR_FILE_EXISTS
inline constexpr HResult kEWriteFault = MakeHResult(0x8007001D);    // ERROR_WRITE_FAULT
inline constexpr HResult kETooManyOpenFiles = MakeHResult(0x80070004);

// BITS success codes.
inline constexpr HResult kBgSPartialComplete = MakeHResult(0x00200017);
inline constexpr HResult kBgSUnableToDeleteFiles = MakeHResult(0x0020001A);

// BITS failure codes (bitsmsg.h).
inline constexpr HResult kBgENotFound = MakeHResult(0x80200001);
inline constexpr HResult kBgEInvalidState = MakeHResult(0x80200002);
inline constexpr HResult kBgEEmpty = MakeHResult(0x80200003);
inline constexpr HResult kBgEFileNotAvailable = MakeHResult(0x80200004);
inline constexpr HResult kBgEProtocolNotAvailable = MakeHResult(0x80200005);
inline constexpr HResult kBgEErrorInformationUnavailable = MakeHResult(0x8020000F);
inline constexpr HResult kBgENetworkDisconnected = MakeHResult(0x80200010);
inline constexpr HResult kBgEMissingFileSize = MakeHResult(0x80200011);
inline constexpr HResult kBgEInsufficientHttpSupport = MakeHResult(0x80200012);
inline constexpr HResult kBgEInsufficientRangeSupport = MakeHResult(0x80200013);
inline constexpr HResult kBgEInvalidServerResponse = MakeHResult(0x8020001B);
inline constexpr HResult kBgETooManyFiles = MakeHResult(0x8020001C);
inline constexpr HResult kBgEStringTooLong = MakeHResult(0x80200021);
inline constexpr HResult kBgENoProgress = MakeHResult(0x80200024);
inline constexpr HResult kBgEFileNotFound = MakeHResult(0x80200029);
inline constexpr HResult kBgEInvalidRange = MakeHResult(0x8020002B);
inline constexpr HResult kBgEOverlappingRanges = MakeHResult(0x8020002C);
inline constexpr HResult kBgEConnectFailure = MakeHResult(0x8020002D);
inline constexpr HResult kBgEConnectionClosed = MakeHResult(0x8020002E);
inline constexpr HResult kBgETooManyJobsPerUser = MakeHResult(0x80200049);
inline constexpr HResult kBgETooManyFilesInJob = MakeHResult(0x80200051);
inline constexpr HResult kBgETooManyRangesInFile = MakeHResult(0x80200052);
inline constexpr HResult kBgEMaxDownloadTimeout = MakeHResult(0x80200054);
inline constexpr HResult kBgEDatabaseCorrupt = MakeHResult(0x8020006C);
inline constexpr HResult kBgERemoteFileChanged = MakeHResult(0x80200073);
inline constexpr HResult kBgEReadOnlyWhenJobActive = MakeHResult(0x80200075);
inline constexpr HResult kBgEPropertySupportedForDownloadJobsOnly = MakeHResult(0x80200060);
inline constexpr HResult kBgEReadOnlyPropertyAfterAddFile = MakeHResult(0x80200061);
inline constexpr HResult kBgEReadOnlyPropertyAfterResume = MakeHResult(0x80200062);
inline constexpr HResult kBgENewOwnerDiffMapping = MakeHResult(0x80200015);
inline constexpr HResult kBgENewOwnerNoFileAccess = MakeHResult(0x80200016);
inline constexpr HResult kBgENotSupportedWithCustomHttpMethod = MakeHResult(0x80200071);
inline constexpr HResult kBgEProxyListTooLarge = MakeHResult(0x80200018);
inline constexpr HResult kBgEProxyBypassListTooLarge = MakeHResult(0x80200019);
inline constexpr HResult kBgEInvalidProxyInfo = MakeHResult(0x8020003F);
inline constexpr HResult kBgEUsernameTooLarge = MakeHResult(0x80200025);
inline constexpr HResult kBgEPasswordTooLarge = MakeHResult(0x80200026);
inline constexpr HResult kBgEInvalidAuthTarget = MakeHResult(0x80200027);
inline constexpr HResult kBgEInvalidAuthScheme = MakeHResult(0x80200028);

// Cryptography codes (winerror.h NTE_*), used by the credential vault: a
// sealed secret that fails to open, and a key that is missing or wrong.
inline constexpr HResult kNteBadData = MakeHResult(0x80090005);
inline constexpr HResult kNteNoKey = MakeHResult(0x8009000D);

// BITS error-context description codes (BG_E_ERROR_CONTEXT_*).
inline constexpr HResult kBgEErrorContextUnknown = MakeHResult(0x80200007);
inline constexpr HResult kBgEErrorContextGeneralQueueManager = MakeHResult(0x80200008);
inline constexpr HResult kBgEErrorContextLocalFile = MakeHResult(0x80200009);
inline constexpr HResult kBgEErrorContextRemoteFile = MakeHResult(0x8020000A);
inline constexpr HResult kBgEErrorContextGeneralTransport = MakeHResult(0x8020000B);
inline constexpr HResult kBgEErrorContextQueueManagerNotification = MakeHResult(0x8020000C);

// WinHTTP transport errors, as HRESULT_FROM_WIN32 (0x80072xxx).
inline constexpr HResult kWinHttpTimeout = MakeHResult(0x80072EE2);
inline constexpr HResult kWinHttpUnrecognizedScheme = MakeHResult(0x80072EE6);
inline constexpr HResult kWinHttpNameNotResolved = MakeHResult(0x80072EE7);
inline constexpr HResult kWinHttpCannotConnect = MakeHResult(0x80072EFD);
inline constexpr HResult kWinHttpConnectionError = MakeHResult(0x80072EFE);
inline constexpr HResult kWinHttpClientAuthCertNeeded = MakeHResult(0x80072F0C);
inline constexpr HResult kWinHttpInvalidServerResponse = MakeHResult(0x80072F78);
inline constexpr HResult kWinHttpRedirectFailed = MakeHResult(0x80072F7C);
inline constexpr HResult kWinHttpSecureChannelError = MakeHResult(0x80072F7D);
inline constexpr HResult kWinHttpSecureFailure = MakeHResult(0x80072F8F);
inline constexpr HResult kWinHttpSecureCertDateInvalid = MakeHResult(0x80072F05);
inline constexpr HResult kWinHttpSecureCertCnInvalid = MakeHResult(0x80072F06);
inline constexpr HResult kWinHttpSecureInvalidCa = MakeHResult(0x80072F0D);
inline constexpr HResult kWinHttpSecureCertRevFailed = MakeHResult(0x80072F19);
inline constexpr HResult kWinHttpSecureInvalidCert = MakeHResult(0x80072F89);
inline constexpr HResult kWinHttpSecureCertRevoked = MakeHResult(0x80072F8A);
inline constexpr HResult kWinHttpSecureCertWrongUsage = MakeHResult(0x80072F93);
// The proxy for a URL could not be found: the PAC script could not be run
// (AUTO_PROXY_SERVICE_ERROR), or proxy discovery did not answer
// (AUTODETECTION_FAILED).
inline constexpr HResult kWinHttpAutoProxyServiceError = MakeHResult(0x80072F92);
inline constexpr HResult kWinHttpAutodetectionFailed = MakeHResult(0x80072F94);

// Certificate store codes (winerror.h), returned when choosing a client
// certificate: none matches, it has expired, it has no private key, its
// password is missing or wrong, the job has none.
inline constexpr HResult kCryptENotFound = MakeHResult(0x80092004);
inline constexpr HResult kCertEExpired = MakeHResult(0x800B0101);
inline constexpr HResult kCryptENoKeyProperty = MakeHResult(0x8009200B);
inline constexpr HResult kEInvalidPassword = MakeHResult(0x80070056);  // ERROR_INVALID_PASSWORD
inline constexpr HResult kENotFound = MakeHResult(0x80070490);         // ERROR_NOT_FOUND

// BG_E_HTTP_ERROR_nnn: 0x80190000 + the decimal HTTP status.
constexpr HResult HttpErrorCode(int http_status) {
  return MakeHResult(0x80190000u + static_cast<std::uint32_t>(http_status));
}

// The HTTP status inside a BG_E_HTTP_ERROR_nnn code, or 0 for other codes.
constexpr int HttpStatusOf(HResult code) {
  const auto v = static_cast<std::uint32_t>(code);
  return (v & 0xFFFF0000u) == 0x80190000u ? static_cast<int>(v & 0xFFFFu) : 0;
}

// The Windows name of `code` ("BG_E_NOT_FOUND", "BG_E_HTTP_ERROR_404"), or
// an empty string when openbits does not know the code.
OPENBITS_EXPORT std::string ErrorName(HResult code);

// The description BITS gives for `code` (IBackgroundCopyManager::
// GetErrorDescription, in English). Never empty: unknown codes get a generic
// sentence naming the value.
OPENBITS_EXPORT std::string ErrorDescription(HResult code);

// "0x80200003" (lower case hex, as bitsadmin prints it).
OPENBITS_EXPORT std::string FormatHResult(HResult code);

}  // namespace openbits

#endif  // OPENBITS_HRESULT_H_
