-- payflow schema, version 2 (PostgreSQL): the readiness probe's row.
--
-- WriteCheck upserts the one row of payflow_health: a ping or a read
-- succeeds on a server that can no longer write (a hot standby after a
-- failover, default_transaction_read_only, a full disk), so readiness asks
-- for a real, committed write.

CREATE TABLE payflow_health (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TIMESTAMPTZ NOT NULL,
    checks     BIGINT NOT NULL DEFAULT 0
);
