#include "daemon/disk_usage.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>

namespace tesseras::daemon {

core::Result<FilesystemSpace> StatFilesystem(const std::filesystem::path& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) {
    return core::MakeError(core::ErrorCode::kIo,
                           fmt::format("statvfs {}: {}", path.string(), std::strerror(errno)));
  }
  FilesystemSpace s;
  s.total_bytes = static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
  s.available_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  return s;
}

uint64_t DirectoryBytes(const std::filesystem::path& dir) {
  std::error_code ec;
  uint64_t total = 0;
  std::filesystem::recursive_directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code fec;
    if (it->is_regular_file(fec)) {
      uint64_t size = it->file_size(fec);
      if (!fec) total += size;
    }
  }
  return total;
}

}  // namespace tesseras::daemon
