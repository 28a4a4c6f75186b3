// A result for paths that must not throw: ok, or a one-line reason.
#pragma once

#include <string>
#include <utility>

namespace rwgate {

class Status {
 public:
  Status() = default;
  static Status error(std::string reason) { return Status(std::move(reason)); }

  bool ok() const { return reason_.empty(); }
  explicit operator bool() const { return ok(); }
  const std::string& reason() const { return reason_; }

 private:
  explicit Status(std::string reason) : reason_(std::move(reason)) {
    if (reason_.empty()) reason_ = "unknown error";
  }
  std::string reason_;
};

}  // namespace rwgate
