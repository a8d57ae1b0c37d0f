#include "dht/routing_table.h"

#include <algorithm>

namespace tesseras::dht {

RoutingTable::RoutingTable(core::NodeId self, RoutingConfig config)
    : self_(self), config_(config) {}

int RoutingTable::BucketOf(const core::NodeId& id) const {
  return core::LeadingZeroBits(core::XorDistance(self_, id).bytes);
}

std::size_t RoutingTable::SubnetCount(const Bucket& b, const Contact& c) const {
  return static_cast<std::size_t>(std::count_if(b.begin(), b.end(), [&](const Entry& e) {
    return SameSubnet(e.contact.endpoint.address(), c.endpoint.address());
  }));
}

RoutingTable::UpdateResult RoutingTable::Update(const Contact& c, TimePoint now) {
  int index = BucketOf(c.id);
  if (index >= 256) return {Outcome::kSelf, std::nullopt};
  Bucket& b = buckets_[index];
  auto it = std::find_if(b.begin(), b.end(), [&](const Entry& e) { return e.contact.id == c.id; });
  if (it != b.end()) {
    Entry e = *it;
    b.erase(it);
    bool moved = e.contact.endpoint != c.endpoint;
    e.contact = c;
    e.last_seen = now;
    e.failures = 0;
    // A node that moved to a crowded subnet loses its place.
    if (moved && SubnetCount(b, c) >= config_.max_per_subnet) {
      return {Outcome::kSubnetLimit, std::nullopt};
    }
    b.push_back(std::move(e));
    return {Outcome::kUpdated, std::nullopt};
  }
  if (SubnetCount(b, c) >= config_.max_per_subnet) return {Outcome::kSubnetLimit, std::nullopt};
  if (b.size() >= config_.k) return {Outcome::kBucketFull, b.front().contact};
  b.push_back(Entry{c, now, 0});
  return {Outcome::kAdded, std::nullopt};
}

bool RoutingTable::Failed(const core::NodeId& id) {
  int index = BucketOf(id);
  if (index >= 256) return false;
  Bucket& b = buckets_[index];
  auto it = std::find_if(b.begin(), b.end(), [&](const Entry& e) { return e.contact.id == id; });
  if (it == b.end()) return false;
  if (++it->failures >= config_.max_failures) {
    b.erase(it);
    return true;
  }
  return false;
}

void RoutingTable::Remove(const core::NodeId& id) {
  int index = BucketOf(id);
  if (index >= 256) return;
  Bucket& b = buckets_[index];
  std::erase_if(b, [&](const Entry& e) { return e.contact.id == id; });
}

bool RoutingTable::Replace(const core::NodeId& old_id, const Contact& c, TimePoint now) {
  Remove(old_id);
  return Update(c, now).outcome == Outcome::kAdded;
}

std::vector<Contact> RoutingTable::Closest(const core::NodeId& target, std::size_t n) const {
  std::vector<std::pair<core::NodeId, const Contact*>> all;
  for (const auto& b : buckets_) {
    for (const auto& e : b) all.emplace_back(core::XorDistance(target, e.contact.id), &e.contact);
  }
  std::size_t m = std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(m), all.end(),
                    [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<Contact> out;
  out.reserve(m);
  for (std::size_t i = 0; i < m; ++i) out.push_back(*all[i].second);
  return out;
}

std::optional<Contact> RoutingTable::Find(const core::NodeId& id) const {
  int index = BucketOf(id);
  if (index >= 256) return std::nullopt;
  for (const auto& e : buckets_[index]) {
    if (e.contact.id == id) return e.contact;
  }
  return std::nullopt;
}

std::size_t RoutingTable::size() const {
  std::size_t n = 0;
  for (const auto& b : buckets_) n += b.size();
  return n;
}

std::vector<int> RoutingTable::BucketsToRefresh(TimePoint now,
                                                std::chrono::milliseconds age) const {
  int closest = 256;
  for (int i = 255; i >= 0; --i) {
    if (!buckets_[i].empty()) {
      closest = i;
      break;
    }
  }
  std::vector<int> out;
  for (int i = 0; i < 256; ++i) {
    bool stale = now - refreshed_[i] >= age;
    if (!stale) continue;
    if (!buckets_[i].empty() || (closest < 256 && i < closest)) out.push_back(i);
  }
  return out;
}

core::NodeId RoutingTable::RandomIdIn(int bucket, std::mt19937_64& rng) const {
  core::NodeId id;
  for (auto& b : id.bytes) b = static_cast<uint8_t>(rng());
  // Distance must have exactly `bucket` leading zeros: copy self's first bits,
  // flip bit `bucket`, keep the rest random.
  for (int bit = 0; bit <= bucket && bit < 256; ++bit) {
    int byte = bit / 8;
    uint8_t mask = static_cast<uint8_t>(0x80u >> (bit % 8));
    bool self_bit = (self_.bytes[byte] & mask) != 0;
    bool want = (bit == bucket) ? !self_bit : self_bit;
    if (want) {
      id.bytes[byte] |= mask;
    } else {
      id.bytes[byte] &= static_cast<uint8_t>(~mask);
    }
  }
  return id;
}

std::vector<Contact> RoutingTable::Stale(TimePoint now, std::chrono::milliseconds age) const {
  std::vector<Contact> out;
  for (const auto& b : buckets_) {
    for (const auto& e : b) {
      if (now - e.last_seen >= age) out.push_back(e.contact);
    }
  }
  return out;
}

}  // namespace tesseras::dht
