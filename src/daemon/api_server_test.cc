// The API server in-process: graceful drain on Stop. A fake NodeOperations
// blocks inside one request until the test releases it; every wait is on a
// future or a socket with a bound.
#include "daemon/api_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstring>
#include <future>
#include <thread>

#include "daemon/testing/local_node_operations.h"

namespace tesseras::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr auto kWait = 10s;

// Serves GetNode at once; Repair blocks until released.
class BlockingOperations final : public NodeOperations {
 public:
  std::promise<void> entered;
  std::shared_future<void> release;

  core::Result<Json> GetNode() override { return Json{{"node_id", "x"}}; }
  core::Result<Json> Repair(const std::optional<core::ContentHash>&) override {
    entered.set_value();
    if (release.wait_for(kWait) != std::future_status::ready) {
      return core::MakeError(core::ErrorCode::kTimeout, "test never released the request");
    }
    return Json{{"tesseras", Json::array()}};
  }
  core::Result<Json> ListTesseras() override { return Unused(); }
  core::Result<Json> CreateTessera(const std::vector<std::filesystem::path>&) override {
    return Unused();
  }
  core::Result<Json> ShowTessera(const core::ContentHash&) override { return Unused(); }
  core::Result<Json> PublishTessera(const core::ContentHash&) override { return Unused(); }
  core::Result<Json> TesseraStatus(const core::ContentHash&) override { return Unused(); }
  core::Result<Json> FetchTessera(const core::ContentHash&, const std::filesystem::path&) override {
    return Unused();
  }
  core::Result<Json> Verify(const std::optional<core::ContentHash>&) override { return Unused(); }
  core::Result<Json> ListPeers() override { return Unused(); }
  core::Result<Json> Ledger() override { return Unused(); }
  core::Result<Json> Events() override { return Unused(); }
  core::Result<Json> Maintenance() override { return Unused(); }

 private:
  static core::Result<Json> Unused() {
    return core::MakeError(core::ErrorCode::kUnimplemented, "not used by this test");
  }
};

int Connect(const std::filesystem::path& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void Send(int fd, const std::string& text) {
  ASSERT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
}

// Reads until `stop` appears in what was read, EOF, or the bound.
std::string ReadUntil(int fd, const std::string& stop) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!stop.empty() && got.find(stop) != std::string::npos) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

TEST(ApiServerTest, StopDrainsRequestsInProgressAndClosesIdleConnections) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "tesd_api_XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  std::filesystem::path dir(tmpl);
  std::filesystem::path sock = dir / "tesd.sock";

  BlockingOperations ops;
  std::promise<void> release;
  ops.release = release.get_future().share();
  std::future<void> entered = ops.entered.get_future();

  boost::asio::io_context io;
  auto server = std::make_unique<ApiServer>(io.get_executor(), ops, 2);
  ASSERT_TRUE(server->Listen(sock).ok());
  EXPECT_EQ(std::filesystem::status(sock).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  server->Start();
  std::thread runner([&io] { io.run(); });

  // An idle keep-alive connection: one request answered, then nothing.
  int idle = Connect(sock);
  ASSERT_GE(idle, 0);
  Send(idle, "GET /v1/node HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string first = ReadUntil(idle, "}\n");
  EXPECT_THAT(first, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_THAT(first, Not(HasSubstr("Connection: close")));

  // A request that is still running when Stop comes.
  int busy = Connect(sock);
  ASSERT_GE(busy, 0);
  Send(busy, "POST /v1/repair HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(entered.wait_for(kWait), std::future_status::ready);

  std::promise<void> drained;
  std::future<void> drained_future = drained.get_future();
  boost::asio::post(io, [&] { server->Stop([&] { drained.set_value(); }); });
  std::promise<void> stop_ran;
  boost::asio::post(io, [&] { stop_ran.set_value(); });
  ASSERT_EQ(stop_ran.get_future().wait_for(kWait), std::future_status::ready);

  // Stopped: no new connections, the idle one is closed, the busy one waits.
  EXPECT_FALSE(std::filesystem::exists(sock));
  EXPECT_EQ(Connect(sock), -1);
  EXPECT_EQ(ReadUntil(idle, ""), "");  // EOF, nothing more sent
  EXPECT_NE(drained_future.wait_for(0s), std::future_status::ready);

  release.set_value();
  std::string reply = ReadUntil(busy, "");
  EXPECT_THAT(reply, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_THAT(reply, HasSubstr("Connection: close"));
  EXPECT_THAT(reply, HasSubstr("\"tesseras\""));
  EXPECT_EQ(drained_future.wait_for(kWait), std::future_status::ready);

  runner.join();  // run() returns: nothing is left to do once drained
  ::close(idle);
  ::close(busy);
  server.reset();
  std::filesystem::remove_all(dir);
}

TEST(ApiServerTest, ListenRefusesOverlongSocketPath) {
  boost::asio::io_context io;
  LocalNodeOperations ops(core::NodeId{}, "127.0.0.1:1");
  ApiServer server(io.get_executor(), ops, 1);
  auto r = server.Listen(std::filesystem::path("/tmp") / std::string(120, 'x') / "tesd.sock");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.error().message, HasSubstr("shorter --data-dir"));
}

}  // namespace
}  // namespace tesseras::daemon
