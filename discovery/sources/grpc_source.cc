#include "discovery/sources/grpc_source.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "base/log.h"
#include "rwgate/discovery/v1/discovery.grpc.pb.h"

namespace rwgate::discovery {

namespace v1 = ::rwgate::discovery::v1;

namespace {

InstanceRecord from_proto(const v1::Instance& p) {
  InstanceRecord r;
  r.instance_id = p.instance_id();
  r.asg_name = p.asg_name();
  r.availability_zone = p.availability_zone();
  r.availability_zone_id = p.availability_zone_id();
  r.lifecycle_state = p.lifecycle_state();
  r.health_status = p.health_status();
  r.ec2_state = p.ec2_state();
  r.private_ip = p.private_ip();
  r.public_ip = p.public_ip();
  r.private_dns = p.private_dns_name();
  r.public_dns = p.public_dns_name();
  r.instance_type = p.instance_type();
  r.region = p.region();
  for (const auto& [k, v] : p.tags()) r.tags[k] = v;
  r.addresses.assign(p.addresses().begin(), p.addresses().end());
  return r;
}

void to_proto(const InstanceRecord& r, v1::Instance& p) {
  p.set_instance_id(r.instance_id);
  p.set_asg_name(r.asg_name);
  p.set_availability_zone(r.availability_zone);
  p.set_availability_zone_id(r.availability_zone_id);
  p.set_lifecycle_state(r.lifecycle_state);
  p.set_health_status(r.health_status);
  p.set_ec2_state(r.ec2_state);
  p.set_private_ip(r.private_ip);
  p.set_public_ip(r.public_ip);
  p.set_private_dns_name(r.private_dns);
  p.set_public_dns_name(r.public_dns);
  p.set_instance_type(r.instance_type);
  p.set_region(r.region);
  for (const auto& [k, v] : r.tags) (*p.mutable_tags())[k] = v;
  for (const std::string& a : r.addresses) p.add_addresses(a);
  p.set_source(r.source);
}

}  // namespace

class GrpcPushSource::Service final : public v1::Discovery::Service {
 public:
  explicit Service(DiscoveryCache& cache) : cache_(cache) {}

  grpc::Status Upsert(grpc::ServerContext*, const v1::UpsertRequest* req,
                      v1::UpsertResponse* res) override {
    for (int i = 0; i < req->instances_size(); ++i) {
      if (from_proto(req->instances(i)).key().empty()) {
        return {grpc::StatusCode::INVALID_ARGUMENT,
                "instances[" + std::to_string(i) +
                    "]: needs an instance_id, a private_ip or an address"};
      }
    }
    for (const auto& inst : req->instances()) cache_.upsert("grpc", from_proto(inst));
    res->set_generation(cache_.snapshot()->generation());
    return grpc::Status::OK;
  }

  grpc::Status Remove(grpc::ServerContext*, const v1::RemoveRequest* req,
                      v1::RemoveResponse* res) override {
    for (const std::string& id : req->instance_ids()) cache_.remove("grpc", id);
    res->set_generation(cache_.snapshot()->generation());
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext*, const v1::ListRequest*, v1::ListResponse* res) override {
    const auto snap = cache_.snapshot();
    res->set_generation(snap->generation());
    for (const InstanceRecord& r : snap->records()) to_proto(r, *res->add_instances());
    return grpc::Status::OK;
  }

  grpc::Status Watch(grpc::ServerContext* ctx, const v1::WatchRequest*,
                     grpc::ServerWriter<v1::ChangeEvent>* writer) override {
    std::mutex mu;  // guards queue
    std::condition_variable cv;
    std::deque<v1::ChangeEvent> queue;
    const uint64_t id =
        cache_.subscribe([&](const std::vector<ChangeEvent>& events, uint64_t generation) {
          std::lock_guard lock(mu);
          for (const ChangeEvent& e : events) {
            v1::ChangeEvent& out = queue.emplace_back();
            out.set_kind(e.kind == ChangeEvent::Kind::kAdded     ? v1::ChangeEvent::ADDED
                         : e.kind == ChangeEvent::Kind::kChanged ? v1::ChangeEvent::CHANGED
                                                                 : v1::ChangeEvent::GONE);
            if (e.kind != ChangeEvent::Kind::kAdded) to_proto(e.before, *out.mutable_before());
            if (e.kind != ChangeEvent::Kind::kGone) to_proto(e.after, *out.mutable_after());
            out.set_generation(generation);
          }
          cv.notify_one();
        });
    bool ok = true;
    while (ok && !ctx->IsCancelled() && !stopping_.load()) {
      std::unique_lock lock(mu);
      cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return !queue.empty(); });
      while (ok && !queue.empty()) {
        v1::ChangeEvent e = std::move(queue.front());
        queue.pop_front();
        lock.unlock();
        ok = writer->Write(e);
        lock.lock();
      }
    }
    cache_.unsubscribe(id);
    return grpc::Status::OK;
  }

  std::atomic<bool> stopping_{false};

 private:
  DiscoveryCache& cache_;
};

GrpcPushSource::GrpcPushSource(std::string listen_address, GrpcTlsConfig tls, DiscoveryCache& cache)
    : listen_address_(std::move(listen_address)),
      tls_(std::move(tls)),
      cache_(cache),
      service_(std::make_unique<Service>(cache)) {}

GrpcPushSource::~GrpcPushSource() { stop(); }

std::shared_ptr<grpc::ServerCredentials> GrpcPushSource::credentials() const {
  if (!tls_.enabled()) return grpc::InsecureServerCredentials();
  namespace tls = grpc::experimental;
  // Checked for changes every 10 s: rotated certificates apply to new connections.
  constexpr unsigned kRefreshSeconds = 10;
  std::shared_ptr<tls::CertificateProviderInterface> provider;
  if (tls_.client_ca_file.empty()) {
    provider = std::make_shared<tls::FileWatcherCertificateProvider>(tls_.key_file, tls_.cert_file,
                                                                     kRefreshSeconds);
  } else {
    provider = std::make_shared<tls::FileWatcherCertificateProvider>(
        tls_.key_file, tls_.cert_file, tls_.client_ca_file, kRefreshSeconds);
  }
  tls::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (tls_.client_ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return tls::TlsServerCredentials(options);
}

void GrpcPushSource::start() {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen_address_, credentials(), &port_);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    log::error("cannot start the gRPC discovery API", {{"address", listen_address_}});
    server_.reset();
    return;
  }
  log::info("gRPC discovery API listening",
            {{"address", listen_address_}, {"port", std::to_string(port_)}});
}

void GrpcPushSource::stop() {
  if (!server_) return;
  service_->stopping_.store(true);
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  server_.reset();
}

}  // namespace rwgate::discovery
