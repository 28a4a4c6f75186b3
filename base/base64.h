// Base64 (RFC 4648, the standard alphabet, padded): HTTP basic authentication both ways.
#pragma once

#include <string>
#include <string_view>

namespace rwgate {

std::string base64_encode(std::string_view in);
// Strict: padded, the standard alphabet, nothing else; false otherwise.
bool base64_decode(std::string_view in, std::string& out);

}  // namespace rwgate
