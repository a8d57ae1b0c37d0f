-- 007_reconcile_cursor: the scrub walks the fragment directories a slice per
-- batch instead of all at once when a cycle begins (docs/STORAGE.md,
-- "Background scrub"). Where that walk is ("{pp}/{name}" of the last entry
-- reached; '' at the start of a cycle's walk), and whether this cycle's walk
-- has reached the end.
ALTER TABLE scrub_state ADD COLUMN reconcile_cursor TEXT NOT NULL DEFAULT '';
ALTER TABLE scrub_state ADD COLUMN reconcile_done INTEGER NOT NULL DEFAULT 0
  CHECK (reconcile_done IN (0, 1));
