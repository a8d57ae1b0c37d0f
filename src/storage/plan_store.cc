#include "storage/plan_store.h"

#include <algorithm>
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

namespace {

// Stores (or replaces, for the same owner) the plan under `key`; `plan_of` is
// the hash it is a plan of when `key` is a plan slot. Call inside a transaction.
Result<void> PutPlanRow(Database& db, const core::ContentHash& key,
                        std::optional<core::ContentHash> plan_of, const core::NodeId& owner,
                        std::span<const uint8_t> encoded, int64_t now_ms) {
  {
    ASSIGN_OR_RETURN(auto s, db.Prepare("SELECT owner FROM signed_plans WHERE tessera = ?"));
    s.Bind(1, key);
    if (TRY(s.Step())) {
      ASSIGN_OR_RETURN(core::NodeId prev, s.ColumnId<core::NodeIdTag>(0));
      if (prev != owner) {
        return MakeError(ErrorCode::kPermissionDenied,
                         "tessera " + key.Short() + "… belongs to another owner");
      }
    }
  }
  ASSIGN_OR_RETURN(auto ins,
                   db.Prepare("INSERT INTO signed_plans (tessera, owner, plan, "
                              "stored_at_ms, plan_of) VALUES (?, ?, ?, ?, ?) "
                              "ON CONFLICT (tessera) DO UPDATE SET "
                              "plan = excluded.plan, stored_at_ms = excluded.stored_at_ms"));
  ins.Bind(1, key).Bind(2, owner).Bind(3, encoded).Bind(4, now_ms);
  if (plan_of) ins.Bind(5, *plan_of);
  TRY(ins.Run());
  return core::Ok();
}

}  // namespace

Result<void> SqlitePlanStore::PutPlan(const core::ContentHash& tessera, const core::NodeId& owner,
                                      std::span<const uint8_t> encoded) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db_));
  TRY(PutPlanRow(*db_, tessera, std::nullopt, owner, encoded, clock_->NowUnixMs()));
  return tx.Commit();
}

Result<void> SqlitePlanStore::PutPlanOf(const core::ContentHash& key,
                                        const core::ContentHash& tessera, const core::NodeId& owner,
                                        std::span<const uint8_t> encoded) {
  if (key == tessera) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "a plan keyed by its own hash is stored with PutPlan");
  }
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db_));
  TRY(PutPlanRow(*db_, key, tessera, owner, encoded, clock_->NowUnixMs()));
  return tx.Commit();
}

Result<std::size_t> SqlitePlanStore::CountPlansOf(const core::ContentHash& tessera) {
  auto lock = db_->Lock();
  // Both terms are index searches: the primary key and signed_plans_by_plan_of.
  ASSIGN_OR_RETURN(auto s, db_->Cached("SELECT (SELECT COUNT(*) FROM signed_plans WHERE "
                                       "tessera = ?1) + (SELECT COUNT(*) FROM signed_plans "
                                       "WHERE plan_of = ?1)"));
  s->Bind(1, tessera);
  if (!TRY(s->Step())) return std::size_t{0};
  return static_cast<std::size_t>(s->ColumnInt64(0));
}

Result<void> SqlitePlanStore::DeletePlan(const core::ContentHash& tessera) {
  auto lock = db_->Lock();
  // Placements and the maintenance clock go with it (ON DELETE CASCADE).
  ASSIGN_OR_RETURN(auto s, db_->Prepare("DELETE FROM signed_plans WHERE tessera = ?"));
  s.Bind(1, tessera);
  return s.Run();
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

namespace {

Result<void> RequirePlan(Database& db, const core::ContentHash& tessera) {
  ASSIGN_OR_RETURN(auto s, db.Cached("SELECT 1 FROM signed_plans WHERE tessera = ?"));
  s->Bind(1, tessera);
  if (!TRY(s->Step())) {
    return MakeError(ErrorCode::kNotFound, "no plan for tessera " + tessera.ToHex());
  }
  return core::Ok();
}

void BindOptional(Statement& s, int col, const std::optional<int64_t>& v) {
  if (v) {
    s.Bind(col, *v);
  } else {
    s.BindNull(col);
  }
}

std::optional<int64_t> OptionalColumn(const Statement& s, int col) {
  if (s.ColumnIsNull(col)) return std::nullopt;
  return s.ColumnInt64(col);
}

}  // namespace

Result<std::vector<core::HolderView>> SqlitePlanStore::GetHolders(
    const core::ContentHash& tessera) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(auto s, db_->Cached("SELECT holder, address, idx, last_proven_ms, "
                                       "first_failure_ms, consecutive_failures, denied, audits, "
                                       "answered, first_seen_ms FROM placements WHERE "
                                       "tessera = ? ORDER BY holder, idx"));
  s->Bind(1, tessera);
  std::vector<core::HolderView> out;
  while (TRY(s->Step())) {
    ASSIGN_OR_RETURN(core::NodeId holder, s->ColumnId<core::NodeIdTag>(0));
    if (out.empty() || out.back().holder != holder) {
      core::HolderView h;
      h.holder = holder;
      h.address = s->ColumnText(1);
      out.push_back(std::move(h));
    }
    core::CopyHistory c;
    c.index = static_cast<uint32_t>(s->ColumnInt64(2));
    c.last_proven_ms = OptionalColumn(*s, 3);
    c.first_failure_ms = OptionalColumn(*s, 4);
    c.consecutive_failures = static_cast<uint32_t>(s->ColumnInt64(5));
    c.denied = s->ColumnInt64(6) != 0;
    c.audits = static_cast<uint32_t>(s->ColumnInt64(7));
    c.answered = static_cast<uint32_t>(s->ColumnInt64(8));
    c.first_seen_ms = OptionalColumn(*s, 9);
    out.back().copies.push_back(c);
  }
  return out;
}

Result<void> SqlitePlanStore::SetHolders(const core::ContentHash& tessera,
                                         const std::vector<core::HolderView>& holders) {
  auto lock = db_->Lock();
  // The placement of an acknowledged transfer must survive a power cut: FULL.
  ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*db_, Durability::kSynced));
  TRY(RequirePlan(*db_, tessera));
  {
    ASSIGN_OR_RETURN(auto del, db_->Cached("DELETE FROM placements WHERE tessera = ?"));
    del->Bind(1, tessera);
    TRY(del->Run());
  }
  for (const auto& h : holders) {
    for (const auto& c : h.copies) {
      ASSIGN_OR_RETURN(auto ins,
                       db_->Cached("INSERT INTO placements (tessera, holder, address, idx, "
                                   "last_proven_ms, first_failure_ms, consecutive_failures, "
                                   "denied, audits, answered, first_seen_ms) VALUES (?, ?, ?, "
                                   "?, ?, ?, ?, ?, ?, ?, ?)"));
      ins->Bind(1, tessera).Bind(2, h.holder).Bind(3, std::string_view(h.address));
      ins->Bind(4, static_cast<int64_t>(c.index));
      BindOptional(*ins, 5, c.last_proven_ms);
      BindOptional(*ins, 6, c.first_failure_ms);
      ins->Bind(7, static_cast<int64_t>(c.consecutive_failures)).Bind(8, int64_t{c.denied});
      ins->Bind(9, static_cast<int64_t>(c.audits))
          .Bind(10, static_cast<int64_t>(std::min(c.answered, c.audits)));
      BindOptional(*ins, 11, c.first_seen_ms);
      TRY(ins->Run());
    }
  }
  return tx.Commit();
}

Result<core::MaintenanceClock> SqlitePlanStore::GetMaintenance(const core::ContentHash& tessera) {
  auto lock = db_->Lock();
  ASSIGN_OR_RETURN(auto s, db_->Cached("SELECT last_checked_ms, last_audited_by_peer_ms, "
                                       "need_since_ms, claimed, claim_published FROM "
                                       "maintenance WHERE tessera = ?"));
  s->Bind(1, tessera);
  core::MaintenanceClock m;
  if (!TRY(s->Step())) return m;
  m.last_checked_ms = OptionalColumn(*s, 0);
  m.last_audited_by_peer_ms = OptionalColumn(*s, 1);
  m.need_since_ms = OptionalColumn(*s, 2);
  auto claimed = s->ColumnBlob(3);
  for (std::size_t i = 0; i + 1 < claimed.size(); i += 2) {
    m.claimed.push_back(uint32_t{claimed[i]} | (uint32_t{claimed[i + 1]} << 8));
  }
  m.claim_published = s->ColumnInt64(4) != 0;
  return m;
}

Result<void> SqlitePlanStore::SetMaintenance(const core::ContentHash& tessera,
                                             const core::MaintenanceClock& m) {
  auto lock = db_->Lock();
  TRY(RequirePlan(*db_, tessera));
  std::vector<uint8_t> claimed;
  for (uint32_t i : m.claimed) {
    claimed.push_back(static_cast<uint8_t>(i & 0xff));
    claimed.push_back(static_cast<uint8_t>(i >> 8));
  }
  ASSIGN_OR_RETURN(auto s,
                   db_->Cached("INSERT INTO maintenance (tessera, last_checked_ms, "
                               "last_audited_by_peer_ms, need_since_ms, claimed, "
                               "claim_published) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tessera) "
                               "DO UPDATE SET last_checked_ms = excluded.last_checked_ms, "
                               "last_audited_by_peer_ms = excluded.last_audited_by_peer_ms, "
                               "need_since_ms = excluded.need_since_ms, claimed = "
                               "excluded.claimed, claim_published = excluded.claim_published"));
  s->Bind(1, tessera);
  BindOptional(*s, 2, m.last_checked_ms);
  BindOptional(*s, 3, m.last_audited_by_peer_ms);
  BindOptional(*s, 4, m.need_since_ms);
  s->Bind(5, std::span<const uint8_t>(claimed)).Bind(6, int64_t{m.claim_published});
  return s->Run();
}

}  // namespace tesseras::storage
