-- payflow schema, version 4 (PostgreSQL): the quarantine.
--
-- A verified Stripe event payflow could not interpret (an API version
-- family it does not know, a handled type without the fields routing
-- needs, …) is acknowledged to Stripe and kept here, whole: after the 200
-- Stripe stops retrying, so payload (the raw body, byte for byte) is the
-- only copy. One row per event, written once by the quarantine workflow;
-- `payflow quarantine replay` decodes it again and sets replayed_at and
-- replay_result once it could hand it on.

CREATE TABLE quarantine (
    event_id      TEXT PRIMARY KEY,
    type          TEXT NOT NULL,
    api_version   TEXT NOT NULL DEFAULT '',
    livemode      BOOLEAN NOT NULL DEFAULT FALSE,
    account       TEXT NOT NULL DEFAULT '', -- Connect: the connected account
    reason        TEXT NOT NULL,
    detail        TEXT NOT NULL DEFAULT '',
    payload       BYTEA NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL,
    replayed_at   TIMESTAMPTZ,
    replay_result TEXT NOT NULL DEFAULT ''
);

CREATE INDEX quarantine_received_at_idx ON quarantine (received_at);
CREATE INDEX quarantine_reason_idx ON quarantine (reason, received_at);
