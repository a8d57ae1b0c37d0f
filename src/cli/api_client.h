// A small blocking HTTP/1.1 client (Boost.Beast) for tesd's local API on the
// Unix socket {data_dir}/tesd.sock. One connection per call.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "core/result.h"

namespace tesseras::cli {

using Json = nlohmann::json;

struct ApiResponse {
  unsigned status = 0;  // HTTP status
  Json body;            // the parsed JSON body

  bool ok() const { return status >= 200 && status < 300; }
};

class ApiClient {
 public:
  explicit ApiClient(std::filesystem::path data_dir);

  // Sends one request and reads the reply. Errors are local: kUnavailable when
  // no daemon answers on the socket (missing, refused), with a message that
  // says how to start one; kInvalidArgument if the socket path is too long;
  // kProtocol if the reply is not HTTP with a JSON body; kIo otherwise. An
  // error reply from the daemon is a successful call with a non-2xx status.
  core::Result<ApiResponse> Get(std::string_view target);
  core::Result<ApiResponse> Post(std::string_view target, const std::optional<Json>& body);

  const std::filesystem::path& socket_path() const { return socket_path_; }

 private:
  core::Result<ApiResponse> Send(bool post, std::string_view target,
                                 const std::optional<Json>& body);

  std::filesystem::path data_dir_;
  std::filesystem::path socket_path_;
};

}  // namespace tesseras::cli
