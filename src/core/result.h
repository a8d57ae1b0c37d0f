// Errors are values. Every fallible function returns Result<T>: either a T or an
// Error{code, message}. No exception crosses a port.
//
//   Result<int> Parse(std::string_view s);
//   Result<void> Save(...);
//
//   Result<Foo> Load() {
//     int n = TRY(Parse(text));          // returns the error from Load on failure
//     TRY(Save(n));                      // works for Result<void> too
//     ASSIGN_OR_RETURN(auto bar, Make()); // same, without the GNU statement expression
//   }
//
// In coroutines use CO_TRY(expr) / CO_ASSIGN_OR_RETURN(decl, expr), which co_return.
#pragma once

#include <cassert>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace tesseras::core {

// Stable codes: they travel in error replies on the wire and in the local API, so
// never renumber one.
enum class ErrorCode : uint16_t {
  kInvalidArgument = 1,     // the caller (or a peer) sent something malformed
  kNotFound = 2,            // no such tessera, fragment, peer, file
  kAlreadyExists = 3,       // refused to overwrite
  kCorrupt = 4,             // bytes do not match their checksum or signature
  kIo = 5,                  // the operating system refused a read or write
  kTesseraTooBig = 6,       // over the 1 GiB limit
  kInsufficientShards = 7,  // fewer than `data` fragments available
  kUnimplemented = 8,       // this path is not built yet
  kPermissionDenied = 9,    // e.g. a peer tried to overwrite another owner's fragment
  kResourceExhausted = 10,  // disk full, per-peer limit, reciprocity deficit
  kUnavailable = 11,        // peer down, daemon not running
  kTimeout = 12,
  kProtocol = 13,         // a peer broke the wire protocol
  kInternal = 14,         // our own invariant failed
  kCancelled = 15,        // shutdown in progress
  kVersionMismatch = 16,  // e.g. a database written by newer code
};

std::string_view ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  // "not_found: fragment 3 of ab12…" — what logs and the CLI print.
  std::string ToString() const;
  bool operator==(const Error&) const = default;
};

inline Error MakeError(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  using value_type = T;

  Result(const T& value) : v_(std::in_place_index<0>, value) {}        // NOLINT: implicit
  Result(T&& value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  template <typename U,
            typename = std::enable_if_t<
                std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, Result> &&
                !std::is_same_v<std::decay_t<U>, Error> && !std::is_same_v<std::decay_t<U>, T>>>
  Result(U&& value) : v_(std::in_place_index<0>, T(std::forward<U>(value))) {}  // NOLINT
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}         // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& {
    assert(!ok());
    return std::get<1>(v_);
  }
  Error&& error() && {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  using value_type = void;

  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT: implicit

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  void value() const { assert(ok()); }
  const Error& error() const& {
    assert(!ok());
    return *error_;
  }
  Error&& error() && {
    assert(!ok());
    return std::move(*error_);
  }

 private:
  std::optional<Error> error_;
};

inline Result<void> Ok() { return Result<void>(); }

}  // namespace tesseras::core

#define TESSERAS_CONCAT_INNER(a, b) a##b
#define TESSERAS_CONCAT(a, b) TESSERAS_CONCAT_INNER(a, b)

// TRY(expr): evaluates to the value of a Result, or returns its error from the
// enclosing function. Uses a statement expression (GCC and Clang both have them).
#define TRY(expr)                                     \
  ({                                                  \
    auto&& tesseras_try_result_ = (expr);             \
    if (!tesseras_try_result_.ok()) {                 \
      return std::move(tesseras_try_result_).error(); \
    }                                                 \
    std::move(tesseras_try_result_).value();          \
  })

#define ASSIGN_OR_RETURN_IMPL(tmp, decl, expr)  \
  auto tmp = (expr);                            \
  if (!tmp.ok()) return std::move(tmp).error(); \
  decl = std::move(tmp).value()

// ASSIGN_OR_RETURN(auto x, expr): declares x from a Result's value or returns its error.
#define ASSIGN_OR_RETURN(decl, expr) \
  ASSIGN_OR_RETURN_IMPL(TESSERAS_CONCAT(tesseras_aor_, __LINE__), decl, expr)

// CO_TRY(expr): co_returns the error of a failed Result from a coroutine; the value
// is discarded. Statement expressions may not contain co_return, hence two macros.
#define CO_TRY(expr)                                        \
  do {                                                      \
    auto&& tesseras_co_try_result_ = (expr);                \
    if (!tesseras_co_try_result_.ok()) {                    \
      co_return std::move(tesseras_co_try_result_).error(); \
    }                                                       \
  } while (0)

#define CO_ASSIGN_OR_RETURN_IMPL(tmp, decl, expr)  \
  auto tmp = (expr);                               \
  if (!tmp.ok()) co_return std::move(tmp).error(); \
  decl = std::move(tmp).value()

#define CO_ASSIGN_OR_RETURN(decl, expr) \
  CO_ASSIGN_OR_RETURN_IMPL(TESSERAS_CONCAT(tesseras_co_aor_, __LINE__), decl, expr)
