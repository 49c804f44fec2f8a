package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/payflow/payflow"
)

// This file holds the payflow.Store methods. Every write is one transaction
// (or one statement) and idempotent by the row's unique key, so an activity
// that Temporal retries after a crash, or a duplicate Stripe delivery, ends
// with the same rows as a single call would have.

// MarkEventApplied records e; it reports false when the event was recorded
// before.
func (db *DB) MarkEventApplied(ctx context.Context, e payflow.AppliedEvent) (bool, error) {
	if e.EventID == "" {
		return false, errors.New("store: mark event applied: empty event ID")
	}
	inserted, err := execOne(ctx, db.sql,
		`INSERT INTO stripe_events (event_id, type, object_id, owner, created, applied_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (event_id) DO NOTHING`,
		e.EventID, e.Type, e.ObjectID, e.Owner, e.Created, db.ts(orNow(e.AppliedAt, time.Now())))
	if err != nil {
		return false, fmt.Errorf("store: mark event %s applied: %w", e.EventID, err)
	}
	if inserted || e.Owner == "" {
		return inserted, nil
	}
	// A retried activity whose first attempt committed finds its own row.
	var owner string
	if err := db.sql.QueryRowContext(ctx, `SELECT owner FROM stripe_events WHERE event_id = $1`, e.EventID).Scan(&owner); err != nil {
		return false, fmt.Errorf("store: owner of event %s: %w", e.EventID, err)
	}
	return owner == e.Owner, nil
}

// EventApplied reports whether the event was recorded.
func (db *DB) EventApplied(ctx context.Context, eventID string) (bool, error) {
	var ok bool
	err := db.sql.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM stripe_events WHERE event_id = $1)`, eventID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("store: look up event %s: %w", eventID, err)
	}
	return ok, nil
}

// UpsertCustomer records the customer. An empty email never replaces a
// known one, since not every event carries the address.
func (db *DB) UpsertCustomer(ctx context.Context, c payflow.Customer) error {
	if c.ID == "" {
		return errors.New("store: upsert customer: empty ID")
	}
	_, err := db.sql.ExecContext(ctx,
		`INSERT INTO customers (id, email, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET email = excluded.email, updated_at = excluded.updated_at
		WHERE excluded.email <> '' AND excluded.email <> customers.email`,
		c.ID, c.Email, db.ts(orNow(c.UpdatedAt, time.Now())))
	if err != nil {
		return fmt.Errorf("store: upsert customer %s: %w", c.ID, err)
	}
	return nil
}

const customerColumns = `id, email, updated_at`

func scanCustomer(r rowScanner) (payflow.Customer, error) {
	var c payflow.Customer
	err := r.Scan(&c.ID, &c.Email, timeCol(&c.UpdatedAt))
	return c, err
}

const orderColumns = `id, customer_id, email, checkout_id, charge_id, product_id,
	amount, currency, status, failure_reason, created_at, fulfilled_at, updated_at`

func scanOrder(r rowScanner) (payflow.Order, error) {
	var o payflow.Order
	err := r.Scan(&o.ID, &o.CustomerID, &o.Email, &o.CheckoutID, &o.ChargeID, &o.ProductID,
		&o.Amount, &o.Currency, &o.Status, &o.FailureReason,
		timeCol(&o.CreatedAt), nullTimeCol(&o.FulfilledAt), timeCol(&o.UpdatedAt))
	return o, err
}

// createOrderSQL inserts an order, or, when it exists, only fills in the
// identifiers and email it lacks (a checkout session may name the customer
// that the payment intent's first event did not). When there is nothing to
// fill, the WHERE clause skips the update and RETURNING yields no row.
const createOrderSQL = `INSERT INTO orders (` + orderColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
	ON CONFLICT (id) DO UPDATE SET
		customer_id = CASE WHEN orders.customer_id = '' THEN excluded.customer_id ELSE orders.customer_id END,
		email       = CASE WHEN orders.email = ''       THEN excluded.email       ELSE orders.email END,
		checkout_id = CASE WHEN orders.checkout_id = '' THEN excluded.checkout_id ELSE orders.checkout_id END,
		charge_id   = CASE WHEN orders.charge_id = ''   THEN excluded.charge_id   ELSE orders.charge_id END,
		product_id  = CASE WHEN orders.product_id = ''  THEN excluded.product_id  ELSE orders.product_id END,
		updated_at  = excluded.updated_at
	WHERE (orders.customer_id = '' AND excluded.customer_id <> '')
		OR (orders.email = '' AND excluded.email <> '')
		OR (orders.checkout_id = '' AND excluded.checkout_id <> '')
		OR (orders.charge_id = '' AND excluded.charge_id <> '')
		OR (orders.product_id = '' AND excluded.product_id <> '')
	RETURNING ` + orderColumns

// CreateOrder inserts o unless an order with its ID exists, and returns the
// stored row. An existing order keeps its status, amount and timestamps
// (it may be further along than o); only its empty customer_id, email,
// checkout_id, charge_id and product_id are filled in from o. An empty
// status means pending; zero CreatedAt/UpdatedAt mean now.
func (db *DB) CreateOrder(ctx context.Context, o payflow.Order) (payflow.Order, error) {
	if o.ID == "" {
		return payflow.Order{}, errors.New("store: create order: empty ID")
	}
	if o.Status == "" {
		o.Status = payflow.OrderPending
	}
	now := time.Now()
	var stored payflow.Order
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		stored, err = scanOrder(tx.QueryRowContext(ctx, createOrderSQL,
			o.ID, o.CustomerID, o.Email, o.CheckoutID, o.ChargeID, o.ProductID,
			o.Amount, o.Currency, o.Status, o.FailureReason,
			db.ts(orNow(o.CreatedAt, now)), db.nullTS(o.FulfilledAt), db.ts(orNow(o.UpdatedAt, now))))
		if errors.Is(err, sql.ErrNoRows) {
			stored, err = scanOrder(tx.QueryRowContext(ctx,
				`SELECT `+orderColumns+` FROM orders WHERE id = $1`, o.ID))
		}
		return err
	})
	if err != nil {
		return payflow.Order{}, fmt.Errorf("store: create order %s: %w", o.ID, err)
	}
	return stored, nil
}

// GetOrder returns the order, or payflow.ErrNotFound.
func (db *DB) GetOrder(ctx context.Context, id string) (payflow.Order, error) {
	o, err := getOne(ctx, db.sql, scanOrder, `SELECT `+orderColumns+` FROM orders WHERE id = $1`, id)
	if err != nil {
		return payflow.Order{}, fmt.Errorf("store: get order %s: %w", id, err)
	}
	return o, nil
}

// GetOrderByCharge returns the order the charge paid, or payflow.ErrNotFound.
func (db *DB) GetOrderByCharge(ctx context.Context, chargeID string) (payflow.Order, error) {
	if chargeID == "" {
		return payflow.Order{}, fmt.Errorf("store: get order by charge: empty charge ID: %w", payflow.ErrNotFound)
	}
	o, err := getOne(ctx, db.sql, scanOrder,
		`SELECT `+orderColumns+` FROM orders WHERE charge_id = $1 ORDER BY created_at LIMIT 1`, chargeID)
	if err != nil {
		return payflow.Order{}, fmt.Errorf("store: get order by charge %s: %w", chargeID, err)
	}
	return o, nil
}

// UpdateOrderStatus sets the order's status and failure reason (an empty
// reason clears it) and returns the stored row; payflow.ErrNotFound when
// there is no such order. Moving to fulfilled sets fulfilled_at the first
// time only, so a retried fulfilment keeps the original time and a later
// refund or dispute keeps it too. A zero at means now.
func (db *DB) UpdateOrderStatus(ctx context.Context, id, status, reason string, at time.Time) (payflow.Order, error) {
	if status == "" {
		return payflow.Order{}, fmt.Errorf("store: update order %s: empty status", id)
	}
	at = orNow(at, time.Now())
	var fulfilledAt any // NULL leaves fulfilled_at as it is
	if status == payflow.OrderFulfilled {
		fulfilledAt = db.ts(at)
	}
	o, err := getOne(ctx, db.sql, scanOrder,
		`UPDATE orders SET
			status = $2,
			failure_reason = $3,
			fulfilled_at = COALESCE(fulfilled_at, $4),
			updated_at = $5
		WHERE id = $1
		RETURNING `+orderColumns,
		id, status, reason, fulfilledAt, db.ts(at))
	if err != nil {
		return payflow.Order{}, fmt.Errorf("store: update order %s to %s: %w", id, status, err)
	}
	return o, nil
}

// snapshotUpsert builds the statement that writes one snapshot of a Stripe
// object (an invoice, a subscription, a dispute) keyed by cols[0]. Stripe
// delivers events out of order, so each row remembers the created time of
// the event its snapshot came from (stripe_created) and the statement
// refuses to go backwards:
//
//   - no row yet: insert;
//   - the new snapshot is from a later event: overwrite;
//   - from an event created in the same second: overwrite if any column
//     differs (Stripe's clock has one-second resolution, so two events of
//     one second must both apply; the later delivery wins), else skip, so a
//     redelivery writes nothing;
//   - from an earlier event: skip.
//
// RowsAffected therefore says whether it wrote. The sticky columns are
// identifiers (and payflow's own dunning stage) that a snapshot may lack:
// an empty value there keeps the stored one instead of erasing it.
func snapshotUpsert(table string, cols []string, sticky ...string) string {
	var placeholders, set, differs []string
	for i, c := range cols {
		placeholders = append(placeholders, fmt.Sprintf("$%d", i+1))
		switch {
		case i == 0:
			// the key
		case c == "stripe_created" || c == "updated_at":
			set = append(set, fmt.Sprintf("%[1]s = excluded.%[1]s", c))
		case slices.Contains(sticky, c):
			set = append(set, fmt.Sprintf("%[1]s = CASE WHEN excluded.%[1]s = '' THEN %[2]s.%[1]s ELSE excluded.%[1]s END", c, table))
			differs = append(differs, fmt.Sprintf("(excluded.%[1]s <> '' AND excluded.%[1]s <> %[2]s.%[1]s)", c, table))
		default:
			set = append(set, fmt.Sprintf("%[1]s = excluded.%[1]s", c))
			differs = append(differs, fmt.Sprintf("excluded.%[1]s <> %[2]s.%[1]s", c, table))
		}
	}
	return fmt.Sprintf(`INSERT INTO %[1]s (%[2]s) VALUES (%[3]s)
	ON CONFLICT (%[4]s) DO UPDATE SET %[5]s
	WHERE excluded.stripe_created > %[1]s.stripe_created
		OR (excluded.stripe_created = %[1]s.stripe_created AND (%[6]s))`,
		table, strings.Join(cols, ", "), strings.Join(placeholders, ", "), cols[0],
		strings.Join(set, ",\n\t\t"), strings.Join(differs, "\n\t\t\tOR "))
}

var (
	invoiceColumns = []string{"id", "customer_id", "subscription_id", "amount", "currency", "status",
		"stripe_created", "updated_at"}
	upsertInvoiceSQL = snapshotUpsert("invoices", invoiceColumns, "customer_id", "subscription_id")

	subscriptionColumns = []string{"id", "customer_id", "status", "dunning_stage", "current_period_end",
		"cancel_at_period_end", "stripe_created", "updated_at"}
	upsertSubscriptionSQL = snapshotUpsert("subscriptions", subscriptionColumns, "customer_id", "dunning_stage")

	disputeColumns = []string{"id", "charge_id", "payment_intent", "customer_id", "amount", "currency",
		"reason", "status", "evidence_due_by", "stripe_created", "updated_at"}
	upsertDisputeSQL = snapshotUpsert("disputes", disputeColumns, "charge_id", "payment_intent", "customer_id")
)

// UpsertInvoice writes the invoice snapshot unless the stored one is from a
// later event, or from an event of the same second and identical (see
// snapshotUpsert); it reports whether it wrote.
func (db *DB) UpsertInvoice(ctx context.Context, inv payflow.Invoice) (bool, error) {
	if inv.ID == "" {
		return false, errors.New("store: upsert invoice: empty ID")
	}
	wrote, err := execOne(ctx, db.sql, upsertInvoiceSQL,
		inv.ID, inv.CustomerID, inv.SubscriptionID, inv.Amount, inv.Currency, inv.Status,
		inv.StripeCreated, db.ts(orNow(inv.UpdatedAt, time.Now())))
	if err != nil {
		return false, fmt.Errorf("store: upsert invoice %s: %w", inv.ID, err)
	}
	return wrote, nil
}

// UpsertSubscription writes the subscription snapshot unless the stored one
// is from a later event, or from an event of the same second and identical
// (see snapshotUpsert); it reports whether it wrote. An empty DunningStage
// keeps the stored stage: the stage is payflow's, not Stripe's, and changes
// through SetDunningStage.
func (db *DB) UpsertSubscription(ctx context.Context, s payflow.Subscription) (bool, error) {
	if s.ID == "" {
		return false, errors.New("store: upsert subscription: empty ID")
	}
	wrote, err := execOne(ctx, db.sql, upsertSubscriptionSQL,
		s.ID, s.CustomerID, s.Status, s.DunningStage, s.CurrentPeriodEnd, s.CancelAtPeriodEnd,
		s.StripeCreated, db.ts(orNow(s.UpdatedAt, time.Now())))
	if err != nil {
		return false, fmt.Errorf("store: upsert subscription %s: %w", s.ID, err)
	}
	return wrote, nil
}

func scanSubscription(r rowScanner) (payflow.Subscription, error) {
	var s payflow.Subscription
	err := r.Scan(&s.ID, &s.CustomerID, &s.Status, &s.DunningStage, &s.CurrentPeriodEnd,
		&s.CancelAtPeriodEnd, &s.StripeCreated, timeCol(&s.UpdatedAt))
	return s, err
}

// GetSubscription returns the subscription, or payflow.ErrNotFound.
func (db *DB) GetSubscription(ctx context.Context, id string) (payflow.Subscription, error) {
	s, err := getOne(ctx, db.sql, scanSubscription,
		`SELECT `+strings.Join(subscriptionColumns, ", ")+` FROM subscriptions WHERE id = $1`, id)
	if err != nil {
		return payflow.Subscription{}, fmt.Errorf("store: get subscription %s: %w", id, err)
	}
	return s, nil
}

// SetDunningStage sets the subscription's dunning stage (empty ends dunning)
// and, when status is not empty, its status; payflow.ErrNotFound when there
// is no such subscription. It leaves stripe_created alone, so the next newer
// Stripe snapshot still applies.
func (db *DB) SetDunningStage(ctx context.Context, id, status, stage string) error {
	ok, err := execOne(ctx, db.sql,
		`UPDATE subscriptions SET
			dunning_stage = $2,
			status = CASE WHEN $3 = '' THEN status ELSE $3 END,
			updated_at = $4
		WHERE id = $1`,
		id, stage, status, db.ts(time.Now()))
	if err == nil && !ok {
		err = payflow.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: set dunning stage of subscription %s to %q: %w", id, stage, err)
	}
	return nil
}

const entitlementColumns = `customer_id, product_id, status, source, valid_until,
	granted_at, suspended_at, revoked_at, updated_at`

func scanEntitlement(r rowScanner) (payflow.Entitlement, error) {
	var e payflow.Entitlement
	err := r.Scan(&e.CustomerID, &e.ProductID, &e.Status, &e.Source, nullTimeCol(&e.ValidUntil),
		nullTimeCol(&e.GrantedAt), nullTimeCol(&e.SuspendedAt), nullTimeCol(&e.RevokedAt), timeCol(&e.UpdatedAt))
	return e, err
}

// SetEntitlement sets the customer's access to the product to e.Status and
// e.ValidUntil (nil: no end), and reports whether either changed, so the
// caller provisions or notifies only on a real change and a retry is a
// no-op.
//
// Entering a status stamps its timestamp (granted_at for granted, and so on)
// from the matching field of e, or now when that is nil; staying in a status
// keeps the stamp it has, and the other stamps keep the last time the
// entitlement was in those states. Source records what made the change: it
// is written with a change (an empty Source keeps the stored one), never on
// its own.
func (db *DB) SetEntitlement(ctx context.Context, e payflow.Entitlement) (bool, error) {
	if e.CustomerID == "" || e.ProductID == "" {
		return false, fmt.Errorf("store: set entitlement %q/%q: empty customer or product ID", e.CustomerID, e.ProductID)
	}
	// stamp is the field, and stampColumn the column, of the time e enters
	// its status.
	var stamp **time.Time
	var stampColumn string
	switch e.Status {
	case payflow.AccessGranted:
		stamp, stampColumn = &e.GrantedAt, "granted_at"
	case payflow.AccessSuspended:
		stamp, stampColumn = &e.SuspendedAt, "suspended_at"
	case payflow.AccessRevoked:
		stamp, stampColumn = &e.RevokedAt, "revoked_at"
	default:
		return false, fmt.Errorf("store: set entitlement %s/%s: unknown status %q", e.CustomerID, e.ProductID, e.Status)
	}
	now := time.Now()
	if *stamp == nil {
		*stamp = &now
	}

	changed := false
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		changed, err = execOne(ctx, tx,
			`INSERT INTO entitlements (`+entitlementColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (customer_id, product_id) DO NOTHING`,
			e.CustomerID, e.ProductID, e.Status, e.Source, db.nullTS(e.ValidUntil),
			db.nullTS(e.GrantedAt), db.nullTS(e.SuspendedAt), db.nullTS(e.RevokedAt),
			db.ts(orNow(e.UpdatedAt, now)))
		if err != nil || changed {
			return err
		}
		// The row exists. The WHERE clause makes the update (and the
		// report) happen only on a change; in PostgreSQL it is evaluated
		// again after waiting for a concurrent writer's row lock, so two
		// racing calls cannot both report the same change.
		changed, err = execOne(ctx, tx,
			`UPDATE entitlements SET
				`+stampColumn+` = CASE WHEN status = $3 AND `+stampColumn+` IS NOT NULL THEN `+stampColumn+` ELSE $6 END,
				status = $3,
				source = CASE WHEN $4 = '' THEN source ELSE $4 END,
				valid_until = $5,
				updated_at = $7
			WHERE customer_id = $1 AND product_id = $2
				AND (status <> $3 OR valid_until IS DISTINCT FROM $5)`,
			e.CustomerID, e.ProductID, e.Status, e.Source, db.nullTS(e.ValidUntil),
			db.ts(**stamp), db.ts(orNow(e.UpdatedAt, now)))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: set entitlement %s/%s to %s: %w", e.CustomerID, e.ProductID, e.Status, err)
	}
	return changed, nil
}

// GetEntitlement returns the customer's entitlement to the product, or
// payflow.ErrNotFound.
func (db *DB) GetEntitlement(ctx context.Context, customerID, productID string) (payflow.Entitlement, error) {
	e, err := getOne(ctx, db.sql, scanEntitlement,
		`SELECT `+entitlementColumns+` FROM entitlements WHERE customer_id = $1 AND product_id = $2`,
		customerID, productID)
	if err != nil {
		return payflow.Entitlement{}, fmt.Errorf("store: get entitlement %s/%s: %w", customerID, productID, err)
	}
	return e, nil
}

const emailColumns = `dedupe_key, to_addr, purpose, subject, body, status,
	provider_message_id, created_at, sent_at`

func scanEmail(r rowScanner) (payflow.Email, error) {
	var e payflow.Email
	err := r.Scan(&e.DedupeKey, &e.To, &e.Purpose, &e.Subject, &e.Body, &e.Status,
		&e.ProviderMessageID, timeCol(&e.CreatedAt), nullTimeCol(&e.SentAt))
	return e, err
}

// ClaimEmail inserts the ledger row if its dedupe key is new and returns the
// stored row either way; claimed is true only for the call that inserted
// it, so of any number of concurrent or retried claims exactly one sends.
// An empty status means pending; a zero CreatedAt means now.
func (db *DB) ClaimEmail(ctx context.Context, e payflow.Email) (stored payflow.Email, claimed bool, err error) {
	if e.DedupeKey == "" {
		return payflow.Email{}, false, errors.New("store: claim email: empty dedupe key")
	}
	if e.Status == "" {
		e.Status = payflow.EmailPending
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		claimed, err = execOne(ctx, tx,
			`INSERT INTO emails (`+emailColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (dedupe_key) DO NOTHING`,
			e.DedupeKey, e.To, e.Purpose, e.Subject, e.Body, e.Status,
			e.ProviderMessageID, db.ts(orNow(e.CreatedAt, time.Now())), db.nullTS(e.SentAt))
		if err != nil {
			return err
		}
		stored, err = scanEmail(tx.QueryRowContext(ctx,
			`SELECT `+emailColumns+` FROM emails WHERE dedupe_key = $1`, e.DedupeKey))
		return err
	})
	if err != nil {
		return payflow.Email{}, false, fmt.Errorf("store: claim email %s: %w", e.DedupeKey, err)
	}
	return stored, claimed, nil
}

// FinishEmail records how sending went: the status, the provider's message
// ID (empty keeps the stored one) and, for sent or outbox, sent_at — set
// once, so a retried finish keeps the first time. payflow.ErrNotFound when
// no email has the key. A zero at means now.
func (db *DB) FinishEmail(ctx context.Context, dedupeKey, status, providerMessageID string, at time.Time) error {
	if status == "" {
		return fmt.Errorf("store: finish email %s: empty status", dedupeKey)
	}
	var sentAt any // NULL leaves sent_at as it is
	if status == payflow.EmailSent || status == payflow.EmailOutbox {
		sentAt = db.ts(orNow(at, time.Now()))
	}
	ok, err := execOne(ctx, db.sql,
		`UPDATE emails SET
			status = $2,
			provider_message_id = CASE WHEN $3 = '' THEN provider_message_id ELSE $3 END,
			sent_at = COALESCE(sent_at, $4)
		WHERE dedupe_key = $1`,
		dedupeKey, status, providerMessageID, sentAt)
	if err == nil && !ok {
		err = payflow.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: finish email %s as %s: %w", dedupeKey, status, err)
	}
	return nil
}

// UpsertDispute writes the dispute snapshot unless the stored one is from a
// later event, or from an event of the same second and identical (see
// snapshotUpsert); it reports whether it wrote.
func (db *DB) UpsertDispute(ctx context.Context, d payflow.Dispute) (bool, error) {
	if d.ID == "" {
		return false, errors.New("store: upsert dispute: empty ID")
	}
	wrote, err := execOne(ctx, db.sql, upsertDisputeSQL,
		d.ID, d.ChargeID, d.PaymentIntent, d.CustomerID, d.Amount, d.Currency,
		d.Reason, d.Status, d.EvidenceDueBy, d.StripeCreated, db.ts(orNow(d.UpdatedAt, time.Now())))
	if err != nil {
		return false, fmt.Errorf("store: upsert dispute %s: %w", d.ID, err)
	}
	return wrote, nil
}

func scanDispute(r rowScanner) (payflow.Dispute, error) {
	var d payflow.Dispute
	err := r.Scan(&d.ID, &d.ChargeID, &d.PaymentIntent, &d.CustomerID, &d.Amount, &d.Currency,
		&d.Reason, &d.Status, &d.EvidenceDueBy, &d.StripeCreated, timeCol(&d.UpdatedAt))
	return d, err
}

// CustomerSummary returns everything stored about the customer, each list in
// the order things happened: orders by creation, subscriptions and disputes
// by the Stripe event they were last seen in, entitlements by their last
// change, emails by when they were claimed. Customer is the customers row,
// or just the ID when no customer event was stored.
//
// Emails carry no customer ID; the ones listed are those addressed to the
// customer's email or to an email on one of the customer's orders. Disputes
// are listed when they name the customer or one of the customer's orders
// (by payment intent or charge). payflow.ErrNotFound when nothing at all is
// stored for the customer.
func (db *DB) CustomerSummary(ctx context.Context, customerID string) (payflow.CustomerSummary, error) {
	var s payflow.CustomerSummary
	err := db.inReadTx(ctx, func(tx *sql.Tx) error {
		var err error
		s.Customer, err = getOne(ctx, tx, scanCustomer,
			`SELECT `+customerColumns+` FROM customers WHERE id = $1`, customerID)
		known := err == nil
		if errors.Is(err, payflow.ErrNotFound) {
			s.Customer, err = payflow.Customer{ID: customerID}, nil
		}
		if err != nil {
			return fmt.Errorf("customer: %w", err)
		}
		if s.Orders, err = getAll(ctx, tx, scanOrder,
			`SELECT `+orderColumns+` FROM orders WHERE customer_id = $1 ORDER BY created_at, id`,
			customerID); err != nil {
			return fmt.Errorf("orders: %w", err)
		}
		if s.Subscriptions, err = getAll(ctx, tx, scanSubscription,
			`SELECT `+strings.Join(subscriptionColumns, ", ")+` FROM subscriptions
			WHERE customer_id = $1 ORDER BY stripe_created, id`,
			customerID); err != nil {
			return fmt.Errorf("subscriptions: %w", err)
		}
		if s.Entitlements, err = getAll(ctx, tx, scanEntitlement,
			`SELECT `+entitlementColumns+` FROM entitlements
			WHERE customer_id = $1 ORDER BY updated_at, product_id`,
			customerID); err != nil {
			return fmt.Errorf("entitlements: %w", err)
		}
		if s.Emails, err = getAll(ctx, tx, scanEmail,
			`SELECT `+emailColumns+` FROM emails
			WHERE lower(to_addr) IN (
				SELECT lower(email) FROM customers WHERE id = $1 AND email <> ''
				UNION SELECT lower(email) FROM orders WHERE customer_id = $1 AND email <> '')
			ORDER BY created_at, dedupe_key`,
			customerID); err != nil {
			return fmt.Errorf("emails: %w", err)
		}
		if s.Disputes, err = getAll(ctx, tx, scanDispute,
			`SELECT `+strings.Join(disputeColumns, ", ")+` FROM disputes
			WHERE customer_id = $1
				OR payment_intent IN (SELECT id FROM orders WHERE customer_id = $1)
				OR charge_id IN (SELECT charge_id FROM orders WHERE customer_id = $1 AND charge_id <> '')
			ORDER BY stripe_created, id`,
			customerID); err != nil {
			return fmt.Errorf("disputes: %w", err)
		}
		if !known && len(s.Orders)+len(s.Subscriptions)+len(s.Entitlements)+len(s.Disputes) == 0 {
			return payflow.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return payflow.CustomerSummary{}, fmt.Errorf("store: summarise customer %s: %w", customerID, err)
	}
	return s, nil
}
