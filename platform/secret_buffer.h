// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// SecretBuffer: bytes that must not outlive their use (keys, passwords).
// The memory is wiped with OPENSSL_cleanse when the buffer dies or is
// cleared, and the buffer cannot be copied by accident. It always keeps a
// NUL after its bytes so that C APIs (libcurl) can read it as a string.

#ifndef OPENBITS_PLATFORM_SECRET_BUFFER_H_
#define OPENBITS_PLATFORM_SECRET_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace openbits::platform {

// Overwrites `size` bytes at `data` in a way the compiler may not elide.
void Cleanse(void* data, std::size_t size);
// Overwrites the string's characters, then empties it.
void Cleanse(std::string& text);

class SecretBuffer {
 public:
  SecretBuffer() = default;
  // `size` zero bytes.
  explicit SecretBuffer(std::size_t size);
  // A copy of `size` bytes at `data`.
  SecretBuffer(const void* data, std::size_t size);
  static SecretBuffer FromString(std::string_view text) {
    return SecretBuffer(text.data(), text.size());
  }
  SecretBuffer(SecretBuffer&& other) noexcept;
  SecretBuffer& operator=(SecretBuffer&& other) noexcept;
  SecretBuffer(const SecretBuffer&) = delete;
  SecretBuffer& operator=(const SecretBuffer&) = delete;
  ~SecretBuffer();

  std::uint8_t* data() { return bytes_.get(); }
  const std::uint8_t* data() const { return bytes_.get(); }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // NUL-terminated; "" for an empty buffer.
  const char* c_str() const { return bytes_ ? reinterpret_cast<const char*>(bytes_.get()) : ""; }
  std::string_view view() const { return {c_str(), size_}; }
  // Wipes and releases the bytes.
  void Clear();
  // Keeps the first `size` bytes (size <= size()); the rest is wiped.
  void Truncate(std::size_t size);

 private:
  std::unique_ptr<std::uint8_t[]> bytes_;
  std::size_t size_ = 0;
};

}  // namespace openbits::platform

#endif  // OPENBITS_PLATFORM_SECRET_BUFFER_H_
