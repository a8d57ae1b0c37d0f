// The local API's routing: from an HTTP method, target and body to one call on
// NodeOperations, and from its Result to a status and JSON body. No I/O here;
// daemon/api_server.h carries the bytes.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/node_operations.h"

namespace tesseras::daemon {

// Request bodies larger than this are refused with 413.
inline constexpr std::size_t kMaxRequestBodyBytes = 1 << 20;

struct ApiReply {
  unsigned status = 200;
  Json body;
  std::string allow;  // the Allow header of a 405 reply
};

// A request bound to the NodeOperations call that answers it.
using BoundOperation = std::function<core::Result<Json>(NodeOperations&)>;

struct RoutedRequest {
  std::string name;  // e.g. "publish", for logs
  BoundOperation operation;
  std::optional<ApiReply> reply;  // set instead of `operation` when refused up front
};

// Matches the request against the /v1 paths and checks its arguments (hashes,
// JSON body shape, absolute paths). Unknown paths give 404, a known path with
// another method 405, malformed arguments 400 — all with the JSON error shape.
RoutedRequest Route(std::string_view method, std::string_view target, std::string_view body);

// 200 with the value, or the error's status (HttpStatusFor) and error body.
ApiReply ReplyFor(const core::Result<Json>& result);

// An error reply; `status` 0 means HttpStatusFor(error.code).
ApiReply ErrorReply(const core::Error& error, unsigned status = 0);

// Runs a bound operation, turning an escaping exception into kInternal.
core::Result<Json> RunOperation(const BoundOperation& operation, NodeOperations& ops);

}  // namespace tesseras::daemon
