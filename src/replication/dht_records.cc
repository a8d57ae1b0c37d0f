#include "replication/dht_records.h"

#include "dht/record.h"

namespace tesseras::replication {

static_assert(dht::kHolderRecord == kHolderRecordType);
static_assert(dht::kHolderClaim == kHolderClaimType);

void UseDhtRecords(ReplicationDeps& deps, const crypto::Identity& identity,
                   const core::Clock& clock, int64_t record_ttl_ms) {
  const crypto::Identity* id = &identity;
  const core::Clock* c = &clock;
  deps.seal_record = [id, c, record_ttl_ms](
                         const core::NodeId& key, uint32_t type,
                         const std::vector<uint8_t>& value) -> core::Result<std::vector<uint8_t>> {
    ASSIGN_OR_RETURN(auto rec,
                     dht::Record::Sign(*id, type, key, value, c->NowUnixMs() + record_ttl_ms));
    return rec.Encode();
  };
  deps.open_record = [](const std::vector<uint8_t>& sealed) -> core::Result<OpenedRecord> {
    ASSIGN_OR_RETURN(auto rec, dht::Record::ParseVerified(sealed));
    if (rec.type != dht::kHolderRecord && rec.type != dht::kHolderClaim) {
      return core::MakeError(
          core::ErrorCode::kInvalidArgument,
          "not a holder record or claim (type " + std::to_string(rec.type) + ")");
    }
    // A claim's publisher is the holder it speaks for.
    if (rec.type == dht::kHolderClaim) {
      ASSIGN_OR_RETURN(auto claim, HolderClaim::Decode(rec.value));
      if (claim.holder_key != rec.publisher) {
        return core::MakeError(core::ErrorCode::kPermissionDenied,
                               "a holder claim published by another key than the holder's");
      }
    }
    return OpenedRecord{std::move(rec.value), rec.expires_unix_ms};
  };
}

}  // namespace tesseras::replication
