#include "daemon/api_contract.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tesseras::daemon {

core::Result<std::filesystem::path> DefaultDataDir() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && xdg[0] == '/') {
    return std::filesystem::path(xdg) / "tesseras";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] != '\0') {
    return std::filesystem::path(home) / ".local" / "share" / "tesseras";
  }
  return core::MakeError(core::ErrorCode::kInvalidArgument,
                         "neither XDG_DATA_HOME nor HOME is set: pass --data-dir DIR");
}

core::Result<std::string> ReadApiToken(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    const int err = errno;
    if (err == ENOENT) {
      return core::MakeError(core::ErrorCode::kNotFound,
                             path.string() + " does not exist: tesd creates it at its first start");
    }
    return core::MakeError(core::ErrorCode::kPermissionDenied,
                           "cannot read " + path.string() + ": " + std::strerror(err));
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  bool hex = token.size() == 64;
  for (char c : token) hex = hex && std::isxdigit(static_cast<unsigned char>(c));
  if (!hex) {
    return core::MakeError(core::ErrorCode::kCorrupt,
                           path.string() +
                               " does not hold an API token (64 hex digits); remove it and "
                               "restart tesd to make a new one");
  }
  return token;
}

unsigned HttpStatusFor(core::ErrorCode code) {
  using core::ErrorCode;
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 400;  // Bad Request
    case ErrorCode::kPermissionDenied:
      return 403;  // Forbidden
    case ErrorCode::kNotFound:
      return 404;  // Not Found
    case ErrorCode::kAlreadyExists:
      return 409;  // Conflict
    case ErrorCode::kTesseraTooBig:
      return 413;  // Content Too Large
    case ErrorCode::kCorrupt:
    case ErrorCode::kIo:
    case ErrorCode::kInternal:
    case ErrorCode::kVersionMismatch:
      return 500;  // Internal Server Error
    case ErrorCode::kUnimplemented:
      return 501;  // Not Implemented
    case ErrorCode::kProtocol:
      return 502;  // Bad Gateway: a peer broke the protocol
    case ErrorCode::kUnavailable:
    case ErrorCode::kInsufficientShards:
    case ErrorCode::kCancelled:
      return 503;  // Service Unavailable
    case ErrorCode::kTimeout:
      return 504;  // Gateway Timeout
    case ErrorCode::kResourceExhausted:
      return 507;  // Insufficient Storage
  }
  return 500;
}

std::optional<core::ErrorCode> ErrorCodeFromName(std::string_view name) {
  // Codes are stable and dense from 1; stop at the first one without a name.
  for (uint16_t raw = 1; raw < 256; ++raw) {
    auto code = static_cast<core::ErrorCode>(raw);
    std::string_view known = core::ErrorCodeName(code);
    if (known == "unknown") break;
    if (known == name) return code;
  }
  return std::nullopt;
}

nlohmann::json ErrorToJson(const core::Error& error) {
  return {{"error",
           {{"code", std::string(core::ErrorCodeName(error.code))}, {"message", error.message}}}};
}

std::optional<core::Error> ErrorFromJson(const nlohmann::json& body) {
  if (!body.is_object()) return std::nullopt;
  auto it = body.find("error");
  if (it == body.end() || !it->is_object()) return std::nullopt;
  auto code = it->find("code");
  auto message = it->find("message");
  if (code == it->end() || !code->is_string() || message == it->end() || !message->is_string()) {
    return std::nullopt;
  }
  auto parsed = ErrorCodeFromName(code->get<std::string>());
  if (!parsed) return std::nullopt;
  return core::Error{*parsed, message->get<std::string>()};
}

}  // namespace tesseras::daemon
