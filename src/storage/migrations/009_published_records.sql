-- 009_published_records: the DHT records this node republishes (its own holder
-- claims and the records it was asked to Put), on disk instead of in memory
-- (docs/STORAGE.md, "Published records"). One row per publish key (record
-- key, type, publisher); the record is the encoded, signed DHT record.
-- published_count keeps the number of rows, maintained by the triggers, so
-- that the republish pace is known without counting the table.
CREATE TABLE published_records (
  publish_key     BLOB PRIMARY KEY NOT NULL CHECK (length(publish_key) > 0),
  record          BLOB NOT NULL,
  expires_unix_ms INTEGER NOT NULL
);
CREATE TABLE published_count (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  n  INTEGER NOT NULL CHECK (n >= 0)
);
INSERT INTO published_count (id, n) VALUES (1, 0);
CREATE TRIGGER published_records_counted_in AFTER INSERT ON published_records
BEGIN
  UPDATE published_count SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER published_records_counted_out AFTER DELETE ON published_records
BEGIN
  UPDATE published_count SET n = n - 1 WHERE id = 1;
END;
