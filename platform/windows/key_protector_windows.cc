// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Keys sealed with DPAPI (CryptProtectData, user scope; machine scope for
// the system service) in files under %LOCALAPPDATA%\openbits\keys. DPAPI
// ties the blob to the user's logon secret, so a copied file is useless on
// another account or machine. Files are replaced with MoveFileExW
// (MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH) for atomicity.

#include <windows.h>
// After windows.h, which it needs.
#include <wincrypt.h>  // declares CryptProtectData (dpapi.h)

#include <string>
#include <vector>

#include "openbits/hresult.h"

#include "platform/key_protector.h"
#include "platform/windows/utf16.h"

namespace openbits::platform {
namespace {

constexpr wchar_t kSuffix[] = L".key";

Status LastError(const std::string& what) {
  const DWORD err = GetLastError();
  HResult code = kEFail;
  if (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND) code = kNteNoKey;
  if (err == ERROR_ACCESS_DENIED) code = kEAccessDenied;
  return Status(code, what + " (Windows error " + std::to_string(err) + ")");
}

struct HandleCloser {
  void operator()(HANDLE h) const {
    if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
  }
};

class DpapiKeyProtector final : public KeyProtector {
 public:
  explicit DpapiKeyProtector(std::string directory) : directory_(std::move(directory)) {}

  std::string Describe() const override { return directory_; }

  Result<SecretBuffer> Load(const std::string& name) override {
    const std::wstring path = Path(name);
    HANDLE h = CreateFileW(path.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, nullptr);
    if (h == INVALID_HANDLE_VALUE) return LastError("open key " + name);
    std::unique_ptr<void, HandleCloser> owned(h);
    LARGE_INTEGER size{};
    if (!GetFileSizeEx(h, &size) || size.QuadPart > 65536) {
      return Status(kNteBadData, "the key file " + name + " has an impossible size");
    }
    std::vector<BYTE> blob(static_cast<std::size_t>(size.QuadPart));
    DWORD read = 0;
    if (!ReadFile(h, blob.data(), static_cast<DWORD>(blob.size()), &read, nullptr) ||
        read != blob.size()) {
      return LastError("read key " + name);
    }
    DATA_BLOB in{static_cast<DWORD>(blob.size()), blob.data()};
    DATA_BLOB out{};
    if (!CryptUnprotectData(&in, nullptr, nullptr, nullptr, nullptr, CRYPTPROTECT_UI_FORBIDDEN,
                            &out)) {
      return Status(kNteBadData, "DPAPI could not open the key " + name);
    }
    SecretBuffer key(out.pbData, out.cbData);
    SecureZeroMemory(out.pbData, out.cbData);
    LocalFree(out.pbData);
    return key;
  }

  Status Store(const std::string& name, const SecretBuffer& key) override {
    CreateDirectoryW(Widen(directory_).c_str(), nullptr);
    DATA_BLOB in{static_cast<DWORD>(key.size()), const_cast<BYTE*>(key.data())};
    DATA_BLOB out{};
    if (!CryptProtectData(&in, L"openbits vault key", nullptr, nullptr, nullptr,
                          CRYPTPROTECT_UI_FORBIDDEN, &out)) {
      return LastError("CryptProtectData");
    }
    const std::wstring temp = Path(name) + L".tmp";
    HANDLE h = CreateFileW(temp.c_str(), GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL | FILE_FLAG_WRITE_THROUGH, nullptr);
    if (h == INVALID_HANDLE_VALUE) {
      LocalFree(out.pbData);
      return LastError("create key file");
    }
    DWORD written = 0;
    const BOOL ok = WriteFile(h, out.pbData, out.cbData, &written, nullptr) &&
                    written == out.cbData && FlushFileBuffers(h);
    CloseHandle(h);
    LocalFree(out.pbData);
    if (!ok) {
      DeleteFileW(temp.c_str());
      return LastError("write key file");
    }
    if (!MoveFileExW(temp.c_str(), Path(name).c_str(),
                     MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
      DeleteFileW(temp.c_str());
      return LastError("replace key file");
    }
    return Status::Ok();
  }

  Status Remove(const std::string& name) override {
    if (!DeleteFileW(Path(name).c_str()) && GetLastError() != ERROR_FILE_NOT_FOUND) {
      return LastError("remove key " + name);
    }
    return Status::Ok();
  }

  Result<std::vector<std::string>> List(const std::string& prefix) override {
    std::vector<std::string> names;
    WIN32_FIND_DATAW found{};
    const std::wstring pattern = Widen(directory_) + L"\\" + Widen(prefix) + L"*" + kSuffix;
    HANDLE h = FindFirstFileW(pattern.c_str(), &found);
    if (h == INVALID_HANDLE_VALUE) return names;
    do {
      std::wstring n = found.cFileName;
      n.resize(n.size() - (sizeof kSuffix / sizeof(wchar_t) - 1));
      names.push_back(Narrow(n));
    } while (FindNextFileW(h, &found));
    FindClose(h);
    return names;
  }

 private:
  std::wstring Path(const std::string& name) const {
    return Widen(directory_) + L"\\" + Widen(name) + kSuffix;
  }

  std::string directory_;
};

std::string EnvUtf8(const wchar_t* name) {
  wchar_t buf[32768];
  const DWORD n = GetEnvironmentVariableW(name, buf, 32768);
  return n == 0 || n >= 32768 ? std::string() : Narrow(std::wstring(buf, n));
}

}  // namespace

std::unique_ptr<KeyProtector> NewKeyProtector(const std::string& location) {
  return std::make_unique<DpapiKeyProtector>(location);
}

std::string DefaultKeyLocation() {
  if (std::string dir = EnvUtf8(L"OPENBITS_KEY_DIR"); !dir.empty()) return dir;
  if (std::string local = EnvUtf8(L"LOCALAPPDATA"); !local.empty()) {
    return local + "\\openbits\\keys";
  }
  return {};
}

std::string SystemKeyLocation() {
  const std::string program_data = EnvUtf8(L"ProgramData");
  return (program_data.empty() ? std::string("C:\\ProgramData") : program_data) +
         "\\openbits\\keys";
}

}  // namespace openbits::platform
