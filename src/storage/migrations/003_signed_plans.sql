-- 003_signed_plans: plans are kept as the owner's signed canonical bytes
-- (docs/FORMAT.md section 8), the only form whose signature can be checked
-- again after a restart, for every tessera this node knows: its own and those
-- it holds fragments of. The placement of our own tesseras (who holds which
-- fragment, and when they last proved it) is kept beside it.
--
-- The normalized plan and holder tables of 002 were never written by any
-- release; they are replaced by these two.
DROP TABLE holder_fragments;
DROP TABLE holders;
DROP TABLE fragment_plan_checksums;
DROP TABLE fragment_plans;

CREATE TABLE signed_plans (
  tessera       BLOB    NOT NULL PRIMARY KEY CHECK (length(tessera) = 32),
  owner         BLOB    NOT NULL CHECK (length(owner) = 32),  -- NodeId of the owner
  plan          BLOB    NOT NULL,                              -- signed encoding
  stored_at_ms  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE placements (
  tessera           BLOB    NOT NULL REFERENCES signed_plans (tessera) ON DELETE CASCADE,
  holder            BLOB    NOT NULL CHECK (length(holder) = 32),
  address           TEXT    NOT NULL,
  idx               INTEGER NOT NULL CHECK (idx >= 0 AND idx < 255),
  last_attested_ms  INTEGER,
  PRIMARY KEY (tessera, holder, idx)
) WITHOUT ROWID;
