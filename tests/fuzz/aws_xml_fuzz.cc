// libFuzzer target: untrusted XML (what an AWS endpoint, or anything posing as one, sends)
// into the reader the aws source uses. Any input: a tree or an error with a reason, never
// a crash; a tree's depth stays within the bound.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "aws/xml.h"

namespace {
size_t depth(const rwgate::aws::XmlNode& n) {
  size_t d = 0;
  for (const auto& c : n.children) d = std::max(d, depth(c));
  return d + 1;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string error;
  const auto doc =
      rwgate::aws::parse_xml(std::string_view(reinterpret_cast<const char*>(data), size), error);
  if (doc == nullptr) {
    if (error.empty()) std::abort();
    return 0;
  }
  if (depth(*doc) > 64) std::abort();
  (void)doc->find({"DescribeAutoScalingGroupsResult", "AutoScalingGroups"});
  return 0;
}
