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

// Invoices, subscriptions, refunds and disputes: the rows the billing
// core's Record* commands write. Stripe delivers events in any order and a
// workflow may record an older view after a newer one (a retried activity,
// a later run seeded from the database), so every write is a merge that
// never goes backwards.

// invoiceRank orders invoice statuses (draft → open → paid | void |
// uncollectible, uncollectible → paid | void): an invoice never moves back.
func invoiceRank(status string) int {
	switch status {
	case "draft":
		return 1
	case "open":
		return 2
	case "uncollectible":
		return 3
	case "paid", "void":
		return 4
	}
	return 0
}

// disputeClosed reports Stripe dispute statuses that end a dispute.
func disputeClosed(status string) bool {
	switch status {
	case "won", "lost", "warning_closed", "prevented", "charge_refunded":
		return true
	}
	return false
}

var invoiceRows = rowKind[payflow.Invoice]{
	table: "invoices",
	columns: []string{"id", "customer_id", "subscription_id", "status", "amount_due", "amount_paid", "amount_refunded",
		"fully_refunded", "currency", "attempt_count", "billing_reason", "collection_method", "hosted_invoice_url",
		"period_end", "charge_id", "payment_intent", "dispute_id", "dispute_status", "stripe_created", "updated_at"},
	keys: 1,
	values: func(db *DB, i payflow.Invoice) []any {
		return []any{i.ID, i.CustomerID, i.SubscriptionID, i.Status, i.AmountDue, i.AmountPaid, i.AmountRefunded,
			i.FullyRefunded, i.Currency, i.AttemptCount, i.BillingReason, i.CollectionMethod, i.HostedURL,
			i.PeriodEnd, i.ChargeID, i.PaymentIntent, i.DisputeID, i.DisputeStatus, i.StripeCreated, db.ts(i.UpdatedAt)}
	},
	scan: func(r rowScanner) (payflow.Invoice, error) {
		var i payflow.Invoice
		err := r.Scan(&i.ID, &i.CustomerID, &i.SubscriptionID, &i.Status, &i.AmountDue, &i.AmountPaid, &i.AmountRefunded,
			&i.FullyRefunded, &i.Currency, &i.AttemptCount, &i.BillingReason, &i.CollectionMethod, &i.HostedURL,
			&i.PeriodEnd, &i.ChargeID, &i.PaymentIntent, &i.DisputeID, &i.DisputeStatus, &i.StripeCreated, timeCol(&i.UpdatedAt))
		return i, err
	},
	merge: mergeInvoice,
	touch: func(i *payflow.Invoice, from payflow.Invoice) { i.UpdatedAt = from.UpdatedAt },
}

// mergeInvoice: identifiers keep the stored values; the status only moves
// forward; the amounts paid and refunded and the attempt count only grow,
// and a full refund stays; what describes the invoice (amount due,
// currency, billing reason, collection method, hosted URL, period) is
// taken from a view at least as new as the stored one; a closed dispute
// stays closed.
func mergeInvoice(stored, in payflow.Invoice) payflow.Invoice {
	out := stored
	out.CustomerID = firstSet(stored.CustomerID, in.CustomerID)
	out.SubscriptionID = firstSet(stored.SubscriptionID, in.SubscriptionID)
	out.ChargeID = firstSet(stored.ChargeID, in.ChargeID)
	out.PaymentIntent = firstSet(stored.PaymentIntent, in.PaymentIntent)
	out.DisputeID = firstSet(stored.DisputeID, in.DisputeID)
	if invoiceRank(in.Status) > invoiceRank(stored.Status) {
		out.Status = in.Status
	}
	out.AmountPaid = max(stored.AmountPaid, in.AmountPaid)
	out.AmountRefunded = max(stored.AmountRefunded, in.AmountRefunded)
	out.AttemptCount = max(stored.AttemptCount, in.AttemptCount)
	out.FullyRefunded = stored.FullyRefunded || in.FullyRefunded
	if in.StripeCreated >= stored.StripeCreated {
		out.AmountDue = newer(stored.AmountDue, in.AmountDue)
		out.Currency = newer(stored.Currency, in.Currency)
		out.BillingReason = newer(stored.BillingReason, in.BillingReason)
		out.CollectionMethod = newer(stored.CollectionMethod, in.CollectionMethod)
		out.HostedURL = newer(stored.HostedURL, in.HostedURL)
		out.PeriodEnd = newer(stored.PeriodEnd, in.PeriodEnd)
		out.StripeCreated = in.StripeCreated
	} else {
		out.Currency = firstSet(stored.Currency, in.Currency)
	}
	if in.DisputeStatus != "" && !disputeClosed(stored.DisputeStatus) {
		out.DisputeStatus = in.DisputeStatus
	}
	return out
}

// UpsertInvoice merges the invoice into the stored one (mergeInvoice) and
// reports whether anything changed.
func (db *DB) UpsertInvoice(ctx context.Context, inv payflow.Invoice) (bool, error) {
	if inv.ID == "" {
		return false, errors.New("store: upsert invoice: empty ID")
	}
	inv.UpdatedAt = normTime(orNow(inv.UpdatedAt, time.Now()))
	var wrote bool
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		_, wrote, err = invoiceRows.upsert(ctx, db, tx, inv)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: upsert invoice %s: %w", inv.ID, err)
	}
	return wrote, nil
}

// GetInvoice returns the invoice, or payflow.ErrNotFound.
func (db *DB) GetInvoice(ctx context.Context, id string) (payflow.Invoice, error) {
	inv, err := invoiceRows.get(ctx, db, id)
	if err != nil {
		return payflow.Invoice{}, fmt.Errorf("store: get invoice %s: %w", id, err)
	}
	return inv, nil
}

// FindInvoiceByPayment returns the invoice the charge or the payment
// intent paid, or payflow.ErrNotFound. With both, a match on the charge
// comes first.
func (db *DB) FindInvoiceByPayment(ctx context.Context, chargeID, paymentIntent string) (payflow.Invoice, error) {
	if chargeID == "" && paymentIntent == "" {
		return payflow.Invoice{}, fmt.Errorf("store: find invoice: no charge or payment intent: %w", payflow.ErrNotFound)
	}
	inv, err := getOne(ctx, db.sql, invoiceRows.scan,
		`SELECT `+strings.Join(invoiceRows.columns, ", ")+` FROM invoices
		WHERE ($1 <> '' AND charge_id = $1) OR ($2 <> '' AND payment_intent = $2)
		ORDER BY CASE WHEN $1 <> '' AND charge_id = $1 THEN 0 ELSE 1 END, stripe_created DESC, id LIMIT 1`,
		chargeID, paymentIntent)
	if err != nil {
		return payflow.Invoice{}, fmt.Errorf("store: find invoice of charge %q / payment intent %q: %w", chargeID, paymentIntent, err)
	}
	return inv, nil
}

var subscriptionRows = rowKind[payflow.Subscription]{
	table: "subscriptions",
	columns: []string{"id", "customer_id", "status", "dunning_stage", "items", "current_period_end",
		"cancel_at_period_end", "stripe_created", "updated_at", "account"},
	keys: 1,
	values: func(db *DB, s payflow.Subscription) []any {
		return []any{s.ID, s.CustomerID, s.Status, s.DunningStage, jsonText(nonNil(s.Items)), s.CurrentPeriodEnd,
			s.CancelAtPeriodEnd, s.StripeCreated, db.ts(s.UpdatedAt), s.Account}
	},
	scan: func(r rowScanner) (payflow.Subscription, error) {
		var s payflow.Subscription
		err := r.Scan(&s.ID, &s.CustomerID, &s.Status, &s.DunningStage, jsonDest{&s.Items}, &s.CurrentPeriodEnd,
			&s.CancelAtPeriodEnd, &s.StripeCreated, timeCol(&s.UpdatedAt), &s.Account)
		s.Items = nilIfEmpty(s.Items)
		return s, err
	},
	merge: mergeSubscription,
	touch: func(s *payflow.Subscription, from payflow.Subscription) { s.UpdatedAt = from.UpdatedAt },
}

// mergeSubscription: a view older than the stored snapshot (by
// StripeCreated) changes nothing; a view at least as new replaces the
// stored one, except that what it lacks (the customer, a status or items
// before the first snapshot, the dunning stage) keeps the stored value.
func mergeSubscription(stored, in payflow.Subscription) payflow.Subscription {
	if in.StripeCreated < stored.StripeCreated {
		if stored.Account == "" && in.Account != "" {
			stored.Account = in.Account // the account is no snapshot's: never lost to ordering
		}
		return stored
	}
	out := stored
	out.CustomerID = firstSet(stored.CustomerID, in.CustomerID)
	out.Account = firstSet(stored.Account, in.Account)
	out.Status = newer(stored.Status, in.Status)
	out.DunningStage = newer(stored.DunningStage, in.DunningStage)
	if len(in.Items) > 0 {
		out.Items = slices.Clone(in.Items)
	}
	out.CurrentPeriodEnd = newer(stored.CurrentPeriodEnd, in.CurrentPeriodEnd)
	out.CancelAtPeriodEnd = in.CancelAtPeriodEnd
	out.StripeCreated = in.StripeCreated
	return out
}

// UpsertSubscription merges the subscription into the stored one
// (mergeSubscription) and reports whether anything changed.
func (db *DB) UpsertSubscription(ctx context.Context, s payflow.Subscription) (bool, error) {
	if s.ID == "" {
		return false, errors.New("store: upsert subscription: empty ID")
	}
	s.UpdatedAt = normTime(orNow(s.UpdatedAt, time.Now()))
	s.Items = nilIfEmpty(s.Items)
	var wrote bool
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		_, wrote, err = subscriptionRows.upsert(ctx, db, tx, s)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: upsert subscription %s: %w", s.ID, err)
	}
	return wrote, nil
}

// GetSubscription returns the subscription, or payflow.ErrNotFound.
func (db *DB) GetSubscription(ctx context.Context, id string) (payflow.Subscription, error) {
	s, err := subscriptionRows.get(ctx, db, id)
	if err != nil {
		return payflow.Subscription{}, fmt.Errorf("store: get subscription %s: %w", id, err)
	}
	return s, nil
}

var refundRows = rowKind[payflow.Refund]{
	table: "refunds",
	columns: []string{"source", "invoice_id", "charge_id", "amount_refunded", "currency", "fully_refunded",
		"event_id", "stripe_created", "updated_at"},
	keys: 3,
	values: func(db *DB, r payflow.Refund) []any {
		return []any{r.Source, r.InvoiceID, r.ChargeID, r.AmountRefunded, r.Currency, r.Full,
			r.EventID, r.StripeCreated, db.ts(r.UpdatedAt)}
	},
	scan: func(rs rowScanner) (payflow.Refund, error) {
		var r payflow.Refund
		err := rs.Scan(&r.Source, &r.InvoiceID, &r.ChargeID, &r.AmountRefunded, &r.Currency, &r.Full,
			&r.EventID, &r.StripeCreated, timeCol(&r.UpdatedAt))
		return r, err
	},
	merge: func(stored, in payflow.Refund) payflow.Refund {
		out := stored
		out.AmountRefunded = max(stored.AmountRefunded, in.AmountRefunded)
		out.Full = stored.Full || in.Full
		out.Currency = firstSet(stored.Currency, in.Currency)
		if in.StripeCreated > stored.StripeCreated && in.AmountRefunded >= stored.AmountRefunded {
			out.EventID, out.StripeCreated = newer(stored.EventID, in.EventID), in.StripeCreated
		}
		return out
	},
	touch: func(r *payflow.Refund, from payflow.Refund) { r.UpdatedAt = from.UpdatedAt },
}

// RecordRefund records one observation of a charge's refunds: the
// cumulative amount only grows and a full refund stays full, whatever
// order the observations arrive in; event_id and stripe_created name the
// newest event that reported the amount. It reports whether the row
// changed.
func (db *DB) RecordRefund(ctx context.Context, r payflow.Refund) (bool, error) {
	if r.Source == "" || (r.InvoiceID == "" && r.ChargeID == "") {
		return false, fmt.Errorf("store: record refund: need a source and an invoice or charge (got %q, %q, %q)", r.Source, r.InvoiceID, r.ChargeID)
	}
	r.UpdatedAt = normTime(orNow(r.UpdatedAt, time.Now()))
	var wrote bool
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		_, wrote, err = refundRows.upsert(ctx, db, tx, r)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: record refund of %s: %w", r.Source, err)
	}
	return wrote, nil
}

var disputeRows = rowKind[payflow.Dispute]{
	table: "disputes",
	columns: []string{"id", "charge_id", "payment_intent", "invoice_id", "customer_id", "owner", "amount", "currency",
		"reason", "status", "evidence_due_by", "funds_withdrawn", "funds_reinstated", "stripe_created", "updated_at"},
	keys: 1,
	values: func(db *DB, d payflow.Dispute) []any {
		return []any{d.ID, d.ChargeID, d.PaymentIntent, d.InvoiceID, d.CustomerID, d.Owner, d.Amount, d.Currency,
			d.Reason, d.Status, d.EvidenceDueBy, d.FundsWithdrawn, d.FundsReinstated, d.StripeCreated, db.ts(d.UpdatedAt)}
	},
	scan: func(r rowScanner) (payflow.Dispute, error) {
		var d payflow.Dispute
		err := r.Scan(&d.ID, &d.ChargeID, &d.PaymentIntent, &d.InvoiceID, &d.CustomerID, &d.Owner, &d.Amount, &d.Currency,
			&d.Reason, &d.Status, &d.EvidenceDueBy, &d.FundsWithdrawn, &d.FundsReinstated, &d.StripeCreated, timeCol(&d.UpdatedAt))
		return d, err
	},
	merge: mergeDispute,
	touch: func(d *payflow.Dispute, from payflow.Dispute) { d.UpdatedAt = from.UpdatedAt },
}

// mergeDispute: identifiers and the owner keep the stored values; the
// funds flags never revert; the rest comes from a view at least as new as
// the stored one (StripeCreated), and a closed dispute never reopens.
func mergeDispute(stored, in payflow.Dispute) payflow.Dispute {
	out := stored
	out.ChargeID = firstSet(stored.ChargeID, in.ChargeID)
	out.PaymentIntent = firstSet(stored.PaymentIntent, in.PaymentIntent)
	out.InvoiceID = firstSet(stored.InvoiceID, in.InvoiceID)
	out.CustomerID = firstSet(stored.CustomerID, in.CustomerID)
	out.Owner = firstSet(stored.Owner, in.Owner)
	out.FundsWithdrawn = stored.FundsWithdrawn || in.FundsWithdrawn
	out.FundsReinstated = stored.FundsReinstated || in.FundsReinstated
	if in.StripeCreated >= stored.StripeCreated {
		out.Amount = newer(stored.Amount, in.Amount)
		out.Currency = newer(stored.Currency, in.Currency)
		out.Reason = newer(stored.Reason, in.Reason)
		out.EvidenceDueBy = newer(stored.EvidenceDueBy, in.EvidenceDueBy)
		if !disputeClosed(stored.Status) {
			out.Status = newer(stored.Status, in.Status)
		}
		out.StripeCreated = in.StripeCreated
	} else if disputeClosed(in.Status) && !disputeClosed(stored.Status) {
		out.Status = in.Status // a close is final whenever it is learnt
	}
	return out
}

// UpsertDispute merges the dispute into the stored one (mergeDispute) and
// reports whether anything changed.
func (db *DB) UpsertDispute(ctx context.Context, d payflow.Dispute) (bool, error) {
	if d.ID == "" {
		return false, errors.New("store: upsert dispute: empty ID")
	}
	d.UpdatedAt = normTime(orNow(d.UpdatedAt, time.Now()))
	var wrote bool
	err := db.inTx(ctx, func(tx *sql.Tx) (err error) {
		_, wrote, err = disputeRows.upsert(ctx, db, tx, d)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: upsert dispute %s: %w", d.ID, err)
	}
	return wrote, nil
}

// GetDispute returns the dispute, or payflow.ErrNotFound.
func (db *DB) GetDispute(ctx context.Context, id string) (payflow.Dispute, error) {
	d, err := disputeRows.get(ctx, db, id)
	if err != nil {
		return payflow.Dispute{}, fmt.Errorf("store: get dispute %s: %w", id, err)
	}
	return d, nil
}
