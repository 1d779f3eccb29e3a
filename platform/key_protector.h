// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// KeyProtector: where the credential vault keeps its data keys, outside the
// queue database, protected by the OS. One implementation per OS:
//   key_protector_posix.cc    files of mode 0600 in a private directory,
//                             optionally wrapped by a systemd credential;
//   key_protector_windows.cc  files sealed with DPAPI (CryptProtectData);
//   key_protector_macos.cc    generic passwords in the login Keychain.
// docs/vault.md describes the formats and the threat model.

#ifndef OPENBITS_PLATFORM_KEY_PROTECTOR_H_
#define OPENBITS_PLATFORM_KEY_PROTECTOR_H_

#include <memory>
#include <string>
#include <vector>

#include "openbits/status.h"

#include "platform/secret_buffer.h"

namespace openbits::platform {

class KeyProtector {
 public:
  virtual ~KeyProtector() = default;

  // Where the keys live, for messages ("/home/ann/.config/openbits/keys").
  virtual std::string Describe() const = 0;

  // The key stored under `name`. Fails with NTE_NO_KEY when there is none,
  // and with E_ACCESSDENIED when the key or its container could be read or
  // replaced by someone other than the current user (wrong owner or mode):
  // such a key is not used.
  virtual Result<SecretBuffer> Load(const std::string& name) = 0;

  // Stores `key` under `name`, replacing any key of that name. Durable and
  // atomic: after a crash either the old state or the new key is there,
  // never a partial key.
  virtual Status Store(const std::string& name, const SecretBuffer& key) = 0;

  // Removes the key `name` (durably); no error if it does not exist.
  virtual Status Remove(const std::string& name) = 0;

  // The names of stored keys that begin with `prefix`. The remains of a
  // Store() of such a key that a crash interrupted are discarded.
  virtual Result<std::vector<std::string>> List(const std::string& prefix) = 0;
};

// The OS's protector for keys kept at `location` (a directory on POSIX and
// Windows; a Keychain service name suffix on macOS).
std::unique_ptr<KeyProtector> NewKeyProtector(const std::string& location);

// $OPENBITS_KEY_DIR, else the per-user default
// (${XDG_CONFIG_HOME:-$HOME/.config}/openbits/keys on Unix). Empty if none
// of these variables is set.
std::string DefaultKeyLocation();

// The location used by the system-wide daemon (/etc/openbits/keys on Unix).
std::string SystemKeyLocation();

}  // namespace openbits::platform

#endif  // OPENBITS_PLATFORM_KEY_PROTECTOR_H_
