// The HTTP listener's API token, {data_dir}/api.token: 32 random bytes as 64
// hex digits, mode 0600, created at the daemon's first start and kept across
// restarts. Whoever can read the file can use the dashboard and the /v1 API
// over HTTP; remove it and restart tesd to issue a new one.
#pragma once

#include <filesystem>
#include <string>

#include "core/result.h"

namespace tesseras::daemon {

// Reads the token at `path`, creating it (exclusively, mode 0600) if absent.
// *created says which happened. kCorrupt for a file that does not hold a
// token, kIo when it cannot be written.
core::Result<std::string> LoadOrCreateApiToken(const std::filesystem::path& path,
                                               bool* created = nullptr);

}  // namespace tesseras::daemon
