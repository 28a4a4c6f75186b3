// A sink with tenants against a real HTTP store in the test process: every request holds
// one tenant (in its header, or in its URL), each tenant's series reach the store under
// it alone, a tenant whose store path fails fills only its own queue, and the tenant
// registry is bounded.
#include "sinks/tenant_sinks.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "tests/unit/sinks/sink_test_support.h"

namespace rwgate::sinks {
namespace {

using namespace test_support;  // NOLINT: the shared store, batches and lookups

TEST(TenantNamesTest, InternsEachNameOnceWithinTheBound) {
  TenantNames names;
  EXPECT_EQ(names.intern("a", 2), 1u);
  EXPECT_EQ(names.intern("b", 2), 2u);
  EXPECT_EQ(names.intern("a", 2), 1u);  // known names pass at the bound
  EXPECT_EQ(names.intern("c", 2), std::nullopt);
  EXPECT_EQ(names.name(2), "b");
  EXPECT_EQ(names.name(0), "");
  EXPECT_EQ(names.name(3), "");
  EXPECT_EQ(names.size(), 2u);
}

TEST(TenantTargetTest, ReplacesEveryPlaceholder) {
  EXPECT_EQ(tenant_target("/insert/{tenant}/prometheus/api/v1/write", "42"),
            "/insert/42/prometheus/api/v1/write");
  EXPECT_EQ(tenant_target("/api/v1/write?extra_label=tenant={tenant}&x={tenant}", "a"),
            "/api/v1/write?extra_label=tenant=a&x=a");
  EXPECT_EQ(tenant_target("/api/v1/write", "a"), "/api/v1/write");
}

// A test batch whose series belong to `tenants` (by position), grouped as ingest groups them.
struct TenantBatch : TestBatch {
  explicit TenantBatch(const std::vector<uint32_t>& tenants, int first = 0)
      : TestBatch(static_cast<int>(tenants.size()), first) {
    for (size_t i = 0; i < tenants.size(); ++i) batch.series[i].tenant = tenants[i];
    std::stable_sort(outs.begin(), outs.end(), [&](const auto& a, const auto& b) {
      return batch.series[a.index].tenant < batch.series[b.index].tenant;
    });
  }
};

// A received body, decompressed and decoded as RW 1.0 (the batch views into `raw`).
struct Decoded {
  std::string raw;
  proto::Batch batch;
  explicit Decoded(const ScriptedStore::Received& r) {
    EXPECT_TRUE(snappy::Uncompress(r.body.data(), r.body.size(), &raw));
    proto::Decoder decoder;
    EXPECT_TRUE(decoder.decode_v1(raw, batch).ok());
  }
};

// The values of label i in a received body.
std::set<std::string> series_in(const ScriptedStore::Received& r) {
  const Decoded d(r);
  std::set<std::string> out;
  for (const auto& s : d.batch.series) out.emplace(proto::label_value(d.batch.labels_of(s), "i"));
  return out;
}

// The family names of the RW 1.0 metadata in a received body.
std::set<std::string> families_in(const ScriptedStore::Received& r) {
  const Decoded d(r);
  std::set<std::string> out;
  for (const auto& md : d.batch.metadata) out.emplace(md.family_name);
  return out;
}

struct TenantSinksUnderTest {
  prometheus::Registry registry;
  SinkMetricFamilies families{registry};
  std::shared_ptr<TenantNames> names = std::make_shared<TenantNames>();
  std::unique_ptr<TenantSinks> sink;

  TenantSinksUnderTest(RemoteWriteOptions o, std::string header) {
    for (const char* t : {"team-a", "team-b", "down"}) names->intern(t, 10);
    sink = std::make_unique<TenantSinks>(std::move(o), std::move(header), names, 10, families);
    sink->start();
  }
  ~TenantSinksUnderTest() { sink->stop(std::chrono::steady_clock::now()); }

  bool send(const TenantBatch& b, size_t bytes = 1000) {
    if (!sink->try_reserve(b.batch, b.outs, bytes)) return false;
    EXPECT_TRUE(sink->enqueue(b.batch, b.outs, bytes).ok());
    return true;
  }
};

TEST(TenantSinksTest, EachRequestCarriesOneTenantInItsHeader) {
  ScriptedStore store({});
  TenantSinksUnderTest t(fast_options(store), "X-Scope-OrgID");
  ASSERT_TRUE(t.send(TenantBatch({1, 2, 1, 2, 1})));
  std::vector<ScriptedStore::Received> got;
  ASSERT_TRUE(store.wait_for(2, &got));
  std::map<std::string, std::set<std::string>> by_tenant;
  for (const auto& r : got) {
    EXPECT_EQ(r.target, "/api/v1/write");
    for (const std::string& i : series_in(r)) by_tenant[r.tenant].insert(i);
  }
  EXPECT_EQ(by_tenant["team-a"], (std::set<std::string>{"0", "2", "4"}));
  EXPECT_EQ(by_tenant["team-b"], (std::set<std::string>{"1", "3"}));
  EXPECT_EQ(by_tenant.size(), 2u);
  EXPECT_EQ(t.sink->tenants(), 2u);
  EXPECT_TRUE(eventually([&] {
    return metric(t.registry, "rwgate_forwarded_samples_total",
                  {{"sink", "store"}, {"tenant", "team-a"}}) == 3;
  }));
}

TEST(TenantSinksTest, TheTenantCanTravelInTheUrl) {
  ScriptedStore store({});
  RemoteWriteOptions o = fast_options(store);
  o.target = "/insert/{tenant}/prometheus/api/v1/write";
  TenantSinksUnderTest t(std::move(o), "");
  ASSERT_TRUE(t.send(TenantBatch({2, 1})));
  std::vector<ScriptedStore::Received> got;
  ASSERT_TRUE(store.wait_for(2, &got));
  std::set<std::string> targets;
  for (const auto& r : got) {
    targets.insert(r.target);
    EXPECT_EQ(r.tenant, "");
    EXPECT_EQ(series_in(r).size(), 1u);
  }
  EXPECT_EQ(targets, (std::set<std::string>{"/insert/team-a/prometheus/api/v1/write",
                                            "/insert/team-b/prometheus/api/v1/write"}));
}

TEST(TenantSinksTest, AFailingTenantFillsOnlyItsOwnQueue) {
  ScriptedStore store({});
  store.answer_for = [](const ScriptedStore::Received& r) -> std::optional<ScriptedStore::Answer> {
    if (r.tenant == "down") return answer(503);
    return std::nullopt;
  };
  RemoteWriteOptions o = fast_options(store);
  o.max_bytes = 1000;
  TenantSinksUnderTest t(std::move(o), "X-Scope-OrgID");
  ASSERT_TRUE(t.send(TenantBatch({3}), 900));  // an empty queue takes any request
  EXPECT_TRUE(eventually([&] {
    return metric(t.registry, "rwgate_send_retries_total", {{"tenant", "down"}}) >= 2;
  }));
  int sent = 0;  // the failing tenant's queue fills with what it cannot deliver
  while (sent < 10000 && t.send(TenantBatch({3}, 100 + sent), 100)) ++sent;
  ASSERT_LT(sent, 10000);
  EXPECT_FALSE(t.send(TenantBatch({3}, 100), 100));
  // A request with both: refused whole, and the healthy tenant's reservation given back.
  EXPECT_FALSE(t.send(TenantBatch({1, 3}, 200), 200));
  for (int k = 0; k < 20; ++k) ASSERT_TRUE(t.send(TenantBatch({1}, 20000 + k), 100));
  EXPECT_TRUE(eventually([&] {
    return metric(t.registry, "rwgate_forwarded_samples_total", {{"tenant", "team-a"}}) == 20;
  }));
  EXPECT_EQ(metric(t.registry, "rwgate_forwarded_samples_total", {{"tenant", "down"}}), 0);
  // Nothing of the refused mixed request stays reserved in the healthy tenant's queue.
  EXPECT_TRUE(eventually([&] {
    return metric(t.registry, "rwgate_queue_bytes", {{"tenant", "team-a"}}) == 0;
  }));
}

TEST(TenantSinksTest, EachTenantHasItsOwnDiskBufferDirectory) {
  ScriptedStore store({});
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("tenant-sinks-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  RemoteWriteOptions o = fast_options(store);
  DiskBufferOptions d;
  d.path = (dir / "store").string();
  d.max_bytes = 1 << 20;
  d.segment_bytes = 64 << 10;
  o.disk = d;
  {
    TenantSinksUnderTest t(std::move(o), "X-Scope-OrgID");
    ASSERT_TRUE(t.send(TenantBatch({1, 2})));
    ASSERT_TRUE(store.wait_for(2));
  }
  EXPECT_TRUE(std::filesystem::is_directory(dir / "store" / "team-a"));
  EXPECT_TRUE(std::filesystem::is_directory(dir / "store" / "team-b"));
  std::filesystem::remove_all(dir);
}

TEST(TenantSinksTest, SeriesWithoutATenantGoNowhere) {
  ScriptedStore store({});
  TenantSinksUnderTest t(fast_options(store), "X-Scope-OrgID");
  ASSERT_TRUE(t.send(TenantBatch({0, 1})));
  std::vector<ScriptedStore::Received> got;
  ASSERT_TRUE(store.wait_for(1, &got));
  std::this_thread::sleep_for(milliseconds(50));
  got = store.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].tenant, "team-a");
  EXPECT_EQ(series_in(got[0]), (std::set<std::string>{"1"}));
}

TEST(TenantSinksTest, EachTenantGetsTheMetadataOfItsOwnFamilies) {
  ScriptedStore store({});
  TenantSinksUnderTest t(fast_options(store), "X-Scope-OrgID");
  // a_total of team-a, b_total of team-b, and metadata for a, b and c.
  proto::Batch batch;
  std::vector<proto::SeriesOut> outs;
  const std::string names[] = {"a_total", "b_total"};
  for (uint32_t i = 0; i < 2; ++i) {
    proto::Series s;
    s.labels_begin = i;
    s.labels_count = 1;
    s.samples_begin = i;
    s.samples_count = 1;
    s.tenant = i + 1;
    batch.labels.push_back({"__name__", names[i]});
    batch.samples.push_back({1.0, 1700000000000});
    batch.series.push_back(s);
  }
  for (uint32_t i = 0; i < 2; ++i) {
    const auto labels = batch.labels_of(batch.series[i]);
    outs.push_back({i, labels, proto::hash_labels(labels)});
  }
  for (const char* f : {"a", "b", "c"})
    batch.metadata.push_back({proto::MetricType::kCounter, f, "help", ""});
  ASSERT_TRUE(t.sink->try_reserve(batch, outs, 1000));
  ASSERT_TRUE(t.sink->enqueue(batch, outs, 1000).ok());
  std::vector<ScriptedStore::Received> got;
  ASSERT_TRUE(store.wait_for(2, &got));
  std::map<std::string, std::set<std::string>> by_tenant;
  for (const auto& r : got) by_tenant[r.tenant] = families_in(r);
  EXPECT_EQ(by_tenant["team-a"], (std::set<std::string>{"a"}));
  EXPECT_EQ(by_tenant["team-b"], (std::set<std::string>{"b"}));
  // Metadata alone goes to the request's metadata tenant, all of it.
  proto::Batch alone;
  alone.metadata = batch.metadata;
  alone.metadata_tenant = 2;
  ASSERT_TRUE(t.sink->try_reserve(alone, {}, 100));
  ASSERT_TRUE(t.sink->enqueue(alone, {}, 100).ok());
  ASSERT_TRUE(store.wait_for(3, &got));
  EXPECT_EQ(got[2].tenant, "team-b");
  EXPECT_EQ(families_in(got[2]), (std::set<std::string>{"a", "b", "c"}));
}

TEST(TenantSinksTest, ATenantsBufferedDataIsSentAfterARestartWithoutNewData) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("tenant-replay-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  DiskBufferOptions d;
  d.path = (dir / "store").string();
  d.max_bytes = 1 << 20;
  d.segment_bytes = 64 << 10;
  {
    ScriptedStore down({}, answer(503));
    RemoteWriteOptions o = fast_options(down);
    o.disk = d;
    TenantSinksUnderTest t(std::move(o), "X-Scope-OrgID");
    ASSERT_TRUE(t.send(TenantBatch({2, 2, 2})));
    ASSERT_TRUE(down.wait_for(1));  // tried, refused, kept on disk
  }
  {
    ScriptedStore up({});
    RemoteWriteOptions o = fast_options(up);
    o.disk = d;
    TenantSinksUnderTest t(std::move(o), "X-Scope-OrgID");  // nothing is sent to it
    std::vector<ScriptedStore::Received> got;
    ASSERT_TRUE(up.wait_for(1, &got));
    EXPECT_EQ(got[0].tenant, "team-b");
    EXPECT_EQ(series_in(got[0]), (std::set<std::string>{"0", "1", "2"}));
  }  // the sink stops (and stops touching its segments) before the directory goes
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rwgate::sinks
