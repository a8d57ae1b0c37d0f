-- 005_scrub_and_totals: what lets a node holding a hundred thousand tesseras
-- answer by index instead of by scanning (docs/STORAGE.md, "Queries at any size").

-- The number and bytes of indexed fragments, kept by triggers in the same
-- transaction as every change to `fragments`, so that the node's totals are
-- one row read instead of a scan of the index.
CREATE TABLE fragment_totals (
  id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 0),
  fragments  INTEGER NOT NULL CHECK (fragments >= 0),
  bytes      INTEGER NOT NULL CHECK (bytes >= 0)
);

INSERT INTO fragment_totals (id, fragments, bytes)
  SELECT 0, COUNT(*), COALESCE(SUM(size), 0) FROM fragments;

CREATE TRIGGER fragments_totals_insert AFTER INSERT ON fragments BEGIN
  UPDATE fragment_totals SET fragments = fragments + 1, bytes = bytes + NEW.size WHERE id = 0;
END;

CREATE TRIGGER fragments_totals_delete AFTER DELETE ON fragments BEGIN
  UPDATE fragment_totals SET fragments = fragments - 1, bytes = bytes - OLD.size WHERE id = 0;
END;

CREATE TRIGGER fragments_totals_update AFTER UPDATE OF size ON fragments BEGIN
  UPDATE fragment_totals SET bytes = bytes - OLD.size + NEW.size WHERE id = 0;
END;

-- The background scrub visits fragments oldest-verified first. A fragment
-- never verified counts as verified when it was stored (Store hashed every
-- byte as it was written). The index is on that expression; its entries end
-- with the primary key (tessera, idx), which breaks ties.
CREATE INDEX fragments_by_scrub ON fragments (COALESCE(last_verified_ms, stored_at_ms));

-- Where the scrub is in its cycle, and the last complete cycle (one row).
-- A cycle verifies every fragment whose scrub time is before cycle_started_ms,
-- in index order; the cursor is the last one it got to.
CREATE TABLE scrub_state (
  id                       INTEGER NOT NULL PRIMARY KEY CHECK (id = 0),
  cycle_started_ms         INTEGER NOT NULL,
  cursor_ms                INTEGER NOT NULL,
  cursor_tessera           BLOB    NOT NULL CHECK (length(cursor_tessera) = 32),
  cursor_idx               INTEGER NOT NULL,
  cycle_fragments          INTEGER NOT NULL DEFAULT 0,  -- verified in this cycle so far
  cycle_bytes              INTEGER NOT NULL DEFAULT 0,
  cycle_fragments_total    INTEGER NOT NULL DEFAULT 0,  -- held when the cycle began
  cycle_bytes_total        INTEGER NOT NULL DEFAULT 0,
  last_cycle_started_ms    INTEGER,
  last_cycle_finished_ms   INTEGER,
  last_cycle_fragments     INTEGER NOT NULL DEFAULT 0,
  last_cycle_bytes         INTEGER NOT NULL DEFAULT 0,
  corrupt_found            INTEGER NOT NULL DEFAULT 0,  -- since the first cycle
  missing_found            INTEGER NOT NULL DEFAULT 0
);
