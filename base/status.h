// A result for paths that must not throw: ok, or a one-line reason with a code.
//
// The code says which kind of error it is, so a caller picks its answer and its counter
// from the code, never by matching the reason's text. Each module that returns errors
// defines an enum of its kinds (starting at 1) and passes it to error(); 0 is "no code".
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

namespace rwgate {

class Status {
 public:
  Status() = default;
  static Status error(std::string reason) { return Status(0, std::move(reason)); }
  template <typename Code>
  requires std::is_enum_v<Code>
  static Status error(Code code, std::string reason) {
    return Status(static_cast<uint8_t>(code), std::move(reason));
  }

  // "`what`: " and the text of errno (a failed system call's reason).
  static Status from_errno(const std::string& what) {
    return Status(0, what + ": " + std::strerror(errno));
  }

  bool ok() const { return reason_.empty(); }
  explicit operator bool() const { return ok(); }
  const std::string& reason() const { return reason_; }
  // The code the error was made with (Code{0} when ok or made without one).
  template <typename Code>
  requires std::is_enum_v<Code> Code code()
  const { return static_cast<Code>(code_); }

 private:
  Status(uint8_t code, std::string reason) : code_(code), reason_(std::move(reason)) {
    if (reason_.empty()) reason_ = "unknown error";
  }
  uint8_t code_ = 0;
  std::string reason_;
};

}  // namespace rwgate
