-- 001_initial: the tesseras this node owns (or restored) and their files.
-- Hashes and keys are 32-byte BLOBs; times are Unix milliseconds.

CREATE TABLE tesseras (
  hash           BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
  owner          BLOB    NOT NULL CHECK (length(owner) = 32),   -- creator's Ed25519 public key
  size           INTEGER NOT NULL CHECK (size >= 0),            -- canonical payload bytes
  file_count     INTEGER NOT NULL CHECK (file_count >= 0),
  state          TEXT    NOT NULL CHECK (state IN ('local', 'replicating', 'replicated',
                                                   'degraded', 'lost', 'restored')),
  created_at_ms  INTEGER NOT NULL,                               -- manifest creation time
  updated_at_ms  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX tesseras_by_owner ON tesseras (owner);

CREATE TABLE tessera_files (
  tessera     BLOB    NOT NULL REFERENCES tesseras (hash) ON DELETE CASCADE,
  path        TEXT    NOT NULL CHECK (length(path) > 0),         -- relative, '/'-separated
  size        INTEGER NOT NULL CHECK (size >= 0),
  hash        BLOB    NOT NULL CHECK (length(hash) = 32),        -- BLAKE3 of the file
  media_type  TEXT    NOT NULL,
  PRIMARY KEY (tessera, path)
) WITHOUT ROWID;
