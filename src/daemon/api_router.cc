#include "daemon/api_router.h"

#include <fmt/format.h>

#include <vector>

#include "daemon/api_contract.h"

namespace tesseras::daemon {
namespace {

using core::ErrorCode;

core::Error BadRequest(std::string message) {
  return core::MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    std::size_t slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

core::Result<core::ContentHash> ParseHash(std::string_view text) {
  auto hash = core::ContentHash::FromHex(text);
  if (!hash.ok()) {
    return BadRequest(fmt::format("invalid tessera hash '{}': {}", text, hash.error().message));
  }
  return *hash;
}

// The body as a JSON object; an empty body is an empty object.
core::Result<Json> ParseObject(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return Json::object();
  Json json = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return BadRequest("request body is not valid JSON");
  if (!json.is_object()) return BadRequest("request body must be a JSON object");
  return json;
}

core::Result<void> OnlyFields(const Json& object, std::initializer_list<std::string_view> fields) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (std::string_view f : fields) known = known || key == f;
    if (!known) return BadRequest(fmt::format("unknown field '{}' in request body", key));
  }
  return core::Ok();
}

core::Result<std::filesystem::path> AbsolutePath(const Json& value, std::string_view field) {
  if (!value.is_string() || value.get_ref<const std::string&>().empty()) {
    return BadRequest(fmt::format("'{}' must be a non-empty string path", field));
  }
  std::filesystem::path path(value.get<std::string>());
  if (!path.is_absolute()) {
    return BadRequest(
        fmt::format("'{}' must be an absolute path, got '{}' (the daemon does not "
                    "know the caller's working directory)",
                    field, path.string()));
  }
  return path;
}

core::Result<BoundOperation> CreateOp(std::string_view body) {
  ASSIGN_OR_RETURN(Json json, ParseObject(body));
  TRY(OnlyFields(json, {"paths"}));
  auto it = json.find("paths");
  if (it == json.end() || !it->is_array() || it->empty()) {
    return BadRequest("body must be {\"paths\": [absolute path, ...]} with at least one path");
  }
  std::vector<std::filesystem::path> paths;
  for (const Json& p : *it) {
    ASSIGN_OR_RETURN(auto path, AbsolutePath(p, "paths"));
    paths.push_back(std::move(path));
  }
  return BoundOperation(
      [paths = std::move(paths)](NodeOperations& ops) { return ops.CreateTessera(paths); });
}

core::Result<BoundOperation> FetchOp(const core::ContentHash& hash, std::string_view body) {
  ASSIGN_OR_RETURN(Json json, ParseObject(body));
  TRY(OnlyFields(json, {"out"}));
  auto it = json.find("out");
  if (it == json.end()) return BadRequest("body must be {\"out\": absolute directory}");
  ASSIGN_OR_RETURN(auto out, AbsolutePath(*it, "out"));
  return BoundOperation(
      [hash, out = std::move(out)](NodeOperations& ops) { return ops.FetchTessera(hash, out); });
}

// Body of /v1/repair and /v1/verify: empty, {} or {"hash": "<64 hex>"}.
core::Result<std::optional<core::ContentHash>> OptionalHash(std::string_view body) {
  ASSIGN_OR_RETURN(Json json, ParseObject(body));
  TRY(OnlyFields(json, {"hash"}));
  auto it = json.find("hash");
  if (it == json.end() || it->is_null()) return std::optional<core::ContentHash>();
  if (!it->is_string()) return BadRequest("'hash' must be a string of 64 hex digits");
  ASSIGN_OR_RETURN(auto hash, ParseHash(it->get<std::string>()));
  return std::optional<core::ContentHash>(hash);
}

// One path: the methods it accepts and how to build the call for each.
struct Match {
  std::string name;
  std::string allow;  // "GET", "POST" or "GET, POST"
  std::function<core::Result<BoundOperation>()> get;
  std::function<core::Result<BoundOperation>()> post;
};

template <typename F>
std::function<core::Result<BoundOperation>()> Simple(F f) {
  return [f] { return core::Result<BoundOperation>(BoundOperation(f)); };
}

core::Result<Match> MatchPath(std::string_view path, std::string_view body) {
  auto not_found = core::MakeError(
      ErrorCode::kNotFound,
      fmt::format("no API endpoint {} (the paths are listed in docs/DAEMON.md)", path));
  std::string prefix = std::string(kApiPrefix) + "/";
  if (path.substr(0, prefix.size()) != prefix) return not_found;
  std::vector<std::string_view> parts = SplitPath(path.substr(prefix.size()));
  if (parts.size() == 1) {
    std::string_view p = parts[0];
    if (p == "node")
      return Match{"node", "GET", Simple([](NodeOperations& o) { return o.GetNode(); }), nullptr};
    if (p == "peers")
      return Match{"peers", "GET", Simple([](NodeOperations& o) { return o.ListPeers(); }),
                   nullptr};
    if (p == "ledger")
      return Match{"ledger", "GET", Simple([](NodeOperations& o) { return o.Ledger(); }), nullptr};
    if (p == "events")
      return Match{"events", "GET", Simple([](NodeOperations& o) { return o.Events(); }), nullptr};
    if (p == "maintenance")
      return Match{"maintenance", "GET", Simple([](NodeOperations& o) { return o.Maintenance(); }),
                   nullptr};
    if (p == "tesseras") {
      return Match{"tesseras", "GET, POST",
                   Simple([](NodeOperations& o) { return o.ListTesseras(); }),
                   [body] { return CreateOp(body); }};
    }
    if (p == "repair" || p == "verify") {
      bool repair = p == "repair";
      return Match{std::string(p), "POST", nullptr,
                   [body, repair]() -> core::Result<BoundOperation> {
                     ASSIGN_OR_RETURN(auto hash, OptionalHash(body));
                     if (repair) {
                       return BoundOperation([hash](NodeOperations& o) { return o.Repair(hash); });
                     }
                     return BoundOperation([hash](NodeOperations& o) { return o.Verify(hash); });
                   }};
    }
    return not_found;
  }
  if (parts[0] != "tesseras" || parts.size() > 3) return not_found;
  ASSIGN_OR_RETURN(core::ContentHash hash, ParseHash(parts[1]));
  if (parts.size() == 2) {
    return Match{"show", "GET", Simple([hash](NodeOperations& o) { return o.ShowTessera(hash); }),
                 nullptr};
  }
  std::string_view action = parts[2];
  if (action == "publish") {
    return Match{"publish", "POST", nullptr,
                 Simple([hash](NodeOperations& o) { return o.PublishTessera(hash); })};
  }
  if (action == "status") {
    return Match{"status", "GET",
                 Simple([hash](NodeOperations& o) { return o.TesseraStatus(hash); }), nullptr};
  }
  if (action == "fetch") {
    return Match{"fetch", "POST", nullptr, [hash, body] { return FetchOp(hash, body); }};
  }
  return not_found;
}

}  // namespace

ApiReply ErrorReply(const core::Error& error, unsigned status) {
  return ApiReply{status == 0 ? HttpStatusFor(error.code) : status, ErrorToJson(error), ""};
}

ApiReply ReplyFor(const core::Result<Json>& result) {
  if (!result.ok()) return ErrorReply(result.error());
  return ApiReply{200, *result, ""};
}

RoutedRequest Route(std::string_view method, std::string_view target, std::string_view body) {
  std::string_view path = target.substr(0, target.find('?'));
  auto match = MatchPath(path, body);
  if (!match.ok()) return RoutedRequest{"", nullptr, ErrorReply(match.error())};
  const std::function<core::Result<BoundOperation>()>* builder = nullptr;
  if (method == "GET") builder = &match->get;
  if (method == "POST") builder = &match->post;
  if (builder == nullptr || !*builder) {
    ApiReply reply =
        ErrorReply(core::MakeError(ErrorCode::kInvalidArgument,
                                   fmt::format("method {} is not allowed on {} (allowed: {})",
                                               method, path, match->allow)),
                   405);
    reply.allow = match->allow;
    return RoutedRequest{match->name, nullptr, std::move(reply)};
  }
  auto operation = (*builder)();
  if (!operation.ok()) return RoutedRequest{match->name, nullptr, ErrorReply(operation.error())};
  return RoutedRequest{match->name, std::move(*operation), std::nullopt};
}

core::Result<Json> RunOperation(const BoundOperation& operation, NodeOperations& ops) {
  try {
    return operation(ops);
  } catch (const std::exception& e) {
    return core::MakeError(ErrorCode::kInternal,
                           fmt::format("operation failed with an exception: {}", e.what()));
  } catch (...) {
    return core::MakeError(ErrorCode::kInternal, "operation failed with an unknown exception");
  }
}

}  // namespace tesseras::daemon
