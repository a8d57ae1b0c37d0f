#include "cli/api_client.h"

#include <fmt/format.h>
#include <sys/un.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "daemon/api_contract.h"

namespace tesseras::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;

namespace {

// Replies larger than this are refused (a status with thousands of holders is
// well under it).
constexpr std::size_t kMaxReplyBytes = 64u << 20;

}  // namespace

ApiClient::ApiClient(std::filesystem::path data_dir)
    : data_dir_(std::move(data_dir)), socket_path_(daemon::SocketPath(data_dir_)) {}

core::Result<ApiResponse> ApiClient::Get(std::string_view target) {
  return Send(false, target, std::nullopt);
}

core::Result<ApiResponse> ApiClient::Post(std::string_view target,
                                          const std::optional<Json>& body) {
  return Send(true, target, body);
}

core::Result<ApiResponse> ApiClient::Send(bool post, std::string_view target,
                                          const std::optional<Json>& body) {
  constexpr std::size_t kMaxPath = sizeof(sockaddr_un::sun_path) - 1;
  if (socket_path_.native().size() > kMaxPath) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           fmt::format("socket path {} is longer than the {}-byte limit of Unix "
                                       "sockets: use a shorter --data-dir",
                                       socket_path_.string(), kMaxPath));
  }
  asio::io_context io;
  local::socket socket(io);
  boost::system::error_code ec;
  socket.connect(local::endpoint(socket_path_.native()), ec);
  if (ec) {
    std::string start_hint =
        fmt::format("start one with: tesd --data-dir {} --listen IP:PORT", data_dir_.string());
    if (ec == asio::error::not_found || ec == boost::system::errc::no_such_file_or_directory) {
      return core::MakeError(core::ErrorCode::kUnavailable,
                             fmt::format("no tesd is running for data dir {} (no socket {}); {}",
                                         data_dir_.string(), socket_path_.string(), start_hint));
    }
    if (ec == asio::error::connection_refused) {
      return core::MakeError(
          core::ErrorCode::kUnavailable,
          fmt::format("no tesd is running for data dir {} (nothing answers on {}); {}",
                      data_dir_.string(), socket_path_.string(), start_hint));
    }
    return core::MakeError(
        core::ErrorCode::kUnavailable,
        fmt::format("cannot reach tesd on {}: {}", socket_path_.string(), ec.message()));
  }

  http::request<http::string_body> req{post ? http::verb::post : http::verb::get,
                                       std::string(target), 11};
  req.set(http::field::host, "tesd");
  req.set(http::field::user_agent, "tes");
  req.set(http::field::accept, "application/json");
  req.keep_alive(false);
  if (body) {
    req.set(http::field::content_type, "application/json");
    req.body() = body->dump();
  }
  req.prepare_payload();
  http::write(socket, req, ec);
  if (ec) {
    return core::MakeError(core::ErrorCode::kIo, fmt::format("cannot send the request to tesd on "
                                                             "{}: {}",
                                                             socket_path_.string(), ec.message()));
  }

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxReplyBytes);
  http::read(socket, buffer, parser, ec);
  if (ec) {
    return core::MakeError(
        core::ErrorCode::kProtocol,
        fmt::format("no complete reply from tesd on {}: {}", socket_path_.string(), ec.message()));
  }
  socket.close(ec);
  const auto& res = parser.get();
  ApiResponse out;
  out.status = res.result_int();
  out.body = Json::parse(res.body(), nullptr, /*allow_exceptions=*/false);
  if (out.body.is_discarded()) {
    return core::MakeError(
        core::ErrorCode::kProtocol,
        fmt::format("tesd replied with HTTP {} and a body that is not JSON", out.status));
  }
  return out;
}

}  // namespace tesseras::cli
