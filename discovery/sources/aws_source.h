// The aws source: the fleet as the Auto Scaling, EC2 and Elastic Load Balancing APIs
// describe it, refreshed every refresh_interval.
//
// A refresh:
//   1. DescribeAutoScalingGroups (autoscaling 2011-01-01): every group, or the configured
//      names; NextToken pages of 100. Each instance: InstanceId, AvailabilityZone,
//      LifecycleState (any value, kept as it is), HealthStatus, ProtectedFromScaleIn; each
//      group: LoadBalancerNames, TargetGroupARNs.
//   2. DescribeInstances (ec2 2016-11-15) for those ids, 200 ids a call as an instance-id
//      filter, NextToken pages of up to 1000: private/public IP and DNS name, placement,
//      state, type, tags.
//   3. With load_balancers: DescribeLoadBalancers (elasticloadbalancing 2015-12-01 for
//      ALB/NLB/GWLB, 2012-06-01 for Classic) and DescribeTargetGroups (2015-12-01), Marker
//      pages: every load balancer's DNS name, type, and the groups behind it.
// Every call of a refresh must succeed (a page that fails fails the refresh: no half
// lists); then the records go to the cache as one list. A failed refresh keeps the last
// good records, counts an error and logs the reason when it differs from the last one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "aws/client.h"
#include "discovery/sources/source.h"

namespace rwgate::discovery {

struct AwsSdConfig {
  aws::ClientOptions client;                     // region, endpoint, credentials, ca_file
  std::vector<std::string> auto_scaling_groups;  // empty: all
  std::chrono::milliseconds refresh_interval = std::chrono::seconds(30);
  bool load_balancers = true;
};

class AwsSource final : public DiscoverySource {
 public:
  AwsSource(std::string name, AwsSdConfig config, DiscoveryCache& cache,
            SourceMetricFamilies& metrics);
  ~AwsSource() override;
  const std::string& name() const override { return name_; }
  void start() override;
  void stop() override;
  // One refresh; the error, if any.
  Status refresh();

 private:
  Status fetch(std::vector<InstanceRecord>& records, std::vector<LoadBalancerRecord>& lbs);
  std::string name_;
  AwsSdConfig config_;
  aws::QueryClient client_;
  DiscoveryCache& cache_;
  SourceMetrics metrics_;
  std::string last_error_;  // logged once per change; the loop's thread only
  RefreshLoop loop_;
};

}  // namespace rwgate::discovery
