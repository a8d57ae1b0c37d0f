// Metrics: counters, gauges and histograms that every layer updates and the
// daemon exposes at GET /metrics in the Prometheus text exposition format
// 0.0.4 (docs/DAEMON.md, "Metrics").
//
// Contract
// - One MetricsRegistry per process (the composition root owns it) is handed
//   to each layer as a pointer; a layer given none uses a registry of its own,
//   so nothing needs to check for null at the point of use.
// - Get*() registers a series on first use and returns the same object for the
//   same (name, labels) afterwards; the reference stays valid for the
//   registry's lifetime. Registering one name as two kinds is a programming
//   error and aborts (our invariant, never peer input).
// - Labels have bounded cardinality: values come from fixed enumerations in
//   our code (a refusal reason, a direction), never from peer input such as
//   an address or a node id.
// - Updating a series (Inc, Set, Observe) is lock-free and safe from any
//   thread, including the network thread. Get*() and Render() take a mutex
//   (Render() not while it calls gauge callbacks); call Get*() once and keep
//   the reference on hot paths.
// - Counter names end in `_total`; units are in the name (`_bytes`,
//   `_seconds`), as the format's conventions ask.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tesseras::core {

// Label pairs, e.g. {{"reason", "deficit"}}. Kept sorted by name when registered.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void Add(int64_t d) { v_.fetch_add(d, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Cumulative buckets with fixed upper bounds (the +Inf bucket is implicit).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);
  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket (not cumulative), + Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};  // sum in millionths: a lock-free double sum
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  Counter& GetCounter(std::string_view name, std::string_view help, MetricLabels labels = {});
  Gauge& GetGauge(std::string_view name, std::string_view help, MetricLabels labels = {});
  Histogram& GetHistogram(std::string_view name, std::string_view help,
                          std::vector<double> upper_bounds, MetricLabels labels = {});

  // A gauge computed when scraped (e.g. bytes held, read from the index).
  // `read` runs inside Render() on the scraping thread, without the registry's
  // mutex held (so it may block, or register series itself); it must be
  // thread-safe. Registering the same (name, labels) again replaces `read`.
  void SetCallbackGauge(std::string_view name, std::string_view help, MetricLabels labels,
                        std::function<double()> read);

  // Every series, grouped by name in registration order, as text format 0.0.4.
  std::string Render() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram, kCallback };
  struct Series {
    MetricLabels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> read;
  };
  struct Family {
    std::string name;
    std::string help;
    Kind kind;
    std::vector<std::unique_ptr<Series>> series;
  };
  Series& Find(std::string_view name, std::string_view help, Kind kind, MetricLabels labels);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;  // registration order
  std::map<std::string, Family*, std::less<>> by_name_;
};

// Buckets for durations in seconds, 1 ms to ~17 min.
std::vector<double> DurationBuckets();

}  // namespace tesseras::core
