// Test helper: signs requests with rwgate's SigV4, for comparison with python3-botocore.
// stdin: one JSON object a line {access_key_id, secret_access_key, session_token, region,
// service, method, host, path, query, headers: {name: value}, body, time: unix seconds};
// stdout: the Authorization header a line, or "error: …".
#include <yaml-cpp/yaml.h>

#include <iostream>
#include <string>

#include "aws/sigv4.h"

int main() {
  using namespace rwgate::aws;
  std::string line;
  while (std::getline(std::cin, line)) {
    try {
      const YAML::Node j = YAML::Load(line);
      Credentials c{j["access_key_id"].as<std::string>(),
                    j["secret_access_key"].as<std::string>(),
                    j["session_token"].as<std::string>(""),
                    {},
                    "test"};
      SignInput in;
      in.method = j["method"].as<std::string>();
      in.host = j["host"].as<std::string>();
      in.path = j["path"].as<std::string>("/");
      in.query = j["query"].as<std::string>("");
      in.body = j["body"].as<std::string>("");
      for (const auto& kv : j["headers"])
        in.headers.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
      const auto when = std::chrono::system_clock::from_time_t(j["time"].as<long>());
      std::cout << sign_v4(c, j["region"].as<std::string>(), j["service"].as<std::string>(), in,
                           when)
                       .authorization
                << "\n";
    } catch (const YAML::Exception& e) {
      std::cout << "error: " << e.what() << "\n";
    }
  }
}
