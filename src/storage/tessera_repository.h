// TesseraRepository: the `tesseras` and `tessera_files` tables (migration 001):
// the tesseras this node owns or restored, with owner, size, file count, state
// and the manifest's file list.
//
// Threading: blocking and thread-safe (the Database lock); worker threads only.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "core/ports/clock.h"
#include "storage/database.h"

namespace tesseras::storage {

enum class TesseraState : uint8_t {
  kLocal = 0,        // created here, not yet replicated
  kReplicating = 1,  // fragments being placed
  kReplicated = 2,   // enough holders proven
  kDegraded = 3,     // recoverable, but below the target; repair needed
  kLost = 4,         // fewer than `data` fragments proven held
  kRestored = 5,     // rebuilt here from fragments
};

std::string_view TesseraStateName(TesseraState state);  // "local", "replicating", ...
core::Result<TesseraState> TesseraStateFromName(std::string_view name);

struct TesseraFileRecord {
  std::string path;
  uint64_t size = 0;
  core::ContentHash hash;
  std::string media_type;
  bool operator==(const TesseraFileRecord&) const = default;
};

struct TesseraRecord {
  core::ContentHash hash;
  std::array<uint8_t, 32> owner{};  // creator's Ed25519 public key
  uint64_t size = 0;                // canonical payload bytes
  uint32_t file_count = 0;
  TesseraState state = TesseraState::kLocal;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;  // set by the repository
  bool operator==(const TesseraRecord&) const = default;
};

class TesseraRepository {
 public:
  explicit TesseraRepository(std::shared_ptr<Database> db,
                             std::shared_ptr<const core::Clock> clock = nullptr);

  // Adds a tessera and its files in one transaction. kAlreadyExists if present;
  // kInvalidArgument if file_count differs from files.size().
  core::Result<void> Insert(const TesseraRecord& record, std::span<const TesseraFileRecord> files);
  core::Result<TesseraRecord> Get(const core::ContentHash& hash);
  // Files ordered by path.
  core::Result<std::vector<TesseraFileRecord>> Files(const core::ContentHash& hash);
  // Ordered by creation time, then hash.
  core::Result<std::vector<TesseraRecord>> List();
  core::Result<void> SetState(const core::ContentHash& hash, TesseraState state);
  // Removes the tessera and (cascade) its files. kNotFound if absent.
  core::Result<void> Remove(const core::ContentHash& hash);

 private:
  std::shared_ptr<Database> db_;
  std::shared_ptr<const core::Clock> clock_;
};

}  // namespace tesseras::storage
