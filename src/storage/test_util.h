// Helpers shared by the storage tests.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/result.h"

#define ASSERT_OK(expr)                                              \
  do {                                                               \
    auto&& tesseras_r_ = (expr);                                     \
    ASSERT_TRUE(tesseras_r_.ok()) << tesseras_r_.error().ToString(); \
  } while (0)

#define EXPECT_OK(expr)                                              \
  do {                                                               \
    auto&& tesseras_r_ = (expr);                                     \
    EXPECT_TRUE(tesseras_r_.ok()) << tesseras_r_.error().ToString(); \
  } while (0)

#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                               \
  ASSERT_TRUE(tmp.ok()) << tmp.error().ToString(); \
  decl = std::move(tmp).value()

#define ASSERT_OK_AND_ASSIGN(decl, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(TESSERAS_CONCAT(tesseras_test_aoa_, __LINE__), decl, expr)

namespace tesseras::storage {

// A fresh directory under $TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tesseras-test-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) std::abort();
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::vector<uint8_t> RandomBytes(std::size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

}  // namespace tesseras::storage
