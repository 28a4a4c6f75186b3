#include "discovery/sources/eventbridge.h"

#include <yaml-cpp/yaml.h>

#include <iterator>

namespace rwgate::discovery {

namespace {

// The events used: who sends them, and the lifecycle state each one means (empty: the
// event carries the EC2 state instead).
struct EventType {
  std::string_view source;
  std::string_view detail_type;
  std::string_view lifecycle_state;
};
constexpr EventType kEventTypes[] = {
    {"aws.autoscaling", "EC2 Instance-launch Lifecycle Action", "Pending:Wait"},
    {"aws.autoscaling", "EC2 Instance-terminate Lifecycle Action", "Terminating:Wait"},
    {"aws.autoscaling", "EC2 Instance Launch Successful", "InService"},
    {"aws.autoscaling", "EC2 Instance Terminate Successful", "Terminated"},
    {"aws.ec2", "EC2 Instance State-change Notification", ""},
};

constexpr std::string_view kCountedTypes[] = {
    kEventTypes[0].detail_type, kEventTypes[1].detail_type, kEventTypes[2].detail_type,
    kEventTypes[3].detail_type, kEventTypes[4].detail_type, "other"};
static_assert(std::size(kCountedTypes) == std::size(kEventTypes) + 1);

std::string str(const YAML::Node& n, const char* key) {
  const YAML::Node v = n[key];
  return v.IsDefined() && v.IsScalar() ? v.Scalar() : std::string();
}

EventResult malformed(std::string message) {
  EventResult r;
  r.status = 400;
  r.message = std::move(message);
  return r;
}

// What an event of `type` says about its instance.
void fill_record(const EventType& type, const YAML::Node& detail, InstanceRecord& r) {
  if (type.source == "aws.ec2") {
    r.instance_id = str(detail, "instance-id");
    r.ec2_state = str(detail, "state");
    return;
  }
  r.instance_id = str(detail, "EC2InstanceId");
  r.asg_name = str(detail, "AutoScalingGroupName");
  r.lifecycle_state = std::string(type.lifecycle_state);
  if (type.lifecycle_state == "InService") {
    if (const YAML::Node d = detail["Details"]; d.IsMap())
      r.availability_zone = str(d, "Availability Zone");
  }
}

}  // namespace

EventResult apply_eventbridge_event(const std::string& body, DiscoveryCache& cache) {
  YAML::Node ev;
  try {
    ev = YAML::Load(body);
  } catch (const YAML::Exception& e) {
    return malformed("malformed JSON: " + e.msg);
  }
  if (!ev.IsMap()) return malformed("malformed event: want a JSON object");
  EventResult result;
  try {
    result.event_type = str(ev, "detail-type");
    const std::string source = str(ev, "source");
    const YAML::Node detail = ev["detail"];
    const EventType* type = nullptr;
    for (const EventType& t : kEventTypes) {
      if (t.detail_type == result.event_type) result.counted_type = t.detail_type;
      if (t.detail_type == result.event_type && t.source == source) type = &t;
    }
    if (result.event_type.empty() || source.empty() || !detail.IsMap()) {
      EventResult r = malformed("malformed event: detail-type, source and detail are required");
      r.event_type = result.event_type;
      r.counted_type = result.counted_type;
      return r;
    }
    InstanceRecord r;
    r.region = str(ev, "region");
    if (type == nullptr) {
      result.message = "event type not used; ignored";
      return result;
    }
    fill_record(*type, detail, r);
    if (r.instance_id.empty()) {
      result.status = 400;
      result.message = "malformed event: no instance id in detail";
      return result;
    }
    cache.upsert("eventbridge", r, /*event=*/true);
    result.applied = true;
    result.message = "applied";
  } catch (const YAML::Exception& e) {
    result.status = 400;
    result.message = "malformed event: " + e.msg;
  }
  return result;
}

std::span<const std::string_view> counted_event_types() { return kCountedTypes; }

}  // namespace rwgate::discovery
