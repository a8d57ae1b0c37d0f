// Helpers shared by the files that implement dht::Node (node.cc, lookup.cc,
// serve.cc). Not part of the layer's interface.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "dht/contact.h"
#include "dht/lookup_policy.h"
#include "dht/node.h"
#include "dht/record.h"
#include "net/wire.h"

namespace tesseras::dht::internal {

using SteadyClock = std::chrono::steady_clock;
inline constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

inline wire::Envelope ErrorReply(const core::Error& e) {
  return net::MakeErrorEnvelope(0, e.code, e.message);
}

inline std::span<const uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

inline std::string EncodedKey(const Record& r) {
  auto e = r.Encode();
  return Bytes(e);
}

// Keeps a gauge raised while alive.
class GaugeHold {
 public:
  explicit GaugeHold(core::Gauge& g) : g_(g) { g_.Add(1); }
  ~GaugeHold() { g_.Add(-1); }
  GaugeHold(const GaugeHold&) = delete;
  GaugeHold& operator=(const GaugeHold&) = delete;

 private:
  core::Gauge& g_;
};

}  // namespace tesseras::dht::internal

namespace tesseras::dht {

// One iterative lookup (lookup.cc).
struct Node::LookupState {
  LookupState(asio::any_io_executor ex, core::NodeId target, std::size_t n, LookupLimits limits)
      : frontier(target, n, limits), signal(ex) {}
  bool find_value = false;
  LookupFrontier frontier;
  asio::steady_timer signal;
  std::size_t rpcs = 0;
  std::vector<Record> records;
  std::set<std::string> seen_records;
};

}  // namespace tesseras::dht
