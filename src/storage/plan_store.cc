#include "storage/plan_store.h"

#include <map>

namespace tesseras::storage {

using core::ErrorCode;
using core::MakeError;
using core::Result;

SqlitePlanStore::SqlitePlanStore(std::shared_ptr<Database> db,
                                 std::shared_ptr<const core::Clock> clock)
    : db_(std::move(db)), clock_(std::move(clock)) {
  if (!clock_) clock_ = std::make_shared<core::SystemClock>();
}

Result<void> SqlitePlanStore::PutPlan(const core::ContentHash& tessera, const core::NodeId& owner,
                                      std::span<const uint8_t> encoded) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db_));
  {
    ASSIGN_OR_RETURN(auto s, db_->Prepare("SELECT owner FROM signed_plans WHERE tessera = ?"));
    s.Bind(1, tessera);
    if (TRY(s.Step())) {
      ASSIGN_OR_RETURN(core::NodeId prev, s.ColumnId<core::NodeIdTag>(0));
      if (prev != owner) {
        return MakeError(ErrorCode::kPermissionDenied,
                         "tessera " + tessera.Short() + "… belongs to another owner");
      }
    }
  }
  ASSIGN_OR_RETURN(auto ins,
                   db_->Prepare("INSERT INTO signed_plans (tessera, owner, plan, stored_at_ms) "
                                "VALUES (?, ?, ?, ?) ON CONFLICT (tessera) DO UPDATE SET "
                                "plan = excluded.plan, stored_at_ms = excluded.stored_at_ms"));
  ins.Bind(1, tessera).Bind(2, owner).Bind(3, encoded).Bind(4, clock_->NowUnixMs());
  TRY(ins.Run());
  return tx.Commit();
}

Result<std::optional<std::vector<uint8_t>>> SqlitePlanStore::GetPlan(
    const core::ContentHash& tessera) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(auto s, db_->Prepare("SELECT plan FROM signed_plans WHERE tessera = ?"));
  s.Bind(1, tessera);
  if (!TRY(s.Step())) return std::optional<std::vector<uint8_t>>();
  auto blob = s.ColumnBlob(0);
  return std::optional<std::vector<uint8_t>>(std::vector<uint8_t>(blob.begin(), blob.end()));
}

Result<std::vector<core::PlanInfo>> SqlitePlanStore::ListPlans() {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(auto s,
                   db_->Prepare("SELECT tessera, owner FROM signed_plans ORDER BY tessera"));
  std::vector<core::PlanInfo> out;
  while (TRY(s.Step())) {
    core::PlanInfo info;
    ASSIGN_OR_RETURN(info.tessera, s.ColumnId<core::ContentHashTag>(0));
    ASSIGN_OR_RETURN(info.owner, s.ColumnId<core::NodeIdTag>(1));
    out.push_back(info);
  }
  return out;
}

Result<std::vector<core::PlanInfo>> SqlitePlanStore::ListPlansAfter(
    std::optional<core::ContentHash> after, std::size_t limit) {
  auto lock = db_->Lock();
  // Both forms search the primary key from a lower bound.
  ASSIGN_OR_RETURN(auto s, db_->Cached(after ? "SELECT tessera, owner FROM signed_plans WHERE "
                                               "tessera > ? ORDER BY tessera LIMIT ?"
                                             : "SELECT tessera, owner FROM signed_plans WHERE "
                                               "tessera >= ? ORDER BY tessera LIMIT ?"));
  s->Bind(1, after.value_or(core::ContentHash{}))
      .Bind(2, static_cast<int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
  std::vector<core::PlanInfo> out;
  while (TRY(s->Step())) {
    core::PlanInfo info;
    ASSIGN_OR_RETURN(info.tessera, s->ColumnId<core::ContentHashTag>(0));
    ASSIGN_OR_RETURN(info.owner, s->ColumnId<core::NodeIdTag>(1));
    out.push_back(info);
  }
  return out;
}

Result<void> SqlitePlanStore::SetPlacement(const core::ContentHash& tessera,
                                           const std::vector<core::PlacementEntry>& holders) {
  auto lock = db_->Lock();
  // The placement of an acknowledged transfer must survive a crash: FULL.
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db_, Durability::kSynced));
  {
    ASSIGN_OR_RETURN(auto s, db_->Prepare("SELECT 1 FROM signed_plans WHERE tessera = ?"));
    s.Bind(1, tessera);
    if (!TRY(s.Step())) {
      return MakeError(ErrorCode::kNotFound, "no plan for tessera " + tessera.ToHex());
    }
  }
  ASSIGN_OR_RETURN(auto del, db_->Prepare("DELETE FROM placements WHERE tessera = ?"));
  del.Bind(1, tessera);
  TRY(del.Run());
  for (const auto& h : holders) {
    for (uint32_t idx : h.indices) {
      ASSIGN_OR_RETURN(auto ins, db_->Prepare("INSERT INTO placements (tessera, holder, address, "
                                              "idx, last_attested_ms) VALUES (?, ?, ?, ?, ?)"));
      ins.Bind(1, tessera).Bind(2, h.holder).Bind(3, std::string_view(h.address));
      ins.Bind(4, static_cast<int64_t>(idx));
      if (h.last_attested_ms) {
        ins.Bind(5, *h.last_attested_ms);
      } else {
        ins.BindNull(5);
      }
      TRY(ins.Run());
    }
  }
  return tx.Commit();
}

Result<std::vector<core::PlacementEntry>> SqlitePlanStore::GetPlacement(
    const core::ContentHash& tessera) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(auto s, db_->Prepare("SELECT holder, address, idx, last_attested_ms FROM "
                                        "placements WHERE tessera = ? ORDER BY holder, idx"));
  s.Bind(1, tessera);
  std::vector<core::PlacementEntry> out;
  while (TRY(s.Step())) {
    ASSIGN_OR_RETURN(core::NodeId holder, s.ColumnId<core::NodeIdTag>(0));
    if (out.empty() || out.back().holder != holder) {
      core::PlacementEntry e;
      e.holder = holder;
      e.address = s.ColumnText(1);
      out.push_back(std::move(e));
    }
    auto& e = out.back();
    e.indices.push_back(static_cast<uint32_t>(s.ColumnInt64(2)));
    if (!s.ColumnIsNull(3)) {
      int64_t t = s.ColumnInt64(3);
      e.last_attested_ms = std::max(e.last_attested_ms.value_or(t), t);
    }
  }
  return out;
}

Result<void> SqlitePlanStore::MarkAttested(const core::ContentHash& tessera,
                                           const core::NodeId& holder, int64_t when_ms) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(auto s, db_->Prepare("UPDATE placements SET last_attested_ms = ? "
                                        "WHERE tessera = ? AND holder = ?"));
  s.Bind(1, when_ms).Bind(2, tessera).Bind(3, holder);
  return s.Run();
}

}  // namespace tesseras::storage
