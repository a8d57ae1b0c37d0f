// Iterative lookups of dht::Node (docs/PROTOCOL.md section 7).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "dht/async.h"
#include "dht/node.h"
#include "dht/node_internal.h"

namespace tesseras::dht {

using core::ErrorCode;
using core::MakeError;
using core::Result;
using internal::AsBytes;
using internal::EncodedKey;
using internal::kAwait;
using internal::SteadyClock;

asio::awaitable<Result<std::shared_ptr<Node::LookupState>>> Node::Iterate(
    core::NodeId target, bool find_value, std::size_t n, SteadyClock::time_point deadline) {
  auto self = shared_from_this();
  if (n == 0) n = config_.routing.k;
  auto st = std::make_shared<LookupState>(io_, target, n, config_.lookup);
  st->find_value = find_value;
  // More than n to start from: the frontier's subnet caps may skip some.
  for (const auto& c : routing_.Closest(target, 2 * n)) st->frontier.Add(c, std::nullopt);
  if (st->frontier.size() == 0) {
    co_return MakeError(ErrorCode::kUnavailable, "no contacts to start a lookup from");
  }
  ++stats_.lookups;
  const std::size_t max_rpcs = std::max<std::size_t>(64, 4 * n);
  while (true) {
    if (stopped_) co_return MakeError(ErrorCode::kCancelled, "node stopped");
    if (st->frontier.Done()) break;
    if (SteadyClock::now() >= deadline) {
      ++stats_.lookups_timed_out;
      spdlog::debug("lookup of {}… stopped at its deadline after {} requests", target.Short(),
                    st->rpcs);
      break;
    }
    std::size_t slots =
        config_.alpha > st->frontier.inflight() ? config_.alpha - st->frontier.inflight() : 0;
    if (st->rpcs >= max_rpcs) slots = 0;
    for (const auto& c : st->frontier.Next(slots)) {
      ++st->rpcs;
      ++stats_.lookup_rpcs;
      asio::co_spawn(
          io_, [self, st, c]() { return self->Query(st, c); }, LogIfFailed{"lookup query"});
    }
    if (st->frontier.inflight() == 0) break;  // nothing more to ask (or the budget is spent)
    st->signal.expires_at(deadline);
    co_await st->signal.async_wait(kAwait);
  }
  co_return st;
}

asio::awaitable<void> Node::Query(std::shared_ptr<LookupState> st, Contact c) {
  auto self = shared_from_this();
  wire::Envelope req;
  if (st->find_value) {
    req.mutable_find_value()->set_key(Bytes(st->frontier.target().bytes));
  } else {
    req.mutable_find_node()->set_target(Bytes(st->frontier.target().bytes));
  }
  auto r = co_await Rpc(c, std::move(req));
  bool shaped = r.ok() && (st->find_value ? r->has_value() : r->has_nodes());
  if (!shaped) {
    st->frontier.Failed(c.id);
  } else {
    st->frontier.Answered(c.id);
    const net::Subnet source = net::SubnetOf(c.endpoint.address());
    const auto& contacts = st->find_value ? r->value().closer() : r->nodes().nodes();
    for (const auto& wc : contacts) {
      auto contact = FromWire(wc, config_.limits.min_pow_bits);
      if (!contact.ok()) {
        ++stats_.contacts_refused;
        spdlog::debug("refused contact from {}: {}", c.id.Short(), contact.error().ToString());
        continue;
      }
      if (contact->id == identity_.node_id()) continue;
      if (!net::ContactAllowed(scope_, contact->endpoint.address())) {
        ++stats_.contacts_out_of_scope;
        refusals_->Note("contact_scope", c.endpoint.address().to_string(),
                        "contact at " + contact->Address() + " is outside our contact scope");
        continue;
      }
      st->frontier.Add(*contact, source);
    }
    if (st->find_value) {
      int64_t now = NowUnixMs();
      for (const auto& bytes : r->value().records()) {
        auto rec = Record::ParseVerified(AsBytes(bytes));
        if (!rec.ok()) {
          ++stats_.records_refused;
          continue;
        }
        if (rec->key != st->frontier.target() || rec->expires_unix_ms <= now) continue;
        if (st->seen_records.insert(EncodedKey(*rec)).second) st->records.push_back(*rec);
      }
    }
  }
  st->signal.cancel();
}

asio::awaitable<Result<void>> Node::Explore(core::NodeId target, core::NodeId root, int bits,
                                            std::size_t need, SteadyClock::time_point deadline,
                                            std::map<core::NodeId, Contact>& found) {
  auto self = shared_from_this();
  const std::size_t k = config_.routing.k;
  CO_ASSIGN_OR_RETURN(auto st, co_await Iterate(root, false, k, deadline));
  std::vector<Contact> answered = st->frontier.Answered();  // closest to `root` first
  for (const auto& c : answered) found.emplace(core::XorDistance(target, c.id), c);
  // The k closest to `root` are the subtree's k closest, if the subtree has
  // that many: then it may hold more, in its shells farther from `root`.
  if (need <= k || answered.size() < k) co_return core::Ok();
  for (std::size_t i = 0; i < k; ++i) {
    if (CommonPrefixBits(answered[i].id, root) < bits) co_return core::Ok();  // exhausted
  }
  // Shells deeper than the k-th's are complete; walk the others outwards.
  const int deepest_open = CommonPrefixBits(answered[k - 1].id, root);
  auto known_within = [&](int level) {
    std::size_t n = 0;
    for (const auto& [d, c] : found) {
      if (CommonPrefixBits(c.id, root) >= level) ++n;
    }
    return n;
  };
  for (int level = deepest_open; level >= bits; --level) {
    if (known_within(bits) >= need || SteadyClock::now() >= deadline || stopped_) break;
    // The shell of ids sharing exactly `level` bits with `root` is the
    // subtree of `root` with bit `level` flipped, sharing level + 1 bits.
    std::size_t have = known_within(level + 1);
    auto shell = co_await Explore(target, FlipBit(root, level), level + 1,
                                  need > have ? need - have : 0, deadline, found);
    if (!shell.ok()) {
      if (shell.error().code == ErrorCode::kCancelled) co_return std::move(shell).error();
      spdlog::debug("lookup of {}…: shell {} not explored: {}", target.Short(), level,
                    shell.error().ToString());
    }
  }
  co_return core::Ok();
}

asio::awaitable<Result<std::vector<Contact>>> Node::Lookup(core::NodeId target, std::size_t n) {
  auto self = shared_from_this();
  const std::size_t k = config_.routing.k;
  if (n == 0) n = k;
  auto deadline = SteadyClock::now() + config_.lookup_timeout;
  if (n <= k) {
    CO_ASSIGN_OR_RETURN(auto st, co_await Iterate(target, false, n, deadline));
    co_return st->frontier.Result(n);
  }
  std::map<core::NodeId, Contact> found;  // by distance to the target
  CO_TRY(co_await Explore(target, target, 0, n, deadline, found));
  std::vector<Contact> out;
  std::map<net::Subnet, std::size_t> per_subnet;
  const std::size_t cap = std::max<std::size_t>(1, config_.lookup.max_per_subnet);
  for (const auto& [distance, c] : found) {
    if (out.size() >= n) break;
    if (per_subnet[net::SubnetOf(c.endpoint.address())]++ >= cap) continue;
    out.push_back(c);
  }
  co_return out;
}

}  // namespace tesseras::dht
