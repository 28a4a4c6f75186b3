// Secrets kept in files (discovery.eventbridge.api_key_file,
// discovery.sources[].aws.secret_access_key_file): read once, at config load, one way.
//
// The rule is Prometheus's for password_file and credentials_file: the file's content with
// surrounding whitespace trimmed (Go's strings.TrimSpace; here the ASCII whitespace
// " \t\n\v\f\r", which is what a secret file written by an editor or `echo` ends with).
// A file that cannot be read, or holds only whitespace, is an error.
//
// The secret never appears in a Status reason, so callers may log reasons freely.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace rwgate {

// Trims leading and trailing ASCII whitespace, as strings.TrimSpace does.
std::string_view trim_space(std::string_view s);

// Reads the secret in `path` into `out` (trimmed); on error `out` is left empty.
Status read_secret_file(const std::string& path, std::string& out);

}  // namespace rwgate
