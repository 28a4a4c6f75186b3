#include "base/base64.h"

#include <algorithm>
#include <cstdint>

namespace rwgate {

std::string base64_encode(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve(4 * ((in.size() + 2) / 3));
  for (size_t i = 0; i < in.size(); i += 3) {
    const size_t n = std::min<size_t>(3, in.size() - i);
    uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16;
    if (n > 1) v |= static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
    if (n > 2) v |= static_cast<unsigned char>(in[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(n > 1 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back(n > 2 ? kAlphabet[v & 63] : '=');
  }
  return out;
}

bool base64_decode(std::string_view in, std::string& out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.empty() || in.size() % 4 != 0) return false;
  out.clear();
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int v[4];
    for (int k = 0; k < 4; ++k) {
      v[k] = in[i + k] == '=' && last && k >= 2 ? -2 : value(in[i + k]);
      if (v[k] == -1) return false;
    }
    if (v[2] == -2 && v[3] != -2) return false;
    out.push_back(static_cast<char>((v[0] << 2) | (v[1] >> 4)));
    if (v[2] != -2) out.push_back(static_cast<char>(((v[1] & 15) << 4) | (v[2] >> 2)));
    if (v[3] != -2) out.push_back(static_cast<char>(((v[2] & 3) << 6) | v[3]));
  }
  return true;
}

}  // namespace rwgate
