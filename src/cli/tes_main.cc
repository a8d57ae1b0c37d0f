// tes: the Tesseras command line. See docs/DAEMON.md and cli/tes.h.
#include <cstdio>
#include <exception>
#include <iostream>

#include "cli/exit_codes.h"
#include "cli/tes.h"

int main(int argc, char** argv) {
  try {
    return tesseras::cli::RunTes(argc, argv, std::cout, std::cerr);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tes: fatal: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "tes: fatal: unknown exception\n");
  }
  return tesseras::cli::kExitFailure;
}
