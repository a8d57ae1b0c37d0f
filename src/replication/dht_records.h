// How the replication layer's holder records and claims travel in the DHT:
// each is the value of a signed dht::Record (docs/PROTOCOL.md §8) of type
// kHolderRecord or kHolderClaim, published by this node with a fresh expiry.
#pragma once

#include <cstdint>

#include "core/ports/clock.h"
#include "crypto/identity.h"
#include "replication/replication_service.h"

namespace tesseras::replication {

// Sets deps.seal_record and deps.open_record. `identity` and `clock` must
// outlive the service.
void UseDhtRecords(ReplicationDeps& deps, const crypto::Identity& identity,
                   const core::Clock& clock, int64_t record_ttl_ms);

}  // namespace tesseras::replication
