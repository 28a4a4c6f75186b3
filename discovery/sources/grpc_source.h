// The gRPC push API (rwgate.discovery.v1.Discovery) as a discovery source named "grpc":
// Upsert and Remove report instances, List reads the snapshot, Watch streams changes.
#pragma once

#include <memory>
#include <string>

#include "discovery/cache.h"
#include "discovery/sources/source.h"

namespace grpc {
class Server;
}

namespace rwgate::discovery {

class GrpcPushSource final : public DiscoverySource {
 public:
  GrpcPushSource(std::string listen_address, DiscoveryCache& cache);
  ~GrpcPushSource() override;
  const std::string& name() const override { return name_; }
  void start() override;  // logs and stays off when the address cannot be bound
  void stop() override;

 private:
  class Service;
  std::string name_ = "grpc";
  std::string listen_address_;
  DiscoveryCache& cache_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace rwgate::discovery
