package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// CustomerSummary returns everything stored about the customer, each list in
// the order things happened: orders by creation, subscriptions, invoices,
// refunds and disputes by the Stripe event they were last seen in, emails
// by when they were claimed; access rows by product and source. Customer
// is the customers row, or just the ID when no customer event was stored.
//
// Invoices are listed when they name the customer or one of the
// customer's subscriptions; refunds when they belong to one of the
// customer's orders, subscriptions or invoices. Emails carry no customer
// ID; the ones listed are those addressed to the customer's email or to an
// email on one of the customer's orders. Disputes are listed when they
// name the customer, or one of the customer's orders (by payment intent or
// charge) or invoices. payflow.ErrNotFound when nothing at all is stored
// for the customer.
func (db *DB) CustomerSummary(ctx context.Context, customerID string) (payflow.CustomerSummary, error) {
	var s payflow.CustomerSummary
	cols := func(k []string) string { return strings.Join(k, ", ") }
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
			`SELECT `+cols(orderRows.columns)+` FROM orders WHERE customer_id = $1 ORDER BY created_at, id`,
			customerID); err != nil {
			return fmt.Errorf("orders: %w", err)
		}
		if s.Subscriptions, err = getAll(ctx, tx, subscriptionRows.scan,
			`SELECT `+cols(subscriptionRows.columns)+` FROM subscriptions
			WHERE customer_id = $1 ORDER BY stripe_created, id`,
			customerID); err != nil {
			return fmt.Errorf("subscriptions: %w", err)
		}
		if s.Invoices, err = getAll(ctx, tx, invoiceRows.scan,
			`SELECT `+cols(invoiceRows.columns)+` FROM invoices
			WHERE customer_id = $1
				OR subscription_id IN (SELECT id FROM subscriptions WHERE customer_id = $1)
			ORDER BY stripe_created, id`,
			customerID); err != nil {
			return fmt.Errorf("invoices: %w", err)
		}
		if s.Access, err = getAll(ctx, tx, scanAccess,
			`SELECT `+accessColumns+` FROM access WHERE customer_id = $1 ORDER BY product_id, source`,
			customerID); err != nil {
			return fmt.Errorf("access: %w", err)
		}
		if s.Refunds, err = getAll(ctx, tx, refundRows.scan,
			`SELECT `+cols(refundRows.columns)+` FROM refunds
			WHERE source IN (SELECT 'order/' || id FROM orders WHERE customer_id = $1
				UNION SELECT 'subscription/' || id FROM subscriptions WHERE customer_id = $1)
				OR invoice_id IN (SELECT id FROM invoices WHERE customer_id = $1)
			ORDER BY stripe_created, source, invoice_id, charge_id`,
			customerID); err != nil {
			return fmt.Errorf("refunds: %w", err)
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
		if s.Disputes, err = getAll(ctx, tx, disputeRows.scan,
			`SELECT `+cols(disputeRows.columns)+` FROM disputes
			WHERE customer_id = $1
				OR payment_intent IN (SELECT id FROM orders WHERE customer_id = $1)
				OR charge_id IN (SELECT charge_id FROM orders WHERE customer_id = $1 AND charge_id <> '')
				OR invoice_id IN (SELECT id FROM invoices WHERE customer_id = $1)
			ORDER BY stripe_created, id`,
			customerID); err != nil {
			return fmt.Errorf("disputes: %w", err)
		}
		if !known && len(s.Orders)+len(s.Subscriptions)+len(s.Invoices)+len(s.Access)+len(s.Disputes) == 0 {
			return payflow.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return payflow.CustomerSummary{}, fmt.Errorf("store: summarise customer %s: %w", customerID, err)
	}
	return s, nil
}
