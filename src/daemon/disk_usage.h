// How much room the data dir has and how much of it the node uses.
#pragma once

#include <cstdint>
#include <filesystem>

#include "core/result.h"

namespace tesseras::daemon {

struct FilesystemSpace {
  uint64_t total_bytes = 0;
  uint64_t available_bytes = 0;  // free to an unprivileged user (statvfs f_bavail)
};

// statvfs(2) of the filesystem holding `path`. kIo naming the path on failure.
core::Result<FilesystemSpace> StatFilesystem(const std::filesystem::path& path);

// Sum of the sizes of the regular files under `dir` (recursively); 0 if it
// does not exist. Symbolic links are not followed.
uint64_t DirectoryBytes(const std::filesystem::path& dir);

}  // namespace tesseras::daemon
