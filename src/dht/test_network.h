// Test support (header only; used by dht tests and tests/dht_*): many nodes on
// one network thread, each on its own loopback address 127.0.N.1, with short
// timeouts and a low proof-of-work difficulty.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dht/async.h"
#include "dht/node.h"

namespace tesseras::dht::testing {

inline constexpr int kTestPowBits = 4;

inline NodeConfig TestConfig() {
  NodeConfig c;
  // Generous enough for sanitizer builds on a loaded machine (one network
  // thread serves every node of a test); failures to reach a stopped node are
  // immediate (connection refused), so tests do not wait for these.
  c.limits.connect_timeout = Millis(3000);
  c.limits.handshake_timeout = Millis(5000);
  c.limits.request_timeout = Millis(5000);
  c.limits.chunk_timeout = Millis(2000);
  c.limits.idle_timeout = Millis(10000);
  c.limits.min_pow_bits = kTestPowBits;
  c.maintenance_tick = Millis(50);
  c.bootstrap_retry = Millis(200);
  c.ping_interval = Millis(3600 * 1000);
  c.refresh_interval = Millis(3600 * 1000);
  c.republish_interval = Millis(3600 * 1000);
  return c;
}

class TestNetwork {
 public:
  explicit TestNetwork(std::size_t workers = 2)
      : pool_(workers), work_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~TestNetwork() {
    Sync([this] {
      for (auto& n : nodes_) n->Stop();
      nodes_.clear();
    });
    pool_.join();
    work_.reset();
    io_.stop();
    thread_.join();
  }

  // Starts a node on 127.0.<count+1>.1 (ephemeral port).
  std::shared_ptr<Node> Add(NodeConfig config = TestConfig()) {
    std::size_t n = nodes_.size() + 1;
    return Add(crypto::Identity::Generate(kTestPowBits).value(),
               "127.0." + std::to_string(n % 250) + "." + std::to_string(1 + n / 250),
               std::move(config));
  }
  // Starts a node with `identity` on `ip` (ephemeral port): for tests that
  // put several nodes on one address or grind their ids.
  std::shared_ptr<Node> Add(const crypto::Identity& identity, const std::string& ip,
                            NodeConfig config = TestConfig()) {
    config.listen_address = ip + ":0";
    auto node = Node::Create(io_.get_executor(), pool_, identity, config);
    auto started = Sync([&] { return node->Start(); });
    if (!started.ok()) return nullptr;
    nodes_.push_back(node);
    return node;
  }

  template <typename T>
  std::future<T> Spawn(std::function<asio::awaitable<T>()> make) {
    return SpawnFuture<T>(io_.get_executor(), std::move(make));
  }
  template <typename T>
  T Await(std::function<asio::awaitable<T>()> make) {
    return Spawn<T>(std::move(make)).get();
  }
  // Runs `f` on the network thread and returns its result.
  template <typename F>
  auto Sync(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto fut = task.get_future();
    asio::post(io_, [&task] { task(); });
    return fut.get();
  }
  // Evaluates `pred` on the network thread every few milliseconds until it
  // holds or `timeout` passes.
  bool WaitUntil(std::function<bool()> pred, Millis timeout) {
    return Await<bool>([pred, timeout]() -> asio::awaitable<bool> {
      asio::steady_timer t(co_await asio::this_coro::executor);
      auto deadline = std::chrono::steady_clock::now() + timeout;
      while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) co_return false;
        t.expires_after(Millis(20));
        co_await t.async_wait(asio::use_awaitable);
      }
      co_return true;
    });
  }

  std::string AddressOf(const std::shared_ptr<Node>& n) {
    return Sync([&] { return n->self_contact().Address(); });
  }
  core::PeerInfo InfoOf(const std::shared_ptr<Node>& n) {
    return Sync([&] { return n->self_contact().ToPeerInfo(); });
  }
  const std::vector<std::shared_ptr<Node>>& nodes() const { return nodes_; }
  asio::thread_pool& pool() { return pool_; }

 private:
  asio::io_context io_;
  asio::thread_pool pool_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::vector<std::shared_ptr<Node>> nodes_;
};

}  // namespace tesseras::dht::testing
