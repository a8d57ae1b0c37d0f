// What the daemon and the `tes` client agree on: where a data dir keeps the
// daemon's files, the local API's path prefix, the JSON error shape and the
// mapping between core::ErrorCode and HTTP statuses. Both sides link this
// (library tesseras_api), so a change here changes the contract for both.
//
// Error bodies (every non-2xx reply):
//   {"error": {"code": "not_found", "message": "no tessera ab12…"}}
// `code` is core::ErrorCodeName() of the error; the HTTP status is
// HttpStatusFor(code).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "core/result.h"

namespace tesseras::daemon {

// The version of tesd and tes (CMake's project version).
inline constexpr std::string_view kVersion = TESSERAS_VERSION;

inline constexpr std::string_view kApiPrefix = "/v1";
inline constexpr std::string_view kSocketFileName = "tesd.sock";
inline constexpr std::string_view kLockFileName = "tesd.lock";
inline constexpr std::string_view kNodeKeyFileName = "node.key";
inline constexpr std::string_view kDefaultListen = "0.0.0.0:7700";
// The HTTP listener's token: 64 hex digits and a newline, mode 0600.
inline constexpr std::string_view kApiTokenFileName = "api.token";

// $XDG_DATA_HOME/tesseras if XDG_DATA_HOME is set and absolute, else
// $HOME/.local/share/tesseras. kInvalidArgument if neither variable helps.
core::Result<std::filesystem::path> DefaultDataDir();

inline std::filesystem::path SocketPath(const std::filesystem::path& data_dir) {
  return data_dir / kSocketFileName;
}
inline std::filesystem::path LockPath(const std::filesystem::path& data_dir) {
  return data_dir / kLockFileName;
}
inline std::filesystem::path ApiTokenPath(const std::filesystem::path& data_dir) {
  return data_dir / kApiTokenFileName;
}

// Reads {data_dir}/api.token. kNotFound if it does not exist (the daemon
// creates it at its first start), kPermissionDenied if unreadable,
// kCorrupt if it does not hold 64 hex digits.
core::Result<std::string> ReadApiToken(const std::filesystem::path& path);

// The HTTP status a reply carrying this error code has (400, 403, 404, 409,
// 413, 500, 501, 502, 503, 504, 507).
unsigned HttpStatusFor(core::ErrorCode code);

// Inverse of core::ErrorCodeName(); nullopt for a name no code has.
std::optional<core::ErrorCode> ErrorCodeFromName(std::string_view name);

// {"error": {"code": ..., "message": ...}}
nlohmann::json ErrorToJson(const core::Error& error);

// Reads an error body. Returns nullopt unless `body` has the shape above with a
// known code.
std::optional<core::Error> ErrorFromJson(const nlohmann::json& body);

}  // namespace tesseras::daemon
