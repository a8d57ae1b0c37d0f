// The pure part of iterative lookups (docs/PROTOCOL.md section 7; why, in
// docs/SECURITY.md "DHT"): which candidates a lookup asks next, when it is
// done, and what it returns.
//
// LookupFrontier holds every candidate a lookup has heard of, ordered by XOR
// distance to the target. The *frontier* is the first `n` candidates that
// have not failed, skipping
// - a candidate whose IPv4 /24 (IPv6 /48) already has `max_per_subnet`
//   candidates in the frontier (ids ground near a key on one network take at
//   most that many places, while the lookup iterates and in its result), and
// - a candidate not yet answered whose *source* (the /24 of the node that told
//   us about it) already has `max_unverified_per_source` contacts that have
//   not answered: in the frontier, in flight, or failed. One responder thus
//   cannot fill the frontier with contacts that do not answer, nor send the
//   lookup to more than that many dead ends in turn. Once a candidate answers
//   it no longer counts against its source.
// The lookup is done when every frontier candidate has answered. Skipped
// candidates are kept and may enter the frontier as others fail or answer.
//
// The candidate set is bounded (kMaxCandidatesPerResult × n): a farther
// newcomer is dropped when full, a closer one replaces the farthest never-asked.
//
// Not thread-safe: one lookup on the network thread.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <vector>

#include "core/ids.h"
#include "dht/contact.h"
#include "net/addresses.h"

namespace tesseras::dht {

struct LookupLimits {
  std::size_t max_per_subnet = 2;
  std::size_t max_unverified_per_source = 8;
};

inline constexpr std::size_t kMaxCandidatesPerResult = 8;

class LookupFrontier {
 public:
  enum class Phase { kNew, kInFlight, kAnswered, kFailed };

  LookupFrontier(core::NodeId target, std::size_t n, LookupLimits limits);

  // Adds a candidate learned from a node in `source` (nullopt: from our own
  // routing table). False if it was known already or did not fit.
  bool Add(const Contact& c, std::optional<net::Subnet> source);
  // Up to `slots` frontier candidates never asked, closest first; they are
  // marked in flight.
  std::vector<Contact> Next(std::size_t slots);
  // Every frontier candidate has answered (also when the frontier is empty).
  bool Done() const;
  void Answered(const core::NodeId& id);
  void Failed(const core::NodeId& id);

  // Answered candidates, closest first, at most max_per_subnet per subnet,
  // at most `n`.
  std::vector<Contact> Result(std::size_t n) const;
  // Every answered candidate, closest first, without caps.
  std::vector<Contact> Answered() const;

  std::size_t inflight() const { return inflight_; }
  std::size_t size() const { return candidates_.size(); }
  const core::NodeId& target() const { return target_; }

 private:
  struct Candidate {
    Contact contact;
    Phase phase = Phase::kNew;
    net::Subnet subnet;
    std::optional<net::Subnet> source;
  };
  // Keys (distances) of the frontier candidates, in distance order.
  std::vector<core::NodeId> Frontier() const;
  Candidate* Find(const core::NodeId& id);

  core::NodeId target_;
  std::size_t n_;
  LookupLimits limits_;
  std::map<core::NodeId, Candidate> candidates_;  // by distance to the target
  std::size_t inflight_ = 0;
};

// ---- lookups for more than k nodes (docs/PROTOCOL.md section 7) -------------

// Leading bits `a` and `b` have in common (256 if equal).
int CommonPrefixBits(const core::NodeId& a, const core::NodeId& b);
// `id` with bit `bit` (0 = most significant) flipped.
core::NodeId FlipBit(const core::NodeId& id, int bit);

}  // namespace tesseras::dht
