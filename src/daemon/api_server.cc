#include "daemon/api_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <optional>
#include <utility>

#include "daemon/api_router.h"

namespace tesseras::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::use_awaitable;
using local = asio::local::stream_protocol;

struct ApiServer::Session {
  explicit Session(local::socket s) : socket(std::move(s)) {}
  local::socket socket;
  bool busy = false;  // a request has been read and its reply is not yet written
};

namespace {

// Logs the failure of a detached coroutine; they are written not to throw, so
// this only fires on a bug.
void LogIfFailed(std::exception_ptr e, const char* what) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("api: {} failed: {}", what, ex.what());
  } catch (...) {
    spdlog::error("api: {} failed with an unknown exception", what);
  }
}

http::response<http::string_body> MakeResponse(const ApiReply& reply, unsigned version,
                                               bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(reply.status), version};
  res.set(http::field::server, "tesd");
  res.set(http::field::content_type, "application/json");
  if (!reply.allow.empty()) res.set(http::field::allow, reply.allow);
  res.keep_alive(keep_alive);
  res.body() = reply.body.dump() + "\n";
  res.prepare_payload();
  return res;
}

}  // namespace

ApiServer::ApiServer(asio::any_io_executor io, NodeOperations& operations,
                     std::size_t worker_threads)
    : io_(io), operations_(operations), pool_(worker_threads), acceptor_(io) {}

ApiServer::~ApiServer() {
  pool_.stop();
  pool_.join();
}

core::Result<void> ApiServer::Listen(const std::filesystem::path& socket_path) {
  constexpr std::size_t kMaxPath = sizeof(sockaddr_un::sun_path) - 1;
  if (socket_path.native().size() > kMaxPath) {
    return core::MakeError(
        core::ErrorCode::kInvalidArgument,
        fmt::format("API socket path {} is {} bytes, over the {}-byte limit of "
                    "Unix sockets: use a shorter --data-dir",
                    socket_path.string(), socket_path.native().size(), kMaxPath));
  }
  boost::system::error_code ec;
  acceptor_.open(local(), ec);
  if (!ec) {
    // The socket file is created by bind(); make it 0600 from the first moment.
    mode_t old_mask = ::umask(0177);
    acceptor_.bind(local::endpoint(socket_path.native()), ec);
    ::umask(old_mask);
  }
  if (!ec) {
    std::filesystem::permissions(
        socket_path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
  }
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acceptor_.close();
    return core::MakeError(core::ErrorCode::kIo, fmt::format("cannot serve the local API on {}: {}",
                                                             socket_path.string(), ec.message()));
  }
  socket_path_ = socket_path;
  return core::Ok();
}

void ApiServer::Start() {
  asio::co_spawn(io_, AcceptLoop(), [](std::exception_ptr e) { LogIfFailed(e, "accept loop"); });
}

void ApiServer::Stop(std::function<void()> on_drained) {
  if (stopping_) return;
  stopping_ = true;
  on_drained_ = std::move(on_drained);
  boost::system::error_code ec;
  acceptor_.close(ec);
  if (!socket_path_.empty()) {
    std::filesystem::remove(socket_path_, ec);
  }
  for (const auto& session : sessions_) {
    // Idle connections wait in a read: closing makes it fail and the session end.
    if (!session->busy) session->socket.close(ec);
  }
  if (sessions_.empty() && on_drained_) {
    auto done = std::move(on_drained_);
    on_drained_ = nullptr;
    asio::post(io_, std::move(done));
  }
}

asio::awaitable<void> ApiServer::AcceptLoop() {
  asio::steady_timer backoff(io_);
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(use_awaitable));
    if (stopping_ || ec == asio::error::operation_aborted) break;
    if (ec) {
      // E.g. out of file descriptors: say so and back off instead of spinning.
      spdlog::warn("api: accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(asio::as_tuple(use_awaitable));
      continue;
    }
    auto session = std::make_shared<Session>(std::move(socket));
    sessions_.insert(session);
    asio::co_spawn(io_, Serve(session), [](std::exception_ptr e) { LogIfFailed(e, "session"); });
  }
}

asio::awaitable<void> ApiServer::Serve(std::shared_ptr<Session> session) {
  beast::flat_buffer buffer;
  while (!stopping_) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxRequestBodyBytes);
    auto [read_ec, read_n] =
        co_await http::async_read(session->socket, buffer, parser, asio::as_tuple(use_awaitable));
    (void)read_n;
    if (read_ec) {
      if (read_ec == http::error::end_of_stream || read_ec == asio::error::operation_aborted ||
          read_ec == asio::error::bad_descriptor || read_ec == asio::error::connection_reset ||
          read_ec == asio::error::eof) {
        break;
      }
      // A malformed request: answer once and close.
      bool too_big = read_ec == http::error::body_limit;
      ApiReply reply = ErrorReply(
          core::MakeError(core::ErrorCode::kInvalidArgument,
                          too_big ? fmt::format("request body over {} bytes", kMaxRequestBodyBytes)
                                  : fmt::format("malformed HTTP request: {}", read_ec.message())),
          too_big ? 413 : 400);
      auto res = MakeResponse(reply, 11, false);
      co_await http::async_write(session->socket, res, asio::as_tuple(use_awaitable));
      break;
    }
    session->busy = true;
    http::request<http::string_body> req = parser.release();
    std::string method(req.method_string());
    std::string target(req.target());
    RoutedRequest routed = Route(method, target, req.body());
    ApiReply reply;
    if (routed.reply) {
      reply = std::move(*routed.reply);
    } else {
      // Run the operation on the pool; this coroutine resumes on the I/O thread.
      // The task is a named variable, not a temporary inside the co_await
      // expression: g++ 12 destroys such temporaries twice (GCC PR 99576).
      NodeOperations* ops = &operations_;
      auto op = std::make_shared<const BoundOperation>(std::move(routed.operation));
      auto task = [ops, op]() -> asio::awaitable<std::optional<core::Result<Json>>> {
        co_return RunOperation(*op, *ops);
      };
      std::optional<core::Result<Json>> result =
          co_await asio::co_spawn(pool_.get_executor(), task, use_awaitable);
      reply = ReplyFor(*result);
    }
    spdlog::debug("api: {} {} -> {}", method, target, reply.status);
    bool keep_alive = req.keep_alive() && !stopping_;
    auto res = MakeResponse(reply, req.version(), keep_alive);
    auto [write_ec, write_n] =
        co_await http::async_write(session->socket, res, asio::as_tuple(use_awaitable));
    (void)write_n;
    session->busy = false;
    if (write_ec || !keep_alive) break;
  }
  boost::system::error_code ec;
  session->socket.shutdown(local::socket::shutdown_both, ec);
  session->socket.close(ec);
  SessionEnded(session);
}

void ApiServer::SessionEnded(const std::shared_ptr<Session>& session) {
  sessions_.erase(session);
  if (stopping_ && sessions_.empty() && on_drained_) {
    auto done = std::move(on_drained_);
    on_drained_ = nullptr;
    done();
  }
}

}  // namespace tesseras::daemon
