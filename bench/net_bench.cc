// Network benchmarks on loopback (docs/PERFORMANCE.md, Network):
// - Ping round trip over our TLS connections vs a plain TCP ping-pong;
// - 64 MiB bulk transfer: our protocol (FetchFragment stream, TLS) vs raw TLS
//   vs plain TCP, all in the same run;
// - lookup latency and messages per lookup in a 100-node network.
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdlib>
#include <future>
#include <random>
#include <thread>

#include "dht/async.h"
#include "dht/test_network.h"
#include "net/endpoint.h"
#include "net/testing/io_thread.h"
#include "net/tls.h"
#include "net/tls_socket.h"

namespace tesseras {
namespace {

namespace asio = boost::asio;
using net::tcp;
using SteadyClock = std::chrono::steady_clock;
constexpr std::size_t kBulkBytes = 64u << 20;

using Loop = net::testing::IoThread;

const std::string& BulkData() {
  static const std::string data = [] {
    std::string s(kBulkBytes, '\0');
    std::mt19937_64 rng(5);
    for (std::size_t i = 0; i < s.size(); i += 8) {
      uint64_t v = rng();
      std::memcpy(s.data() + i, &v, 8);
    }
    return s;
  }();
  return data;
}

asio::thread_pool& ReadPool() {
  static asio::thread_pool pool(1);
  return pool;
}

// Server side: Ping -> Pong; FetchFragment -> 64 MiB from memory.
asio::awaitable<void> BenchHandler(std::shared_ptr<net::Connection> conn,
                                   std::shared_ptr<net::Exchange> ex, wire::Envelope req) {
  if (req.has_ping()) {
    wire::Envelope pong;
    pong.mutable_pong();
    (void)conn->Reply(*ex, std::move(pong));
    co_return;
  }
  wire::Envelope head;
  head.mutable_fragment_header()->set_size(kBulkBytes);
  (void)conn->Reply(*ex, std::move(head));
  // Reads run on a worker thread, as the node's fragment reads do (dht::Node
  // hands every ReadAt to its pool), so the network thread only does TLS.
  net::Connection::ChunkReader read =
      [](uint64_t offset, std::span<uint8_t> out) -> asio::awaitable<core::Result<void>> {
    auto job = [offset, out]() -> core::Result<void> {
      std::memcpy(out.data(), BulkData().data() + offset, out.size());
      return core::Ok();
    };
    auto done = co_await dht::RunOnPool(ReadPool(), std::move(job));
    co_return done;
  };
  (void)co_await conn->SendStream(*ex, kBulkBytes, read);
}

struct TlsPair {
  TlsPair() {
    auto limits = net::Limits{};
    limits.min_pow_bits = 4;
    // The benchmark pings back to back: lift the per-connection rate limit.
    limits.inbound_requests_per_second = 1e9;
    limits.inbound_request_burst = 1e9;
    if (const char* w = std::getenv("TESSERAS_BENCH_WINDOW")) {
      limits.stream_window_chunks = static_cast<uint32_t>(std::atoi(w));
    }
    server_id.emplace(crypto::Identity::Generate(4).value());
    client_id.emplace(crypto::Identity::Generate(4).value());
    server_loop.Sync([&] {
      server = std::make_shared<net::Endpoint>(server_loop.ex(), *server_id, limits, 1);
      server->SetRequestHandler(BenchHandler);
      (void)server->Listen(*net::ParseEndpoint("127.0.11.1:0"));
    });
    client_loop.Sync([&] {
      client = std::make_shared<net::Endpoint>(client_loop.ex(), *client_id, limits, 1);
      (void)client->Listen(*net::ParseEndpoint("127.0.12.1:0"));
    });
  }
  ~TlsPair() {
    server_loop.Sync([&] { server->Stop(); });
    client_loop.Sync([&] { client->Stop(); });
  }
  asio::awaitable<core::Result<std::shared_ptr<net::Connection>>> Connect() {
    co_return co_await client->Connect(server->local_endpoint(), server_id->node_id());
  }
  std::optional<crypto::Identity> server_id, client_id;
  Loop server_loop, client_loop;
  std::shared_ptr<net::Endpoint> server, client;
};

void BM_PingTls(benchmark::State& state) {
  TlsPair pair;
  constexpr int kBatch = 200;
  for (auto _ : state) {
    auto seconds = pair.client_loop.Await<double>([&]() -> asio::awaitable<double> {
      auto conn = co_await pair.Connect();
      if (!conn.ok()) co_return -1;
      auto start = SteadyClock::now();
      for (int i = 0; i < kBatch; ++i) {
        wire::Envelope ping;
        ping.mutable_ping();
        auto r = co_await (*conn)->Call(std::move(ping), net::Millis(5000));
        if (!r.ok()) co_return -1;
      }
      co_return std::chrono::duration<double>(SteadyClock::now() - start).count();
    });
    if (seconds < 0) {
      state.SkipWithError("ping failed");
      break;
    }
    state.SetIterationTime(seconds / kBatch);
  }
}
BENCHMARK(BM_PingTls)->UseManualTime()->Unit(benchmark::kMicrosecond)->Iterations(50);

void BM_PingPlainTcp(benchmark::State& state) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.13.1"), 0));
  std::thread server([&] {
    tcp::socket s(io);
    acceptor.accept(s);
    s.set_option(tcp::no_delay(true));
    std::array<char, 16> buf{};
    boost::system::error_code ec;
    while (!ec) {
      asio::read(s, asio::buffer(buf), ec);
      if (!ec) asio::write(s, asio::buffer(buf), ec);
    }
  });
  tcp::socket c(io);
  c.connect(acceptor.local_endpoint());
  c.set_option(tcp::no_delay(true));
  std::array<char, 16> msg{};
  for (auto _ : state) {
    asio::write(c, asio::buffer(msg));
    asio::read(c, asio::buffer(msg));
  }
  c.close();
  server.join();
}
BENCHMARK(BM_PingPlainTcp)->Unit(benchmark::kMicrosecond);

// One 64 MiB FetchFragment exchange on a fresh connection; seconds from the
// request to the last byte, or -1 on failure.
double ProtocolTransferSeconds(TlsPair& pair) {
  return pair.client_loop.Await<double>([&]() -> asio::awaitable<double> {
    auto conn = co_await pair.Connect();
    if (!conn.ok()) co_return -1;
    auto start = SteadyClock::now();
    wire::Envelope req;
    req.mutable_fetch_fragment()->set_tessera(std::string(32, 't'));
    auto ex = (*conn)->Open(std::move(req));
    if (!ex.ok()) co_return -1;
    auto head = co_await (*conn)->Next(**ex, net::Millis(5000));
    if (!head.ok() || !head->has_fragment_header()) co_return -1;
    uint64_t got = 0;
    net::Connection::ChunkWriter write =
        [&](std::span<const uint8_t> data) -> asio::awaitable<core::Result<void>> {
      got += data.size();
      co_return core::Ok();
    };
    auto r = co_await (*conn)->ReceiveStream(**ex, head->fragment_header().size(), write);
    (*conn)->Finish(*ex);
    if (!r.ok() || got != kBulkBytes) co_return -1;
    co_return std::chrono::duration<double>(SteadyClock::now() - start).count();
  });
}

// Raw streams: one thread writes 64 MiB in 256 KiB writes, the other reads.
// TLS through Asio's blocking SSL stream with the nodes' TLS contexts, or
// plain TCP. Timed like the protocol transfer: from the writer's first byte
// (once both ends are connected and ready) to the reader's last.
struct RawPair {
  RawPair()
      : id_a(crypto::Identity::Generate(4).value()),
        id_b(crypto::Identity::Generate(4).value()),
        ctx_a(net::MakeTlsContext(id_a).value()),
        ctx_b(net::MakeTlsContext(id_b).value()) {}
  double TransferSeconds(bool tls) {
    const auto& data = BulkData();
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.14.1"), 0));
    std::promise<void> reader_ready;
    SteadyClock::time_point end;
    std::thread reader([&] {
      asio::ssl::stream<tcp::socket> s(io, *ctx_a);
      acceptor.accept(s.lowest_layer());
      if (tls) s.handshake(asio::ssl::stream_base::server);
      std::vector<char> buf(net::kMaxChunkBytes);
      reader_ready.set_value();
      std::size_t total = 0;
      boost::system::error_code ec;
      while (total < data.size() && !ec) {
        total += tls ? s.read_some(asio::buffer(buf), ec)
                     : s.next_layer().read_some(asio::buffer(buf), ec);
      }
      end = SteadyClock::now();
    });
    asio::ssl::stream<tcp::socket> c(io, *ctx_b);
    c.lowest_layer().connect(acceptor.local_endpoint());
    if (tls) c.handshake(asio::ssl::stream_base::client);
    reader_ready.get_future().wait();
    auto start = SteadyClock::now();
    for (std::size_t off = 0; off < data.size(); off += net::kMaxChunkBytes) {
      auto piece = asio::buffer(data.data() + off, net::kMaxChunkBytes);
      if (tls) {
        asio::write(c, piece);
      } else {
        asio::write(c.next_layer(), piece);
      }
    }
    reader.join();
    return std::chrono::duration<double>(end - start).count();
  }
  crypto::Identity id_a, id_b;
  std::shared_ptr<asio::ssl::context> ctx_a, ctx_b;
};

// Our TLS transport alone (net::TlsSocket, as the nodes use it, async on two
// network threads): 64 MiB in 256 KiB writes, timed from the first write to
// the last byte read.
double TlsSocketTransferSeconds(TlsPair& pair) {
  const auto& data = BulkData();
  auto acceptor = std::make_shared<tcp::acceptor>(
      pair.server_loop.ex(), tcp::endpoint(asio::ip::make_address("127.0.15.1"), 0));
  auto where = acceptor->local_endpoint();
  auto reader = dht::SpawnFuture<double>(
      pair.server_loop.ex(), [&pair, acceptor]() -> asio::awaitable<double> {
        auto [ec, socket] = co_await acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return -1;
        net::TlsSocket tls(std::move(socket), *pair.server->tls_context());
        if (!(co_await tls.Handshake(net::TlsSocket::Role::kServer)).ok()) co_return -1;
        std::vector<uint8_t> buf(net::kMaxChunkBytes);
        for (std::size_t got = 0; got < kBulkBytes; got += buf.size()) {
          if (!(co_await tls.Read(buf)).ok()) co_return -1;
        }
        co_return std::chrono::duration<double>(SteadyClock::now().time_since_epoch()).count();
      });
  auto start = pair.client_loop.Await<double>([&]() -> asio::awaitable<double> {
    tcp::socket socket(co_await asio::this_coro::executor);
    auto [ec] = co_await socket.async_connect(where, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return -1;
    socket.set_option(tcp::no_delay(true));
    net::TlsSocket tls(std::move(socket), *pair.client->tls_context());
    if (!(co_await tls.Handshake(net::TlsSocket::Role::kClient)).ok()) co_return -1;
    double t0 = std::chrono::duration<double>(SteadyClock::now().time_since_epoch()).count();
    for (std::size_t off = 0; off < kBulkBytes; off += net::kMaxChunkBytes) {
      if (!(co_await tls.Write(asio::buffer(data.data() + off, net::kMaxChunkBytes))).ok()) {
        co_return -1;
      }
    }
    co_return t0;
  });
  double end = reader.get();
  if (start < 0 || end < 0) return -1;
  return end - start;
}

void BM_Bulk64MiBProtocolTls(benchmark::State& state) {
  TlsPair pair;
  BulkData();
  for (auto _ : state) {
    double seconds = ProtocolTransferSeconds(pair);
    if (seconds < 0) {
      state.SkipWithError("transfer failed");
      break;
    }
    state.SetIterationTime(seconds);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBulkBytes));
}
BENCHMARK(BM_Bulk64MiBProtocolTls)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);

template <bool kTls>
void BulkRaw(benchmark::State& state) {
  RawPair pair;
  BulkData();
  for (auto _ : state) state.SetIterationTime(pair.TransferSeconds(kTls));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBulkBytes));
}
void BM_Bulk64MiBRawTls(benchmark::State& state) { BulkRaw<true>(state); }
void BM_Bulk64MiBPlainTcp(benchmark::State& state) { BulkRaw<false>(state); }
BENCHMARK(BM_Bulk64MiBRawTls)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_Bulk64MiBPlainTcp)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);

// The four transfers in alternating rounds (TCP, Asio TLS, TlsSocket, protocol,
// TCP, ...)
// so that each ratio compares runs made under the same machine load. Reports
// the median throughput of each and the ratios of the medians; one iteration
// of the benchmark is `range(0)` rounds.
double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

void BM_Bulk64MiBInterleaved(benchmark::State& state) {
  TlsPair tls_pair;
  RawPair raw_pair;
  BulkData();
  std::vector<double> tcp, raw, ours, proto, proto_over_tcp;
  for (auto _ : state) {
    for (int64_t round = 0; round < state.range(0); ++round) {
      tcp.push_back(raw_pair.TransferSeconds(false));
      raw.push_back(raw_pair.TransferSeconds(true));
      ours.push_back(TlsSocketTransferSeconds(tls_pair));
      double p = ProtocolTransferSeconds(tls_pair);
      if (p < 0 || ours.back() < 0) {
        state.SkipWithError("transfer failed");
        return;
      }
      proto.push_back(p);
      proto_over_tcp.push_back(tcp.back() / p);
    }
  }
  auto gbps = [](double seconds) { return static_cast<double>(kBulkBytes) / seconds / 1e9; };
  state.counters["tcp_GBps"] = gbps(Median(tcp));
  state.counters["raw_tls_GBps"] = gbps(Median(raw));
  state.counters["protocol_GBps"] = gbps(Median(proto));
  state.counters["protocol_vs_tcp"] = Median(tcp) / Median(proto);
  state.counters["raw_tls_vs_tcp"] = Median(tcp) / Median(raw);
  state.counters["tls_socket_GBps"] = gbps(Median(ours));
  state.counters["tls_socket_vs_tcp"] = Median(tcp) / Median(ours);
  // Per round (same moment on the machine): the worst round's ratio.
  state.counters["protocol_vs_tcp_min_round"] =
      *std::min_element(proto_over_tcp.begin(), proto_over_tcp.end());
}
BENCHMARK(BM_Bulk64MiBInterleaved)->Arg(15)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_Lookup100Nodes(benchmark::State& state) {
  dht::testing::TestNetwork net;
  for (int i = 0; i < 100; ++i) {
    if (!net.Add()) {
      state.SkipWithError("node did not start");
      return;
    }
  }
  auto seed = net.AddressOf(net.nodes()[0]);
  std::vector<std::future<core::Result<void>>> boots;
  for (std::size_t i = 1; i < net.nodes().size(); ++i) {
    auto n = net.nodes()[i];
    boots.push_back(net.Spawn<core::Result<void>>([n, seed]() { return n->Bootstrap({seed}); }));
  }
  for (auto& b : boots) (void)b.get();
  auto totals = [&] {
    return net.Sync([&] {
      std::pair<uint64_t, uint64_t> t{0, 0};
      for (const auto& n : net.nodes()) {
        t.first += n->stats().lookups;
        t.second += n->stats().lookup_rpcs;
      }
      return t;
    });
  };
  auto before = totals();
  std::mt19937_64 rng(3);
  for (auto _ : state) {
    auto querier = net.nodes()[rng() % net.nodes().size()];
    core::NodeId target;
    for (auto& b : target.bytes) b = static_cast<uint8_t>(rng());
    auto seconds = net.Await<double>([querier, target]() -> asio::awaitable<double> {
      auto start = SteadyClock::now();
      auto r = co_await querier->Lookup(target);
      if (!r.ok()) co_return -1;
      co_return std::chrono::duration<double>(SteadyClock::now() - start).count();
    });
    if (seconds < 0) {
      state.SkipWithError("lookup failed");
      break;
    }
    state.SetIterationTime(seconds);
  }
  auto after = totals();
  state.counters["msgs_per_lookup"] =
      static_cast<double>(after.second - before.second) /
      static_cast<double>(std::max<uint64_t>(1, after.first - before.first));
}
BENCHMARK(BM_Lookup100Nodes)->UseManualTime()->Unit(benchmark::kMicrosecond)->Iterations(200);

}  // namespace
}  // namespace tesseras

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
