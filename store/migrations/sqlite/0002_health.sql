-- payflow schema, version 2 (SQLite): the readiness probe's row.
--
-- WriteCheck upserts the one row of payflow_health: a ping or a read
-- succeeds on a database that can no longer be written (a read-only or
-- immutable file, a full disk), and a write in a transaction that is rolled
-- back never reaches the file in SQLite. checks changes on every probe, so
-- each one really writes a page.

CREATE TABLE payflow_health (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TEXT NOT NULL,
    checks     INTEGER NOT NULL DEFAULT 0
) STRICT;
