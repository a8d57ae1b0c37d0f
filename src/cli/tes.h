// `tes`, the command line client of tesd's local API (docs/DAEMON.md, "tes").
//
//   tes [--data-dir DIR] [--json] COMMAND ...
//
// RunTes parses the command line, validates hashes and paths locally, calls
// the daemon of that data dir and renders the reply: human text by default,
// with --json exactly one JSON document (the reply, or the error) on `out`.
// Every failure also writes a one-line reason to `err`. Returns the exit status
// (cli/exit_codes.h).
#pragma once

#include <ostream>

namespace tesseras::cli {

int RunTes(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace tesseras::cli
