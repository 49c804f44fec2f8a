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

// orderRank orders the statuses an order moves through: a write never
// moves an order back (a late or retried record of an earlier view), and
// of two statuses of one rank the stored one stays.
func orderRank(status string) int {
	switch status {
	case payflow.OrderReceived, payflow.OrderPending, "":
		return 0
	case payflow.OrderAwaitingPayment:
		return 1
	case payflow.OrderFailed:
		return 2
	case payflow.OrderCanceled, payflow.OrderExpired, payflow.OrderAsyncFailed:
		return 3
	case payflow.OrderFulfilled:
		return 4
	case payflow.OrderPartiallyRefunded:
		return 5
	case payflow.OrderDisputed:
		return 6
	case payflow.OrderRefunded:
		return 7
	}
	return 0
}

// orderPaid reports the statuses of a paid order.
func orderPaid(status string) bool { return orderRank(status) >= orderRank(payflow.OrderFulfilled) }

var orderRows = rowKind[payflow.Order]{
	table: "orders",
	columns: []string{"id", "customer_id", "email", "payment_intent", "checkout_id", "charge_id", "products",
		"amount", "amount_refunded", "currency", "status", "failure_reason", "created_at", "fulfilled_at", "updated_at"},
	keys: 1,
	values: func(db *DB, o payflow.Order) []any {
		return []any{o.ID, o.CustomerID, o.Email, o.PaymentIntent, o.CheckoutID, o.ChargeID, jsonText(nonNil(o.Products)),
			o.Amount, o.AmountRefunded, o.Currency, o.Status, o.FailureReason,
			db.ts(o.CreatedAt), db.nullTS(o.FulfilledAt), db.ts(o.UpdatedAt)}
	},
	scan:  scanOrder,
	merge: mergeOrder,
	touch: func(o *payflow.Order, from payflow.Order) { o.UpdatedAt = from.UpdatedAt },
}

func scanOrder(r rowScanner) (payflow.Order, error) {
	var o payflow.Order
	err := r.Scan(&o.ID, &o.CustomerID, &o.Email, &o.PaymentIntent, &o.CheckoutID, &o.ChargeID, jsonDest{&o.Products},
		&o.Amount, &o.AmountRefunded, &o.Currency, &o.Status, &o.FailureReason,
		timeCol(&o.CreatedAt), nullTimeCol(&o.FulfilledAt), timeCol(&o.UpdatedAt))
	o.Products = nilIfEmpty(o.Products)
	if len(o.Products) > 0 {
		o.ProductID = o.Products[0]
	}
	return o, err
}

// mergeOrder: identifiers, email and currency keep the stored values; the
// products, the amount and the failure reason are the newest known; the
// status only moves forward, the refunded amount only grows, and the
// fulfilment time is the first.
func mergeOrder(stored, in payflow.Order) payflow.Order {
	out := stored
	out.CustomerID = firstSet(stored.CustomerID, in.CustomerID)
	out.Email = firstSet(stored.Email, in.Email)
	out.PaymentIntent = firstSet(stored.PaymentIntent, in.PaymentIntent)
	out.CheckoutID = firstSet(stored.CheckoutID, in.CheckoutID)
	out.ChargeID = firstSet(stored.ChargeID, in.ChargeID)
	out.Currency = firstSet(stored.Currency, in.Currency)
	if len(in.Products) > 0 {
		out.Products = slices.Clone(in.Products)
		out.ProductID = in.Products[0]
	}
	out.Amount = newer(stored.Amount, in.Amount)
	out.FailureReason = newer(stored.FailureReason, in.FailureReason)
	out.AmountRefunded = max(stored.AmountRefunded, in.AmountRefunded)
	if orderRank(in.Status) > orderRank(stored.Status) {
		out.Status = in.Status
	}
	if out.FulfilledAt == nil && orderPaid(out.Status) {
		out.FulfilledAt = in.FulfilledAt
	}
	return out
}

// UpsertOrder writes the order (see payflow.Store): a new order is
// inserted as given (an empty status reads received); an existing one is
// merged (mergeOrder). fulfilled reports that this call moved the order to
// a paid status for the first time, which stamps fulfilled_at with
// o.FulfilledAt, or o.UpdatedAt, or now.
func (db *DB) UpsertOrder(ctx context.Context, o payflow.Order) (payflow.Order, bool, error) {
	if o.ID == "" {
		return payflow.Order{}, false, errors.New("store: upsert order: empty ID")
	}
	now := normTime(time.Now())
	o.Status = newer(payflow.OrderReceived, o.Status)
	o.Products = sortedSet(o.Products)
	o.CreatedAt = normTime(orNow(o.CreatedAt, now))
	o.UpdatedAt = normTime(orNow(o.UpdatedAt, now))
	if !orderPaid(o.Status) {
		o.FulfilledAt = nil
	} else {
		at := o.UpdatedAt
		if o.FulfilledAt != nil {
			at = normTime(*o.FulfilledAt)
		}
		o.FulfilledAt = &at
	}
	var stored payflow.Order
	var before *time.Time
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		prev, err := scanOrder(tx.QueryRowContext(ctx, orderRows.selectSQL(db.dialect.forUpdate), o.ID))
		switch {
		case err == nil:
			before = prev.FulfilledAt
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		stored, _, err = orderRows.upsert(ctx, db, tx, o)
		return err
	})
	if err != nil {
		return payflow.Order{}, false, fmt.Errorf("store: upsert order %s: %w", o.ID, err)
	}
	return stored, before == nil && stored.FulfilledAt != nil, nil
}

// GetOrder returns the order, or payflow.ErrNotFound.
func (db *DB) GetOrder(ctx context.Context, id string) (payflow.Order, error) {
	o, err := orderRows.get(ctx, db, id)
	if err != nil {
		return payflow.Order{}, fmt.Errorf("store: get order %s: %w", id, err)
	}
	return o, nil
}

// FindOrderByPayment returns the order the charge or the payment intent
// paid — an order whose ID, payment_intent or charge_id matches — or
// payflow.ErrNotFound. With both, a match on the charge comes first.
func (db *DB) FindOrderByPayment(ctx context.Context, chargeID, paymentIntent string) (payflow.Order, error) {
	if chargeID == "" && paymentIntent == "" {
		return payflow.Order{}, fmt.Errorf("store: find order: no charge or payment intent: %w", payflow.ErrNotFound)
	}
	o, err := getOne(ctx, db.sql, scanOrder,
		`SELECT `+strings.Join(orderRows.columns, ", ")+` FROM orders
		WHERE ($1 <> '' AND charge_id = $1) OR ($2 <> '' AND (payment_intent = $2 OR id = $2))
		ORDER BY CASE WHEN $1 <> '' AND charge_id = $1 THEN 0 ELSE 1 END, created_at, id LIMIT 1`,
		chargeID, paymentIntent)
	if err != nil {
		return payflow.Order{}, fmt.Errorf("store: find order of charge %q / payment intent %q: %w", chargeID, paymentIntent, err)
	}
	return o, nil
}

// sortedSet returns the distinct non-empty values, sorted; nil for none.
func sortedSet(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return nilIfEmpty(slices.Compact(out))
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
