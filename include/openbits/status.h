// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Status and Result<T>: the one error type of openbits.
//
// A Status carries a BITS HRESULT (a 32-bit value: negative means failure)
// and an optional human-readable message. The codes are exactly those of
// Microsoft BITS (see openbits/hresult.h), so that an application ported from
// Windows keeps its error handling. Success codes other than zero exist:
// Job::Complete() may return BG_S_PARTIAL_COMPLETE, which is ok().
//
// Status and Result are value types; they are not thread-safe for concurrent
// mutation but may be copied freely between threads.

#ifndef OPENBITS_STATUS_H_
#define OPENBITS_STATUS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "openbits/export.h"

namespace openbits {

// An HRESULT as BITS defines it. Failure values have the top bit set.
using HResult = std::int32_t;

class [[nodiscard]] OPENBITS_EXPORT Status {
 public:
  // A successful status (S_OK).
  Status() = default;

  // A status with the given HRESULT and message. The message is for humans;
  // programs should test code().
  Status(HResult code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  // True for every success code (S_OK, BG_S_PARTIAL_COMPLETE, ...).
  bool ok() const { return code_ >= 0; }

  HResult code() const { return code_; }
  const std::string& message() const { return message_; }

  // "0x80200003 BG_E_EMPTY: <message>"; "OK" for S_OK without a message.
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) { return a.code_ == b.code_; }

 private:
  HResult code_ = 0;
  std::string message_;
};

// Either a value of type T or a failed Status.
//
// Usage:
//   Result<std::shared_ptr<Job>> job = manager->CreateJob("nightly");
//   if (!job.ok()) return job.status();
//   (*job)->Resume();
template <typename T>
class [[nodiscard]] Result {
 public:
  // REQUIRES: !status.ok(). A failed Result holds no value.
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.ok()) status_ = Status(kInternalNoValue, "Result without a value");
  }
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // REQUIRES: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

  // The value, or `fallback` when !ok().
  T value_or(T fallback) const& { return ok() ? *value_ : std::move(fallback); }

 private:
  static constexpr HResult kInternalNoValue = static_cast<HResult>(0x80004005);
  Status status_;
  std::optional<T> value_;
};

}  // namespace openbits

// Returns from the enclosing function when `expr` (a Status) failed.
#define OPENBITS_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    ::openbits::Status openbits_status_ = (expr);        \
    if (!openbits_status_.ok()) return openbits_status_; \
  } while (0)

#endif  // OPENBITS_STATUS_H_
