// Exit statuses of `tes` (documented in docs/DAEMON.md, "Exit codes"). Scripts
// rely on them: never renumber one.
#pragma once

#include "core/result.h"

namespace tesseras::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;        // unexpected: malformed reply, internal error
inline constexpr int kExitUsage = 2;          // bad command line, hash, path or request
inline constexpr int kExitNotRunning = 3;     // no daemon answers for that data dir
inline constexpr int kExitNotFound = 4;       // no such tessera, fragment or peer
inline constexpr int kExitUnimplemented = 5;  // the daemon does not do this yet (HTTP 501)
inline constexpr int kExitVerifyFailed = 6;   // a fragment or signature failed verification
inline constexpr int kExitUnavailable = 7;    // peers unreachable, timeout, too few fragments
inline constexpr int kExitRefused = 8;        // any other refusal (too big, no space, denied…)
inline constexpr int kExitIncomplete = 9;     // done, but below full redundancy (publish)

// The exit status for an error the daemon answered with.
int ExitCodeFor(core::ErrorCode code);

}  // namespace tesseras::cli
