-- payflow schema, version 1 (SQLite).
--
-- Stripe IDs are the keys. References between Stripe objects are plain
-- columns, not foreign keys: Stripe delivers events in any order, so a
-- subscription or an order can arrive before its customer does.
-- Empty strings, not NULLs, stand for "unknown" in text columns, which keeps
-- the upserts' comparisons simple; only timestamps are nullable.
--
-- STRICT tables make SQLite enforce the declared types. Timestamps are UTC
-- text of one fixed width (2006-01-02T15:04:05.000000Z), so they round-trip
-- exactly and sort correctly as text; booleans are 0 or 1.

CREATE TABLE customers (
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE orders (
    id             TEXT PRIMARY KEY, -- payment intent, or checkout session when no payment was required
    customer_id    TEXT NOT NULL DEFAULT '',
    email          TEXT NOT NULL DEFAULT '',
    checkout_id    TEXT NOT NULL DEFAULT '',
    charge_id      TEXT NOT NULL DEFAULT '',
    product_id     TEXT NOT NULL DEFAULT '',
    amount         INTEGER NOT NULL DEFAULT 0,
    currency       TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL,
    failure_reason TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    fulfilled_at   TEXT,
    updated_at     TEXT NOT NULL
) STRICT;
CREATE INDEX orders_charge_id_idx ON orders (charge_id) WHERE charge_id <> '';
CREATE INDEX orders_customer_id_idx ON orders (customer_id, created_at);

CREATE TABLE invoices (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL DEFAULT '',
    subscription_id TEXT NOT NULL DEFAULT '',
    amount          INTEGER NOT NULL DEFAULT 0,
    currency        TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT '',
    stripe_created  INTEGER NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX invoices_customer_id_idx ON invoices (customer_id);
CREATE INDEX invoices_subscription_id_idx ON invoices (subscription_id);

CREATE TABLE subscriptions (
    id                   TEXT PRIMARY KEY,
    customer_id          TEXT NOT NULL DEFAULT '',
    status               TEXT NOT NULL DEFAULT '',
    dunning_stage        TEXT NOT NULL DEFAULT '',
    current_period_end   INTEGER NOT NULL DEFAULT 0,
    cancel_at_period_end INTEGER NOT NULL DEFAULT 0,
    stripe_created       INTEGER NOT NULL,
    updated_at           TEXT NOT NULL
) STRICT;
CREATE INDEX subscriptions_customer_id_idx ON subscriptions (customer_id);

CREATE TABLE entitlements (
    customer_id  TEXT NOT NULL,
    product_id   TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('granted', 'suspended', 'revoked')),
    source       TEXT NOT NULL DEFAULT '',
    valid_until  TEXT,
    granted_at   TEXT,
    suspended_at TEXT,
    revoked_at   TEXT,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (customer_id, product_id)
) STRICT;

-- The email ledger: one row per message payflow ever meant to send.
CREATE TABLE emails (
    dedupe_key          TEXT PRIMARY KEY,
    to_addr             TEXT NOT NULL,
    purpose             TEXT NOT NULL DEFAULT '',
    subject             TEXT NOT NULL DEFAULT '',
    body                TEXT NOT NULL DEFAULT '',
    status              TEXT NOT NULL,
    provider_message_id TEXT NOT NULL DEFAULT '',
    created_at          TEXT NOT NULL,
    sent_at             TEXT
) STRICT;
CREATE INDEX emails_to_addr_idx ON emails (lower(to_addr));

CREATE TABLE disputes (
    id              TEXT PRIMARY KEY,
    charge_id       TEXT NOT NULL DEFAULT '',
    payment_intent  TEXT NOT NULL DEFAULT '',
    customer_id     TEXT NOT NULL DEFAULT '',
    amount          INTEGER NOT NULL DEFAULT 0,
    currency        TEXT NOT NULL DEFAULT '',
    reason          TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT '',
    evidence_due_by INTEGER NOT NULL DEFAULT 0,
    stripe_created  INTEGER NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX disputes_customer_id_idx ON disputes (customer_id);
CREATE INDEX disputes_payment_intent_idx ON disputes (payment_intent);
CREATE INDEX disputes_charge_id_idx ON disputes (charge_id);

-- Every Stripe event payflow applied, so "did we process evt_…?" is one query.
CREATE TABLE stripe_events (
    event_id   TEXT PRIMARY KEY,
    type       TEXT NOT NULL,
    object_id  TEXT NOT NULL DEFAULT '',
    owner      TEXT NOT NULL DEFAULT '', -- workflow run that applied it
    created    INTEGER NOT NULL, -- Unix seconds, Stripe's clock
    applied_at TEXT NOT NULL
) STRICT;
CREATE INDEX stripe_events_object_id_idx ON stripe_events (object_id);
