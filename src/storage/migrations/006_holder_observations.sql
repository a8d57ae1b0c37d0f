-- 006_holder_observations: what this node observed of each copy, for the
-- durability estimate of tes status (replication/durability.h): audits that
-- asked for it, how many were answered, and when it was first seen.
ALTER TABLE placements ADD COLUMN audits INTEGER NOT NULL DEFAULT 0 CHECK (audits >= 0);
ALTER TABLE placements ADD COLUMN answered INTEGER NOT NULL DEFAULT 0
  CHECK (answered >= 0 AND answered <= audits);
ALTER TABLE placements ADD COLUMN first_seen_ms INTEGER;
