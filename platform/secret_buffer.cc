// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "platform/secret_buffer.h"

#include <cstring>

#include <openssl/crypto.h>

namespace openbits::platform {

void Cleanse(void* data, std::size_t size) {
  if (data != nullptr && size != 0) OPENSSL_cleanse(data, size);
}

void Cleanse(std::string& text) {
  // The whole capacity: a shorter value may have replaced a longer secret.
  if (text.capacity() != 0) {
    text.resize(text.capacity());
    Cleanse(text.data(), text.size());
  }
  text.clear();
}

SecretBuffer::SecretBuffer(std::size_t size) : bytes_(new std::uint8_t[size + 1]()), size_(size) {}

SecretBuffer::SecretBuffer(const void* data, std::size_t size) : SecretBuffer(size) {
  if (size != 0) std::memcpy(bytes_.get(), data, size);
}

SecretBuffer::SecretBuffer(SecretBuffer&& other) noexcept
    : bytes_(std::move(other.bytes_)), size_(other.size_) {
  other.size_ = 0;
}

SecretBuffer& SecretBuffer::operator=(SecretBuffer&& other) noexcept {
  if (this != &other) {
    Clear();
    bytes_ = std::move(other.bytes_);
    size_ = other.size_;
    other.size_ = 0;
  }
  return *this;
}

SecretBuffer::~SecretBuffer() { Clear(); }

void SecretBuffer::Clear() {
  if (bytes_) Cleanse(bytes_.get(), size_ + 1);
  bytes_.reset();
  size_ = 0;
}

void SecretBuffer::Truncate(std::size_t size) {
  if (size >= size_) return;
  Cleanse(bytes_.get() + size, size_ - size);
  size_ = size;
}

}  // namespace openbits::platform
