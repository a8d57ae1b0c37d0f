#include "core/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace tesseras::core {
namespace {

// Text format 0.0.4: label values escape \, " and newline; HELP escapes \ and newline.
std::string Escape(std::string_view s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9.0e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    return buf;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string LabelText(const MetricLabels& labels, std::string_view extra_name = {},
                      std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ",";
    first = false;
    out += k + "=\"" + Escape(v, true) + "\"";
  }
  if (!extra_name.empty()) {
    if (!first) out += ",";
    out += std::string(extra_name) + "=\"" + std::string(extra_value) + "\"";
  }
  return out + "}";
}

const char* KindName(int kind) {
  switch (kind) {
    case 0:
      return "counter";
    case 2:
      return "histogram";
    default:
      return "gauge";
  }
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  counts_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double v) {
  const std::size_t b = static_cast<std::size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  counts_[b].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (v > 0 && std::isfinite(v)) {
    sum_micros_.fetch_add(static_cast<uint64_t>(std::llround(v * 1e6)), std::memory_order_relaxed);
  }
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
  return s;
}

MetricsRegistry::Series& MetricsRegistry::Find(std::string_view name, std::string_view help,
                                               Kind kind, MetricLabels labels) {
  std::sort(labels.begin(), labels.end());
  auto it = by_name_.find(name);
  Family* fam;
  if (it == by_name_.end()) {
    families_.push_back(
        std::make_unique<Family>(Family{std::string(name), std::string(help), kind, {}}));
    fam = families_.back().get();
    by_name_.emplace(fam->name, fam);
  } else {
    fam = it->second;
    if (fam->kind != kind) {
      std::fprintf(stderr, "metric %.*s registered as two kinds\n", static_cast<int>(name.size()),
                   name.data());
      std::abort();
    }
  }
  for (auto& s : fam->series) {
    if (s->labels == labels) return *s;
  }
  fam->series.push_back(std::make_unique<Series>());
  fam->series.back()->labels = std::move(labels);
  return *fam->series.back();
}

Counter& MetricsRegistry::GetCounter(std::string_view name, std::string_view help,
                                     MetricLabels labels) {
  std::lock_guard lock(mu_);
  Series& s = Find(name, help, Kind::kCounter, std::move(labels));
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& MetricsRegistry::GetGauge(std::string_view name, std::string_view help,
                                 MetricLabels labels) {
  std::lock_guard lock(mu_);
  Series& s = Find(name, help, Kind::kGauge, std::move(labels));
  if (!s.gauge) s.gauge = std::make_unique<Gauge>();
  return *s.gauge;
}

Histogram& MetricsRegistry::GetHistogram(std::string_view name, std::string_view help,
                                         std::vector<double> upper_bounds, MetricLabels labels) {
  std::lock_guard lock(mu_);
  Series& s = Find(name, help, Kind::kHistogram, std::move(labels));
  if (!s.histogram) s.histogram = std::make_unique<Histogram>(std::move(upper_bounds));
  return *s.histogram;
}

void MetricsRegistry::SetCallbackGauge(std::string_view name, std::string_view help,
                                       MetricLabels labels, std::function<double()> read) {
  std::lock_guard lock(mu_);
  Find(name, help, Kind::kCallback, std::move(labels)).read = std::move(read);
}

std::string MetricsRegistry::Render() const {
  // Copy what is needed under the lock, then read the callbacks without it: a
  // callback may block (it runs a query, or waits on another thread that may
  // itself be registering a series), and must never do so holding mu_.
  struct SeriesCopy {
    MetricLabels labels;
    double value = 0;
    Histogram::Snapshot histogram;
    std::function<double()> read;
  };
  struct FamilyCopy {
    std::string name;
    std::string help;
    Kind kind;
    std::vector<SeriesCopy> series;
  };
  std::vector<FamilyCopy> families;
  {
    std::lock_guard lock(mu_);
    families.reserve(families_.size());
    for (const auto& fam : families_) {
      FamilyCopy f{fam->name, fam->help, fam->kind, {}};
      for (const auto& s : fam->series) {
        SeriesCopy c;
        c.labels = s->labels;
        switch (fam->kind) {
          case Kind::kCounter:
            c.value = static_cast<double>(s->counter->value());
            break;
          case Kind::kGauge:
            c.value = static_cast<double>(s->gauge->value());
            break;
          case Kind::kCallback:
            c.read = s->read;
            break;
          case Kind::kHistogram:
            c.histogram = s->histogram->Read();
            break;
        }
        f.series.push_back(std::move(c));
      }
      families.push_back(std::move(f));
    }
  }
  std::string out;
  for (auto& fam : families) {
    out += "# HELP " + fam.name + " " + Escape(fam.help, false) + "\n";
    out += "# TYPE " + fam.name + " " + KindName(static_cast<int>(fam.kind)) + "\n";
    for (auto& s : fam.series) {
      if (fam.kind == Kind::kCallback) s.value = s.read ? s.read() : 0;
      if (fam.kind != Kind::kHistogram) {
        out += fam.name + LabelText(s.labels) + " " + FormatValue(s.value) + "\n";
        continue;
      }
      const auto& snap = s.histogram;
      for (std::size_t i = 0; i < snap.upper_bounds.size(); ++i) {
        out += fam.name + "_bucket" + LabelText(s.labels, "le", FormatValue(snap.upper_bounds[i])) +
               " " + FormatValue(static_cast<double>(snap.cumulative[i])) + "\n";
      }
      out += fam.name + "_bucket" + LabelText(s.labels, "le", "+Inf") + " " +
             FormatValue(static_cast<double>(snap.count)) + "\n";
      out += fam.name + "_sum" + LabelText(s.labels) + " " + FormatValue(snap.sum) + "\n";
      out += fam.name + "_count" + LabelText(s.labels) + " " +
             FormatValue(static_cast<double>(snap.count)) + "\n";
    }
  }
  return out;
}

std::vector<double> DurationBuckets() {
  std::vector<double> b;
  for (double v = 0.001; v < 1100; v *= 4) b.push_back(v);
  return b;
}

}  // namespace tesseras::core
