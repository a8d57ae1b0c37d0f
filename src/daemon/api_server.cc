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

#include "daemon/address.h"
#include "daemon/api_router.h"
#include "daemon/web_assets.h"

namespace tesseras::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::use_awaitable;
using local = asio::local::stream_protocol;
using tcp = asio::ip::tcp;

struct ApiServer::Session {
  virtual ~Session() = default;
  virtual void Close() = 0;
  bool busy = false;  // a request has been read and its reply is not yet written
};

template <typename Socket>
struct ApiServer::StreamSession final : ApiServer::Session {
  explicit StreamSession(Socket s) : socket(std::move(s)) {}
  void Close() override {
    boost::system::error_code ec;
    socket.close(ec);
  }
  Socket socket;
};

struct ApiServer::Reply {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string allow;              // the Allow header of a 405 reply
  bool bearer_challenge = false;  // WWW-Authenticate: Bearer (a 401 reply)
};

namespace {

// The page may run its own scripts and styles and talk to this origin, nothing else.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

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

std::string_view Header(const http::request<http::string_body>& req, http::field field,
                        bool* present) {
  auto it = req.find(field);
  *present = it != req.end();
  return *present ? std::string_view(it->value().data(), it->value().size()) : std::string_view();
}

}  // namespace

ApiServer::ApiServer(asio::any_io_executor io, NodeOperations& operations,
                     std::size_t worker_threads, std::function<std::string()> render_metrics)
    : io_(io),
      operations_(operations),
      render_metrics_(std::move(render_metrics)),
      pool_(worker_threads),
      acceptor_(io),
      http_acceptor_(io) {}

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

core::Result<tcp::endpoint> ApiServer::ListenHttp(const tcp::endpoint& endpoint,
                                                  std::string token) {
  boost::system::error_code ec;
  http_acceptor_.open(endpoint.protocol(), ec);
  if (!ec) http_acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) http_acceptor_.bind(endpoint, ec);
  if (!ec) http_acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  tcp::endpoint bound;
  if (!ec) bound = http_acceptor_.local_endpoint(ec);
  if (ec) {
    http_acceptor_.close();
    return core::MakeError(core::ErrorCode::kIo,
                           fmt::format("cannot serve the dashboard on {}: {}",
                                       FormatEndpoint(endpoint), ec.message()));
  }
  http_policy_.token = std::move(token);
  http_policy_.loopback_listener = endpoint.address().is_loopback();
  return bound;
}

void ApiServer::Start() {
  if (acceptor_.is_open()) {
    asio::co_spawn(io_, AcceptLoop(acceptor_, false),
                   [](std::exception_ptr e) { LogIfFailed(e, "accept loop"); });
  }
  if (http_acceptor_.is_open()) {
    asio::co_spawn(io_, AcceptLoop(http_acceptor_, true),
                   [](std::exception_ptr e) { LogIfFailed(e, "http accept loop"); });
  }
}

void ApiServer::Stop(std::function<void()> on_drained) {
  if (stopping_) return;
  stopping_ = true;
  on_drained_ = std::move(on_drained);
  boost::system::error_code ec;
  acceptor_.close(ec);
  http_acceptor_.close(ec);
  if (!socket_path_.empty()) {
    std::filesystem::remove(socket_path_, ec);
  }
  for (const auto& session : sessions_) {
    // Idle connections wait in a read: closing makes it fail and the session end.
    if (!session->busy) session->Close();
  }
  if (sessions_.empty() && on_drained_) {
    auto done = std::move(on_drained_);
    on_drained_ = nullptr;
    asio::post(io_, std::move(done));
  }
}

template <typename Acceptor>
asio::awaitable<void> ApiServer::AcceptLoop(Acceptor& acceptor, bool http) {
  using Socket = typename Acceptor::protocol_type::socket;
  asio::steady_timer backoff(io_);
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(use_awaitable));
    if (stopping_ || ec == asio::error::operation_aborted) break;
    if (ec) {
      // E.g. out of file descriptors: say so and back off instead of spinning.
      spdlog::warn("api: accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(asio::as_tuple(use_awaitable));
      continue;
    }
    auto session = std::make_shared<StreamSession<Socket>>(std::move(socket));
    sessions_.insert(session);
    asio::co_spawn(io_, Serve(session, http),
                   [](std::exception_ptr e) { LogIfFailed(e, "session"); });
  }
}

asio::awaitable<ApiServer::Reply> ApiServer::RunOnPool(const std::function<Reply()>& work) {
  // The task is a named variable, not a temporary inside the co_await
  // expression: g++ 12 destroys such temporaries twice (GCC PR 99576). For
  // the same reason callers pass a named function, by reference (it lives in
  // their frame until this returns).
  auto task = [work]() -> asio::awaitable<Reply> { co_return work(); };
  Reply reply = co_await asio::co_spawn(pool_.get_executor(), task, use_awaitable);
  co_return reply;
}

template <typename Request>
asio::awaitable<ApiServer::Reply> ApiServer::Answer(const Request& req, bool http) {
  auto json_reply = [](const ApiReply& r) {
    Reply reply;
    reply.status = r.status;
    reply.body = r.body.dump() + "\n";
    reply.allow = r.allow;
    return reply;
  };
  const std::string method(req.method_string());
  const std::string target(req.target());
  const std::string path = target.substr(0, target.find('?'));
  const bool get = req.method() == http::verb::get;

  if (http) {
    HttpRequestView view;
    view.method = method;
    view.path = path;
    view.host = Header(req, http::field::host, &view.has_host);
    view.origin = Header(req, http::field::origin, &view.has_origin);
    view.authorization = Header(req, http::field::authorization, &view.has_authorization);
    const HttpResource resource = ClassifyHttpPath(path);
    HttpAccessDecision decision = CheckHttpAccess(http_policy_, view, resource);
    if (!decision.allowed) {
      spdlog::info("api: refused {} {} from the HTTP listener: {}", method, path, decision.reason);
      Reply reply = json_reply(ErrorReply(
          core::MakeError(core::ErrorCode::kPermissionDenied, decision.reason), decision.status));
      reply.bearer_challenge = decision.status == 401;
      co_return reply;
    }
    if (resource == HttpResource::kPage) {
      if (!get) {
        Reply reply = json_reply(ErrorReply(
            core::MakeError(
                core::ErrorCode::kInvalidArgument,
                fmt::format("method {} is not allowed on {} (allowed: GET)", method, path)),
            405));
        reply.allow = "GET";
        co_return reply;
      }
      const WebAsset* asset = FindWebAsset(path);
      Reply reply;
      reply.content_type = std::string(asset->content_type);
      reply.body = std::string(asset->body);
      co_return reply;
    }
  }

  if (path == "/metrics") {
    if (!render_metrics_) {
      co_return json_reply(
          ErrorReply(core::MakeError(core::ErrorCode::kNotFound, "no metrics in this server")));
    }
    if (!get) {
      Reply reply = json_reply(ErrorReply(
          core::MakeError(
              core::ErrorCode::kInvalidArgument,
              fmt::format("method {} is not allowed on /metrics (allowed: GET)", method)),
          405));
      reply.allow = "GET";
      co_return reply;
    }
    auto render = render_metrics_;
    const std::function<Reply()> work = [render] {
      Reply reply;
      reply.content_type = std::string(kMetricsContentType);
      try {
        reply.body = render();
      } catch (const std::exception& e) {
        reply.status = 500;
        reply.content_type = "text/plain; charset=utf-8";
        reply.body = fmt::format("cannot render metrics: {}\n", e.what());
      }
      return reply;
    };
    Reply reply = co_await RunOnPool(work);
    co_return reply;
  }

  RoutedRequest routed = Route(method, target, req.body());
  if (routed.reply) co_return json_reply(*routed.reply);
  NodeOperations* ops = &operations_;
  auto op = std::make_shared<const BoundOperation>(std::move(routed.operation));
  const std::function<Reply()> work = [ops, op, json_reply] {
    return json_reply(ReplyFor(RunOperation(*op, *ops)));
  };
  Reply reply = co_await RunOnPool(work);
  co_return reply;
}

template <typename Socket>
asio::awaitable<void> ApiServer::Serve(std::shared_ptr<StreamSession<Socket>> session, bool http) {
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
      http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
      res.set(http::field::server, "tesd");
      res.set(http::field::content_type, "application/json");
      res.keep_alive(false);
      res.body() = reply.body.dump() + "\n";
      res.prepare_payload();
      co_await http::async_write(session->socket, res, asio::as_tuple(use_awaitable));
      break;
    }
    session->busy = true;
    http::request<http::string_body> req = parser.release();
    Reply reply = co_await Answer(req, http);
    spdlog::debug("api: {} {} -> {}", std::string(req.method_string()), std::string(req.target()),
                  reply.status);
    bool keep_alive = req.keep_alive() && !stopping_;
    http::response<http::string_body> res{static_cast<http::status>(reply.status), req.version()};
    res.set(http::field::server, "tesd");
    res.set(http::field::content_type, reply.content_type);
    if (!reply.allow.empty()) res.set(http::field::allow, reply.allow);
    if (reply.bearer_challenge) res.set(http::field::www_authenticate, "Bearer");
    if (http) {
      res.set(http::field::cache_control, "no-store");
      res.set("X-Content-Type-Options", "nosniff");
      res.set("X-Frame-Options", "DENY");
      res.set("Referrer-Policy", "no-referrer");
      res.set("Content-Security-Policy", kContentSecurityPolicy);
    }
    res.keep_alive(keep_alive);
    res.body() = std::move(reply.body);
    res.prepare_payload();
    auto [write_ec, write_n] =
        co_await http::async_write(session->socket, res, asio::as_tuple(use_awaitable));
    (void)write_n;
    session->busy = false;
    if (write_ec || !keep_alive) break;
  }
  boost::system::error_code ec;
  session->socket.shutdown(Socket::shutdown_both, ec);
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
