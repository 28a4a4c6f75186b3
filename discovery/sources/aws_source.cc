#include "discovery/sources/aws_source.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "base/log.h"
#include "base/net.h"

namespace rwgate::discovery {

namespace {

constexpr const char* kAutoScaling = "2011-01-01";
constexpr const char* kEc2 = "2016-11-15";
constexpr const char* kElbV2 = "2015-12-01";
constexpr const char* kElbClassic = "2012-06-01";
constexpr size_t kIdsPerDescribe = 200;

using Params = std::vector<std::pair<std::string, std::string>>;

// The members of a Query API list: <Name><member>…</member></Name>.
std::vector<const aws::XmlNode*> members(const aws::XmlNode* list) {
  return list == nullptr ? std::vector<const aws::XmlNode*>{} : list->all("member");
}

// EC2's lists: <nameSet><item>…</item></nameSet>.
std::vector<const aws::XmlNode*> items(const aws::XmlNode* list) {
  return list == nullptr ? std::vector<const aws::XmlNode*>{} : list->all("item");
}

// Calls a paginated action until its token runs out; `page` reads one answer and returns
// the next token ("" at the end).
template <typename Page>
Status paginate(aws::QueryClient& client, const std::string& service, const std::string& version,
                const std::string& action, const Params& params, const std::string& token_param,
                Page page) {
  std::string token;
  std::set<std::string> seen;  // a token that comes back would loop forever
  while (true) {
    Params p = params;
    if (!token.empty()) p.emplace_back(token_param, token);
    std::unique_ptr<aws::XmlNode> doc;
    aws::ApiError error;
    if (Status st = client.call(service, version, action, p, doc, error); !st) return st;
    token = page(*doc);
    if (token.empty()) return {};
    if (!seen.insert(token).second)
      return Status::error(action + ": the API returned the same page token twice");
  }
}

}  // namespace

AwsSource::AwsSource(std::string name, AwsSdConfig config, DiscoveryCache& cache,
                     SourceMetricFamilies& metrics)
    : name_(std::move(name)),
      config_(std::move(config)),
      client_(config_.client),
      cache_(cache),
      metrics_(metrics, name_) {}

AwsSource::~AwsSource() { stop(); }

Status AwsSource::fetch(std::vector<InstanceRecord>& records,
                        std::vector<LoadBalancerRecord>& lbs) {
  const std::string& region = config_.client.region;
  // 1. Groups and their instances.
  struct Group {
    std::string name;
    std::vector<std::string> classic_lbs;
    std::vector<std::string> target_groups;
  };
  std::vector<Group> groups;
  std::map<std::string, InstanceRecord> by_id;
  Params params = {{"MaxRecords", "100"}};
  for (size_t i = 0; i < config_.auto_scaling_groups.size(); ++i)
    params.emplace_back("AutoScalingGroupNames.member." + std::to_string(i + 1),
                        config_.auto_scaling_groups[i]);
  Status st = paginate(
      client_, "autoscaling", kAutoScaling, "DescribeAutoScalingGroups", params, "NextToken",
      [&](const aws::XmlNode& doc) {
        const aws::XmlNode* result = doc.child("DescribeAutoScalingGroupsResult");
        if (result == nullptr) return std::string();
        for (const aws::XmlNode* g : members(result->child("AutoScalingGroups"))) {
          Group group{std::string(g->child_text("AutoScalingGroupName")), {}, {}};
          for (const aws::XmlNode* m : members(g->child("LoadBalancerNames")))
            group.classic_lbs.push_back(m->text);
          for (const aws::XmlNode* m : members(g->child("TargetGroupARNs")))
            group.target_groups.push_back(m->text);
          for (const aws::XmlNode* inst : members(g->child("Instances"))) {
            InstanceRecord r;
            r.instance_id = std::string(inst->child_text("InstanceId"));
            if (r.instance_id.empty()) continue;
            r.asg_name = group.name;
            r.availability_zone = std::string(inst->child_text("AvailabilityZone"));
            r.lifecycle_state = std::string(inst->child_text("LifecycleState"));
            r.health_status = std::string(inst->child_text("HealthStatus"));
            r.protected_from_scale_in = std::string(inst->child_text("ProtectedFromScaleIn"));
            r.instance_type = std::string(inst->child_text("InstanceType"));
            r.region = region;
            by_id[r.instance_id] = std::move(r);
          }
          groups.push_back(std::move(group));
        }
        return std::string(result->child_text("NextToken"));
      });
  if (!st) return st;

  // 2. What EC2 knows of those instances.
  std::vector<std::string> ids;
  for (const auto& [id, r] : by_id) ids.push_back(id);
  for (size_t from = 0; from < ids.size(); from += kIdsPerDescribe) {
    Params p = {{"Filter.1.Name", "instance-id"}, {"MaxResults", "1000"}};
    for (size_t i = from; i < std::min(ids.size(), from + kIdsPerDescribe); ++i)
      p.emplace_back("Filter.1.Value." + std::to_string(i - from + 1), ids[i]);
    st = paginate(client_, "ec2", kEc2, "DescribeInstances", p, "NextToken",
                  [&](const aws::XmlNode& doc) {
                    for (const aws::XmlNode* res : items(doc.child("reservationSet"))) {
                      for (const aws::XmlNode* inst : items(res->child("instancesSet"))) {
                        auto it = by_id.find(std::string(inst->child_text("instanceId")));
                        if (it == by_id.end()) continue;
                        InstanceRecord& r = it->second;
                        r.private_ip = std::string(inst->child_text("privateIpAddress"));
                        r.public_ip = std::string(inst->child_text("ipAddress"));
                        r.private_dns = std::string(inst->child_text("privateDnsName"));
                        r.public_dns = std::string(inst->child_text("dnsName"));
                        if (const auto t = inst->child_text("instanceType"); !t.empty())
                          r.instance_type = std::string(t);
                        if (const aws::XmlNode* s = inst->child("instanceState"))
                          r.ec2_state = std::string(s->child_text("name"));
                        if (const aws::XmlNode* pl = inst->child("placement")) {
                          if (const auto az = pl->child_text("availabilityZone"); !az.empty())
                            r.availability_zone = std::string(az);
                        }
                        for (const aws::XmlNode* tag : items(inst->child("tagSet")))
                          r.tags[std::string(tag->child_text("key"))] = tag->child_text("value");
                      }
                    }
                    return std::string(doc.child_text("nextToken"));
                  });
    if (!st) return st;
  }
  for (auto& [id, r] : by_id) records.push_back(std::move(r));

  if (!config_.load_balancers) return {};
  // 3. Load balancers, and which groups stand behind each.
  std::map<std::string, std::vector<std::string>> groups_by_classic;  // LB name -> groups
  std::map<std::string, std::vector<std::string>> groups_by_tg;       // TG ARN -> groups
  for (const Group& g : groups) {
    for (const std::string& lb : g.classic_lbs) groups_by_classic[lb].push_back(g.name);
    for (const std::string& tg : g.target_groups) groups_by_tg[tg].push_back(g.name);
  }
  std::map<std::string, std::set<std::string>> groups_by_lb_arn;
  std::map<std::string, std::string> port_by_lb_arn;  // a target group's instance port
  st = paginate(client_, "elasticloadbalancing", kElbV2, "DescribeTargetGroups",
                {{"PageSize", "400"}}, "Marker", [&](const aws::XmlNode& doc) {
                  const aws::XmlNode* result = doc.child("DescribeTargetGroupsResult");
                  if (result == nullptr) return std::string();
                  for (const aws::XmlNode* tg : members(result->child("TargetGroups"))) {
                    auto it = groups_by_tg.find(std::string(tg->child_text("TargetGroupArn")));
                    if (it == groups_by_tg.end()) continue;
                    for (const aws::XmlNode* arn : members(tg->child("LoadBalancerArns"))) {
                      groups_by_lb_arn[arn->text].insert(it->second.begin(), it->second.end());
                      port_by_lb_arn.try_emplace(arn->text, tg->child_text("Port"));
                    }
                  }
                  return std::string(result->child_text("NextMarker"));
                });
  if (!st) return st;
  st = paginate(client_, "elasticloadbalancing", kElbV2, "DescribeLoadBalancers",
                {{"PageSize", "400"}}, "Marker", [&](const aws::XmlNode& doc) {
                  const aws::XmlNode* result = doc.child("DescribeLoadBalancersResult");
                  if (result == nullptr) return std::string();
                  for (const aws::XmlNode* lb : members(result->child("LoadBalancers"))) {
                    LoadBalancerRecord r{std::string(lb->child_text("LoadBalancerName")),
                                         net::canonical_dns_name(lb->child_text("DNSName")),
                                         std::string(lb->child_text("Type")),
                                         region,
                                         {},
                                         {},
                                         {}};
                    const std::string arn(lb->child_text("LoadBalancerArn"));
                    const auto& g = groups_by_lb_arn[arn];
                    r.asgs.assign(g.begin(), g.end());
                    r.target_port = port_by_lb_arn[arn];
                    if (!r.dns_name.empty()) lbs.push_back(std::move(r));
                  }
                  return std::string(result->child_text("NextMarker"));
                });
  if (!st) return st;
  return paginate(
      client_, "elasticloadbalancing", kElbClassic, "DescribeLoadBalancers", {{"PageSize", "400"}},
      "Marker", [&](const aws::XmlNode& doc) {
        const aws::XmlNode* result = doc.child("DescribeLoadBalancersResult");
        if (result == nullptr) return std::string();
        for (const aws::XmlNode* lb : members(result->child("LoadBalancerDescriptions"))) {
          LoadBalancerRecord r{std::string(lb->child_text("LoadBalancerName")),
                               net::canonical_dns_name(lb->child_text("DNSName")),
                               "classic",
                               region,
                               groups_by_classic[std::string(lb->child_text("LoadBalancerName"))],
                               {},
                               {}};
          for (const aws::XmlNode* l : members(lb->child("ListenerDescriptions"))) {
            if (const aws::XmlNode* listener = l->child("Listener")) {
              r.target_port = std::string(listener->child_text("InstancePort"));
              break;
            }
          }
          if (!r.dns_name.empty()) lbs.push_back(std::move(r));
        }
        return std::string(result->child_text("NextMarker"));
      });
}

Status AwsSource::refresh() {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<InstanceRecord> records;
  std::vector<LoadBalancerRecord> lbs;
  Status st = fetch(records, lbs);
  if (!st && client_.cancelled()) return st;  // stopping: not a failure of the API
  if (!st) {
    metrics_.refreshed(t0, true, -1);
    cache_.source_failed(name_, st.reason());
    if (st.reason() != last_error_) {
      log::warn("aws refresh failed; keeping the last good records",
                {{"source", name_}, {"region", config_.client.region}, {"error", st.reason()}});
      last_error_ = st.reason();
    }
    return st;
  }
  if (!last_error_.empty()) {
    log::info("aws refresh works again", {{"source", name_}});
    last_error_.clear();
  }
  cache_.replace_source(name_, records);
  cache_.replace_load_balancers(name_, std::move(lbs));
  metrics_.refreshed(t0, false, static_cast<int64_t>(records.size()));
  return st;
}

void AwsSource::start() {
  // The first refresh on the thread: a slow or unreachable API does not hold up start-up.
  loop_.start(
      config_.refresh_interval, [this] { (void)refresh(); }, RefreshLoop::First::kOnThread);
}

void AwsSource::stop() {
  client_.cancel();  // a refresh waiting out a backoff gives up now
  loop_.stop();
}

}  // namespace rwgate::discovery
