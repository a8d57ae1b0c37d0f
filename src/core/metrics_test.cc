#include "core/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace tesseras::core {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, RendersCountersGaugesAndLabelsInTextFormat) {
  MetricsRegistry r;
  r.GetCounter("tesseras_refusals_total", "Requests refused", {{"reason", "deficit"}}).Inc(3);
  r.GetCounter("tesseras_refusals_total", "Requests refused", {{"reason", "disk_full"}}).Inc();
  r.GetGauge("tesseras_peers", "Peers in the routing table").Set(12);
  const std::string text = r.Render();
  EXPECT_EQ(text,
            "# HELP tesseras_refusals_total Requests refused\n"
            "# TYPE tesseras_refusals_total counter\n"
            "tesseras_refusals_total{reason=\"deficit\"} 3\n"
            "tesseras_refusals_total{reason=\"disk_full\"} 1\n"
            "# HELP tesseras_peers Peers in the routing table\n"
            "# TYPE tesseras_peers gauge\n"
            "tesseras_peers 12\n");
}

TEST(MetricsTest, SameNameAndLabelsIsTheSameSeries) {
  MetricsRegistry r;
  Counter& a = r.GetCounter("x_total", "x", {{"b", "2"}, {"a", "1"}});
  Counter& b = r.GetCounter("x_total", "x", {{"a", "1"}, {"b", "2"}});
  EXPECT_EQ(&a, &b);
  a.Inc();
  b.Inc();
  EXPECT_THAT(r.Render(), HasSubstr("x_total{a=\"1\",b=\"2\"} 2\n"));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  MetricsRegistry r;
  Histogram& h = r.GetHistogram("d_seconds", "durations", {0.1, 1, 10});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(0.5);
  h.Observe(100);
  const std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE d_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("d_seconds_bucket{le=\"0.10000000000000001\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("d_seconds_bucket{le=\"1\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("d_seconds_bucket{le=\"10\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("d_seconds_bucket{le=\"+Inf\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("d_seconds_sum 101.05\n"));
  EXPECT_THAT(text, HasSubstr("d_seconds_count 4\n"));
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry r;
  r.GetGauge("g", "line\\one\ntwo", {{"v", "a\"b\\c\nd"}}).Set(-2);
  EXPECT_THAT(r.Render(), HasSubstr("# HELP g line\\\\one\\ntwo\n"));
  EXPECT_THAT(r.Render(), HasSubstr("g{v=\"a\\\"b\\\\c\\nd\"} -2\n"));
}

TEST(MetricsTest, CallbackGaugesAreReadWhenRendered) {
  MetricsRegistry r;
  int calls = 0;
  r.SetCallbackGauge("tesseras_bytes_held", "bytes", {}, [&] { return ++calls * 1.0; });
  EXPECT_THAT(r.Render(), HasSubstr("tesseras_bytes_held 1\n"));
  EXPECT_THAT(r.Render(), HasSubstr("tesseras_bytes_held 2\n"));
}

TEST(MetricsTest, ConcurrentIncrementsAreNotLost) {
  MetricsRegistry r;
  Counter& c = r.GetCounter("c_total", "c");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c.Inc();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000u);
}

TEST(MetricsDeathTest, OneNameAsTwoKindsAborts) {
  MetricsRegistry r;
  r.GetCounter("m", "m");
  EXPECT_DEATH(r.GetGauge("m", "m"), "two kinds");
}

TEST(MetricsTest, ACallbackMayRegisterASeriesWhileBeingRendered) {
  // A scrape's callback that waits on another thread which registers a series
  // (e.g. the network thread meeting a new refusal reason) must not deadlock.
  MetricsRegistry r;
  r.SetCallbackGauge("tesseras_peers", "peers", {}, [&r] {
    std::thread other([&r] {
      r.GetCounter("tesseras_refusals_total", "r", {{"reason", "x"}}).Inc();
    });
    other.join();
    return 4.0;
  });
  const std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("tesseras_peers 4\n"));
  EXPECT_THAT(r.Render(), HasSubstr("tesseras_refusals_total{reason=\"x\"} 1\n"));
}

}  // namespace
}  // namespace tesseras::core
