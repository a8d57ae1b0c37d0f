-- 004_holder_history: placements become the holders this node tracks for every
-- tessera it looks after (its own, and others' it maintains), with the history
-- of each copy that the maintenance policy reads (docs/REPLICATION.md,
-- "Maintenance"); and, per tessera, when this node last looked after it.
ALTER TABLE placements RENAME COLUMN last_attested_ms TO last_proven_ms;
ALTER TABLE placements ADD COLUMN first_failure_ms INTEGER;
ALTER TABLE placements ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0
  CHECK (consecutive_failures >= 0);
ALTER TABLE placements ADD COLUMN denied INTEGER NOT NULL DEFAULT 0 CHECK (denied IN (0, 1));

CREATE TABLE maintenance (
  tessera                  BLOB    NOT NULL PRIMARY KEY
                                   REFERENCES signed_plans (tessera) ON DELETE CASCADE,
  last_checked_ms          INTEGER,
  last_audited_by_peer_ms  INTEGER,
  need_since_ms            INTEGER,
  claimed                  BLOB    NOT NULL DEFAULT x'',  -- indices of our claim, u16 LE each
  claim_published          INTEGER NOT NULL DEFAULT 0 CHECK (claim_published IN (0, 1))
) WITHOUT ROWID;
