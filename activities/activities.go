// Package activities holds every side effect payflow has: database writes,
// email, provisioning calls and Stripe API calls. Each activity is
// idempotent: run twice, it has one effect (unique keys in the database, an
// email ledger, Stripe idempotency keys, stable provisioning event IDs).
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/payflow/payflow"
)

// Activities is registered with the worker; its exported methods are the
// activities, named after the method in the Temporal UI.
type Activities struct {
	Store       payflow.Store
	Mailer      Mailer       // nil: emails go to the local outbox only
	Stripe      *StripeAPI   // nil: no Stripe API key configured
	Provisioner *Provisioner // nil: no PROVISIONING_WEBHOOK_URL
	Policy      DunningPolicy
	AlertEmail  string
	Metrics     *Metrics
	Log         *slog.Logger
	Now         func() time.Time // for tests; nil means time.Now

	// sent remembers, in this process, emails the provider accepted whose
	// ledger row is not finished yet (email.go).
	sent sendMemo
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

func (a *Activities) logger(ctx context.Context) *slog.Logger {
	l := a.Log
	if l == nil {
		l = slog.Default()
	}
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		l = l.With("workflow_id", info.WorkflowExecution.ID, "activity", info.ActivityType.Name, "attempt", info.Attempt)
	}
	return l
}

// invalid marks an input error no retry can fix.
func invalid(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), "InvalidInput", nil)
}

// RecordEvent writes the event to the ledger of applied events. It returns
// false when another workflow run applied it before: a duplicate delivery
// that arrived after Temporal's retention dropped the run that handled it.
func (a *Activities) RecordEvent(ctx context.Context, ev payflow.Event) (bool, error) {
	if ev.ID == "" {
		return false, invalid("event without ID")
	}
	owner := ""
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		owner = info.WorkflowExecution.ID + "@" + info.WorkflowExecution.RunID
	}
	fresh, err := a.Store.MarkEventApplied(ctx, payflow.AppliedEvent{
		EventID: ev.ID, Type: ev.Type, ObjectID: ev.ObjectID, Created: ev.Created, Owner: owner, AppliedAt: a.now(),
	})
	if err != nil {
		return false, fmt.Errorf("record event %s: %w", ev.ID, err)
	}
	return fresh, nil
}

// OrderRecord is what the order workflow knows of an order.
type OrderRecord struct {
	OrderID    string `json:"order_id"`
	CustomerID string `json:"customer_id,omitempty"`
	Email      string `json:"email,omitempty"`
	CheckoutID string `json:"checkout_id,omitempty"`
	ChargeID   string `json:"charge_id,omitempty"`
	ProductID  string `json:"product_id,omitempty"`
	Amount     int64  `json:"amount"`
	Currency   string `json:"currency,omitempty"`
	Status     string `json:"status"`
	Reason     string `json:"reason,omitempty"`
}

// RecordOrder creates the order if it is new and moves it to the given
// status. An order that is already fulfilled stays fulfilled unless the new
// status is a refund or dispute, and refunded, disputed, canceled and
// expired orders stay as they are (statuses only move forward).
func (a *Activities) RecordOrder(ctx context.Context, r OrderRecord) (payflow.Order, error) {
	if r.OrderID == "" {
		return payflow.Order{}, invalid("order without ID")
	}
	now := a.now()
	if r.CustomerID != "" {
		if err := a.Store.UpsertCustomer(ctx, payflow.Customer{ID: r.CustomerID, Email: r.Email, UpdatedAt: now}); err != nil {
			return payflow.Order{}, fmt.Errorf("record customer %s: %w", r.CustomerID, err)
		}
	}
	stored, err := a.Store.CreateOrder(ctx, payflow.Order{
		ID: r.OrderID, CustomerID: r.CustomerID, Email: r.Email, CheckoutID: r.CheckoutID, ChargeID: r.ChargeID,
		ProductID: r.ProductID, Amount: r.Amount, Currency: r.Currency, Status: payflow.OrderPending,
		CreatedAt: now, UpdatedAt: now,
	})
	if err != nil {
		return payflow.Order{}, fmt.Errorf("record order %s: %w", r.OrderID, err)
	}
	if r.Status == "" || r.Status == stored.Status || !orderMayMove(stored.Status, r.Status) {
		return stored, nil
	}
	updated, err := a.Store.UpdateOrderStatus(ctx, r.OrderID, r.Status, r.Reason, now)
	if err != nil {
		return payflow.Order{}, fmt.Errorf("order %s to %s: %w", r.OrderID, r.Status, err)
	}
	if r.Status == payflow.OrderFulfilled && a.Metrics != nil {
		a.Metrics.OrdersFulfilled.Inc()
	}
	return updated, nil
}

func orderMayMove(from, to string) bool {
	switch from {
	case payflow.OrderFulfilled:
		return to == payflow.OrderRefunded || to == payflow.OrderDisputed
	case payflow.OrderRefunded, payflow.OrderDisputed, payflow.OrderCanceled, payflow.OrderExpired:
		return false // final (a dispute is recorded when it is lost: the money is gone)
	}
	return true
}

// LoadOrder returns the stored order, or nil when there is none.
func (a *Activities) LoadOrder(ctx context.Context, orderID string) (*payflow.Order, error) {
	o, err := a.Store.GetOrder(ctx, orderID)
	if errors.Is(err, payflow.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load order %s: %w", orderID, err)
	}
	return &o, nil
}

// AccessChange grants, suspends or revokes a customer's access to a product.
type AccessChange struct {
	CustomerID string     `json:"customer_id"`
	ProductID  string     `json:"product_id"`
	Status     string     `json:"status"` // payflow.AccessGranted, AccessSuspended, AccessRevoked
	Source     string     `json:"source"` // the workflow ID that decides
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	Reason     string     `json:"reason,omitempty"`
}

// SetAccess writes the entitlement and, when a provisioning URL is set,
// tells the merchant's app. The app receives the same event ID for the same
// change every time, so a retried activity is a duplicate it can drop.
func (a *Activities) SetAccess(ctx context.Context, ch AccessChange) error {
	if ch.CustomerID == "" || ch.ProductID == "" {
		return invalid("access change needs a customer and a product (got %q, %q)", ch.CustomerID, ch.ProductID)
	}
	switch ch.Status {
	case payflow.AccessGranted, payflow.AccessSuspended, payflow.AccessRevoked:
	default: // the store refuses it on every attempt: don't retry forever
		return invalid("access change %s/%s: unknown status %q", ch.CustomerID, ch.ProductID, ch.Status)
	}
	now := a.now()
	e := payflow.Entitlement{CustomerID: ch.CustomerID, ProductID: ch.ProductID, Status: ch.Status,
		Source: ch.Source, ValidUntil: ch.ValidUntil, UpdatedAt: now}
	changed, err := a.Store.SetEntitlement(ctx, e)
	if err != nil {
		return fmt.Errorf("set access %s/%s to %s: %w", ch.CustomerID, ch.ProductID, ch.Status, err)
	}
	a.logger(ctx).Info("access", "customer_id", ch.CustomerID, "product", ch.ProductID, "status", ch.Status, "changed", changed)
	if a.Provisioner == nil {
		return nil
	}
	return a.Provisioner.Send(ctx, ch)
}

// SubscriptionRecord is a subscription snapshot plus payflow's dunning stage.
type SubscriptionRecord struct {
	SubscriptionID    string `json:"subscription_id"`
	CustomerID        string `json:"customer_id"`
	Email             string `json:"email,omitempty"`
	Status            string `json:"status"`
	DunningStage      string `json:"dunning_stage"`
	CurrentPeriodEnd  int64  `json:"current_period_end"`
	CancelAtPeriodEnd bool   `json:"cancel_at_period_end"`
	StripeCreated     int64  `json:"stripe_created"`
}

// RecordSubscription writes the snapshot unless a newer one is stored.
func (a *Activities) RecordSubscription(ctx context.Context, r SubscriptionRecord) (bool, error) {
	now := a.now()
	if r.CustomerID != "" {
		if err := a.Store.UpsertCustomer(ctx, payflow.Customer{ID: r.CustomerID, Email: r.Email, UpdatedAt: now}); err != nil {
			return false, fmt.Errorf("record customer %s: %w", r.CustomerID, err)
		}
	}
	wrote, err := a.Store.UpsertSubscription(ctx, payflow.Subscription{
		ID: r.SubscriptionID, CustomerID: r.CustomerID, Status: r.Status, DunningStage: r.DunningStage,
		CurrentPeriodEnd: r.CurrentPeriodEnd, CancelAtPeriodEnd: r.CancelAtPeriodEnd, StripeCreated: r.StripeCreated,
		UpdatedAt: now,
	})
	if err != nil {
		return false, fmt.Errorf("record subscription %s: %w", r.SubscriptionID, err)
	}
	return wrote, nil
}

// InvoiceRecord is one invoice's payment state.
type InvoiceRecord struct {
	InvoiceID      string `json:"invoice_id"`
	CustomerID     string `json:"customer_id"`
	SubscriptionID string `json:"subscription_id"`
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency"`
	Status         string `json:"status"`
	StripeCreated  int64  `json:"stripe_created"`
}

// RecordInvoice writes the invoice unless a newer snapshot is stored.
func (a *Activities) RecordInvoice(ctx context.Context, r InvoiceRecord) (bool, error) {
	wrote, err := a.Store.UpsertInvoice(ctx, payflow.Invoice{
		ID: r.InvoiceID, CustomerID: r.CustomerID, SubscriptionID: r.SubscriptionID, Amount: r.Amount,
		Currency: r.Currency, Status: r.Status, StripeCreated: r.StripeCreated, UpdatedAt: a.now(),
	})
	if err != nil {
		return false, fmt.Errorf("record invoice %s: %w", r.InvoiceID, err)
	}
	return wrote, nil
}

// RecordDispute writes the dispute unless a newer snapshot is stored.
func (a *Activities) RecordDispute(ctx context.Context, d payflow.Dispute) (bool, error) {
	d.UpdatedAt = a.now()
	wrote, err := a.Store.UpsertDispute(ctx, d)
	if err != nil {
		return false, fmt.Errorf("record dispute %s: %w", d.ID, err)
	}
	return wrote, nil
}

// FindOrderByCharge returns the order a charge paid for, or nil.
func (a *Activities) FindOrderByCharge(ctx context.Context, chargeID, paymentIntent string) (*payflow.Order, error) {
	if paymentIntent != "" {
		if o, err := a.LoadOrder(ctx, paymentIntent); err != nil || o != nil {
			return o, err
		}
	}
	if chargeID == "" {
		return nil, nil
	}
	o, err := a.Store.GetOrderByCharge(ctx, chargeID)
	if errors.Is(err, payflow.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find order of charge %s: %w", chargeID, err)
	}
	return &o, nil
}

// FormatAmount renders minor units as "12.34 USD" for emails ("1234 JPY"
// for zero-decimal, "1.234 KWD" for three-decimal currencies).
func FormatAmount(amount int64, currency string) string {
	return payflow.FormatAmount(amount, currency)
}
