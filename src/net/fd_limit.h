// The process's file-descriptor limit (RLIMIT_NOFILE), which bounds how many
// connections, handshakes and open fragment files a node can hold at once
// (docs/SECURITY.md, "Network"). Thread-safe.
#pragma once

#include <cstdint>

#include "core/result.h"

namespace tesseras::net {

// Raises the soft limit towards `wanted` (never above the hard limit, never
// lowering it) and returns the soft limit now in force. kIo if the limit
// cannot be read.
core::Result<uint64_t> RaiseFileLimit(uint64_t wanted);

// The soft limit now in force (kIo if it cannot be read).
core::Result<uint64_t> FileLimit();

}  // namespace tesseras::net
