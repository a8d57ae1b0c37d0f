#include "dht/async.h"

#include <spdlog/spdlog.h>

namespace tesseras::dht {

void LogIfFailed::operator()(std::exception_ptr e) const {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("{} failed: {}", what, ex.what());
  } catch (...) {
    spdlog::error("{} failed with an unknown exception", what);
  }
}

void LogIfFailed::operator()(const core::Error& e) const {
  spdlog::error("{} failed: {}", what, e.ToString());
}

}  // namespace tesseras::dht
