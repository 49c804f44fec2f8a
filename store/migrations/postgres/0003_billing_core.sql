-- payflow schema, version 3 (PostgreSQL): what the billing core records.
--
-- Access is kept per source: one row per (customer, product, source), so a
-- refund of an order never revokes what a subscription still pays for. The
-- rows of schema 1's entitlements table (one per customer and product) move
-- to access, keeping their source (legacy when none was written).
-- access_versions counts the changes of each (customer, product): its row
-- is what writers of one product take in turn, and its version orders the
-- provisioning calls.
--
-- Orders buy a list of products and record refunds; invoices keep their
-- own amounts, attempts and status; subscriptions their items; disputes
-- the invoice they concern, their owner and the movement of funds; refunds
-- get a table of their own.

CREATE TABLE access (
    customer_id  TEXT NOT NULL,
    product_id   TEXT NOT NULL,
    source       TEXT NOT NULL, -- order/<pi> or subscription/<sub>
    status       TEXT NOT NULL CHECK (status IN ('granted', 'suspended', 'revoked')),
    valid_until  TIMESTAMPTZ,
    reason       TEXT NOT NULL DEFAULT '',
    granted_at   TIMESTAMPTZ,
    suspended_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (customer_id, product_id, source)
);

CREATE TABLE access_versions (
    customer_id TEXT NOT NULL,
    product_id  TEXT NOT NULL,
    version     BIGINT NOT NULL DEFAULT 0,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (customer_id, product_id)
);

INSERT INTO access (customer_id, product_id, source, status, valid_until, reason,
                    granted_at, suspended_at, revoked_at, updated_at)
SELECT customer_id, product_id, CASE WHEN source = '' THEN 'legacy' ELSE source END, status, valid_until, '',
       granted_at, suspended_at, revoked_at, updated_at
FROM entitlements;

INSERT INTO access_versions (customer_id, product_id, version, updated_at)
SELECT customer_id, product_id, 1, updated_at FROM entitlements;

DROP TABLE entitlements;

ALTER TABLE orders ADD COLUMN payment_intent TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN products TEXT NOT NULL DEFAULT '[]'; -- JSON array of product IDs, sorted
ALTER TABLE orders ADD COLUMN amount_refunded BIGINT NOT NULL DEFAULT 0;
UPDATE orders SET payment_intent = id WHERE id LIKE 'pi\_%' ESCAPE '\';
UPDATE orders SET products = json_build_array(product_id)::text WHERE product_id <> '';
ALTER TABLE orders DROP COLUMN product_id;
CREATE INDEX orders_payment_intent_idx ON orders (payment_intent) WHERE payment_intent <> '';

ALTER TABLE invoices RENAME COLUMN amount TO amount_due;
ALTER TABLE invoices ADD COLUMN amount_paid BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN amount_refunded BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN fully_refunded BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE invoices ADD COLUMN attempt_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN billing_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN collection_method TEXT NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN hosted_invoice_url TEXT NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN period_end BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN charge_id TEXT NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN payment_intent TEXT NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN dispute_id TEXT NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN dispute_status TEXT NOT NULL DEFAULT '';
UPDATE invoices SET amount_paid = amount_due WHERE status = 'paid';
CREATE INDEX invoices_charge_id_idx ON invoices (charge_id) WHERE charge_id <> '';
CREATE INDEX invoices_payment_intent_idx ON invoices (payment_intent) WHERE payment_intent <> '';

ALTER TABLE subscriptions ADD COLUMN items TEXT NOT NULL DEFAULT '[]'; -- JSON array of {id, price, product, quantity}

ALTER TABLE disputes ADD COLUMN invoice_id TEXT NOT NULL DEFAULT '';
ALTER TABLE disputes ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE disputes ADD COLUMN funds_withdrawn BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE disputes ADD COLUMN funds_reinstated BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE refunds (
    source          TEXT NOT NULL, -- order/<pi> or subscription/<sub>
    invoice_id      TEXT NOT NULL DEFAULT '',
    charge_id       TEXT NOT NULL DEFAULT '',
    amount_refunded BIGINT NOT NULL DEFAULT 0, -- cumulative, as Stripe reports it
    currency        TEXT NOT NULL DEFAULT '',
    fully_refunded  BOOLEAN NOT NULL DEFAULT FALSE,
    event_id        TEXT NOT NULL DEFAULT '', -- the newest event recorded
    stripe_created  BIGINT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, invoice_id, charge_id)
);
CREATE INDEX refunds_invoice_id_idx ON refunds (invoice_id) WHERE invoice_id <> '';
