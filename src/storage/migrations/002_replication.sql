-- 002_replication: fragments this node stores, the fragment plans (tables) of the
-- tesseras it owns, who holds which fragment, and the reciprocity ledger.

-- Index of the fragment files under {data_dir}/fragments/{tessera}/{idx:03}.shard.
-- A row exists only while its file is complete, fsynced and renamed into place.
CREATE TABLE fragments (
  tessera           BLOB    NOT NULL CHECK (length(tessera) = 32),
  idx               INTEGER NOT NULL CHECK (idx >= 0 AND idx < shard_count),
  shard_count       INTEGER NOT NULL CHECK (shard_count BETWEEN 1 AND 255),
  checksum          BLOB    NOT NULL CHECK (length(checksum) = 32),   -- BLAKE3 of the bytes
  size              INTEGER NOT NULL CHECK (size >= 0),
  stored_at_ms      INTEGER NOT NULL,
  last_verified_ms  INTEGER,
  origin            BLOB    NOT NULL CHECK (length(origin) = 32),     -- NodeId of the sender
  PRIMARY KEY (tessera, idx)
) WITHOUT ROWID;

-- The owner's signed plan of a tessera: how it was cut, and (below) the
-- checksum of every fragment.
CREATE TABLE fragment_plans (
  tessera           BLOB    NOT NULL PRIMARY KEY CHECK (length(tessera) = 32),
  tier              INTEGER NOT NULL CHECK (tier IN (0, 1, 2)),      -- core::Tier
  original_size     INTEGER NOT NULL CHECK (original_size >= 0),
  data_shards       INTEGER NOT NULL CHECK (data_shards >= 1),
  parity_shards     INTEGER NOT NULL CHECK (parity_shards >= 0),
  shard_size        INTEGER NOT NULL CHECK (shard_size >= 0),
  owner_public_key  BLOB    NOT NULL CHECK (length(owner_public_key) = 32),
  plan_signature    BLOB    CHECK (plan_signature IS NULL OR length(plan_signature) = 64),
  created_at_ms     INTEGER NOT NULL,
  CHECK (data_shards + parity_shards <= 255)
) WITHOUT ROWID;

CREATE TABLE fragment_plan_checksums (
  tessera   BLOB    NOT NULL REFERENCES fragment_plans (tessera) ON DELETE CASCADE,
  idx       INTEGER NOT NULL CHECK (idx >= 0 AND idx < 255),
  checksum  BLOB    NOT NULL CHECK (length(checksum) = 32),
  PRIMARY KEY (tessera, idx)
) WITHOUT ROWID;

-- Peers that hold (or held) fragments of our tesseras.
CREATE TABLE holders (
  node_id        BLOB    NOT NULL PRIMARY KEY CHECK (length(node_id) = 32),
  address        TEXT    NOT NULL,
  first_seen_ms  INTEGER NOT NULL,
  last_seen_ms   INTEGER NOT NULL
) WITHOUT ROWID;

-- Which holder has which fragment of which of our tesseras, and when it last
-- proved it (an attestation).
CREATE TABLE holder_fragments (
  tessera           BLOB    NOT NULL REFERENCES fragment_plans (tessera) ON DELETE CASCADE,
  idx               INTEGER NOT NULL CHECK (idx >= 0 AND idx < 255),
  holder            BLOB    NOT NULL REFERENCES holders (node_id) ON DELETE CASCADE,
  assigned_at_ms    INTEGER NOT NULL,
  last_attested_ms  INTEGER,
  PRIMARY KEY (tessera, idx, holder)
) WITHOUT ROWID;

CREATE INDEX holder_fragments_by_holder ON holder_fragments (holder);

-- Reciprocity: one row per peer. balance > 0 means the peer stores more for us
-- than we store for it.
CREATE TABLE reciprocity (
  peer                     BLOB    NOT NULL PRIMARY KEY CHECK (length(peer) = 32),
  bytes_stored_for_them    INTEGER NOT NULL DEFAULT 0 CHECK (bytes_stored_for_them >= 0),
  bytes_they_store_for_us  INTEGER NOT NULL DEFAULT 0 CHECK (bytes_they_store_for_us >= 0),
  balance                  INTEGER GENERATED ALWAYS AS
                             (bytes_they_store_for_us - bytes_stored_for_them) STORED,
  updated_at_ms            INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX reciprocity_by_balance ON reciprocity (balance DESC, peer);

-- Per-fragment accounting behind the totals above: a fragment is counted once
-- per (peer, direction), and un-counted when its row is deleted. The key starts
-- with the tessera so that the records of one tessera (written together) share
-- B-tree pages.
CREATE TABLE reciprocity_entries (
  tessera        BLOB    NOT NULL CHECK (length(tessera) = 32),
  idx            INTEGER NOT NULL CHECK (idx >= 0),
  peer           BLOB    NOT NULL CHECK (length(peer) = 32),
  direction      INTEGER NOT NULL CHECK (direction IN (0, 1)),  -- core::LedgerDirection
  bytes          INTEGER NOT NULL CHECK (bytes >= 0),
  recorded_at_ms INTEGER NOT NULL,
  PRIMARY KEY (tessera, idx, peer, direction)
) WITHOUT ROWID;
