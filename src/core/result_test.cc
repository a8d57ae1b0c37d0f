#include "core/result.h"

#include <gtest/gtest.h>

#include <memory>

namespace tesseras::core {
namespace {

Result<int> Half(int x) {
  if (x % 2) return MakeError(ErrorCode::kInvalidArgument, "odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  int h = TRY(Half(x));
  return TRY(Half(h));
}

Result<void> CheckEven(int x) {
  TRY(Half(x));
  return Ok();
}

Result<std::unique_ptr<int>> MoveOnly(bool fail) {
  if (fail) return MakeError(ErrorCode::kNotFound, "none");
  return std::make_unique<int>(5);
}

Result<int> UseMoveOnly(bool fail) {
  ASSIGN_OR_RETURN(auto p, MoveOnly(fail));
  return *p + 1;
}

TEST(ResultTest, TryPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().ToString(), "invalid_argument: odd");
}

TEST(ResultTest, VoidResult) {
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_FALSE(CheckEven(3).ok());
}

TEST(ResultTest, AssignOrReturnWithMoveOnly) {
  EXPECT_EQ(*UseMoveOnly(false), 6);
  EXPECT_EQ(UseMoveOnly(true).error().code, ErrorCode::kNotFound);
}

TEST(ResultTest, ErrorCodeNamesAreStable) {
  EXPECT_EQ(ErrorCodeName(ErrorCode::kTesseraTooBig), "tessera_too_big");
  EXPECT_EQ(static_cast<int>(ErrorCode::kTesseraTooBig), 6);
  EXPECT_EQ(ErrorCodeName(ErrorCode::kUnimplemented), "unimplemented");
}

}  // namespace
}  // namespace tesseras::core
