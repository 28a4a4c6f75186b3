// The gRPC push API (rwgate.discovery.v1.Discovery) as a discovery source named "grpc":
// Upsert and Remove report instances, List reads the snapshot, Watch streams changes.
// With discovery.grpc_tls the port speaks TLS (and, with client_ca_file, requires and
// verifies client certificates); the files are watched and re-read when they change, so
// certificates rotate without a restart.
#pragma once

#include <memory>
#include <string>

#include "discovery/cache.h"
#include "discovery/config.h"
#include "discovery/sources/source.h"

namespace grpc {
class Server;
class ServerCredentials;
}  // namespace grpc

namespace rwgate::discovery {

class GrpcPushSource final : public DiscoverySource {
 public:
  GrpcPushSource(std::string listen_address, GrpcTlsConfig tls, DiscoveryCache& cache);
  ~GrpcPushSource() override;
  const std::string& name() const override { return name_; }
  void start() override;  // logs and stays off when the address cannot be bound
  void stop() override;

 private:
  class Service;
  std::shared_ptr<grpc::ServerCredentials> credentials() const;
  std::string name_ = "grpc";
  std::string listen_address_;
  GrpcTlsConfig tls_;
  DiscoveryCache& cache_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace rwgate::discovery
