// Package activities holds every side effect payflow has: database writes,
// email, provisioning calls and Stripe API calls. There is one activity per
// command of the billing core (billing.Command), named after it and taking
// the command as it is; the core decides, the activities only carry out.
// Each activity is idempotent: run twice, it has one effect (merge-upserts
// that never go backwards, an email ledger, Stripe idempotency keys, stable
// provisioning event IDs).
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/internal/portallink"
	"github.com/payflow/payflow/internal/tracelog"
)

// Activities is registered with the worker; its exported methods are the
// activities, named after the method in the Temporal UI.
type Activities struct {
	Store       payflow.Store
	Mailer      Mailer       // nil: emails go to the local outbox only
	Stripe      *StripeAPI   // nil: no Stripe API key configured
	Provisioner *Provisioner // nil: no PROVISIONING_WEBHOOK_URL
	// PortalLinks signs the billing portal links of dunning emails
	// (portal.go); nil: PAYFLOW_PUBLIC_URL & co. not configured, no links.
	PortalLinks *portallink.Links
	// Policy is the dunning policy a new campaign adopts (config's
	// DUNNING_* variables); the zero value means billing.DefaultPolicy().
	Policy     billing.Policy
	AlertEmail string
	// Email: the brand, support address and SendGrid templates of emails
	// (email.go); the zero value sends payflow's own messages unbranded.
	Email EmailSettings
	// Temporal and TaskQueue let NotifyOwner (notify.go) signal, or start,
	// the workflow that owns a disputed payment.
	Temporal  client.Client
	TaskQueue string
	Metrics   *Metrics
	Log       *slog.Logger
	Now       func() time.Time // for tests; nil means time.Now

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
	// The activity's span (RunActivity, when tracing is on): its trace is
	// the webhook request's.
	return tracelog.With(l, ctx)
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

// GetDunningPolicy hands the worker's configured policy to a workflow when
// a campaign starts; the campaign keeps its copy (hard-decline codes
// included), so changing the configuration or a deploy never changes a
// campaign already running.
func (a *Activities) GetDunningPolicy(ctx context.Context) (billing.Policy, error) {
	p := a.Policy
	if p.Mode == "" {
		return billing.DefaultPolicy(), nil
	}
	p.RetryDelays = slices.Clone(p.RetryDelays)
	p.HardDeclines = slices.Clone(p.HardDeclines)
	if p.HardDeclines == nil {
		p.HardDeclines = billing.DefaultHardDeclines()
	}
	if err := p.Validate(); err != nil {
		return billing.Policy{}, invalid("dunning policy: %v", err)
	}
	return p, nil
}

// upsertCustomer records the customer a command names (with its address,
// when the command has one), so `payflow inspect` knows the customer.
func (a *Activities) upsertCustomer(ctx context.Context, customerID, email string) error {
	if customerID == "" {
		return nil
	}
	if err := a.Store.UpsertCustomer(ctx, payflow.Customer{ID: customerID, Email: email, UpdatedAt: a.now()}); err != nil {
		return fmt.Errorf("record customer %s: %w", customerID, err)
	}
	return nil
}

// RecordOrder writes the order row. The store merges it with what is
// stored: the status only moves forward, the refunded amount only grows,
// identifiers are never replaced, so a retried or late record never undoes
// a newer one.
func (a *Activities) RecordOrder(ctx context.Context, r billing.RecordOrder) error {
	if r.OrderID == "" {
		return invalid("order without ID")
	}
	if err := a.upsertCustomer(ctx, r.CustomerID, r.Email); err != nil {
		return err
	}
	now := a.now()
	stored, fulfilled, err := a.Store.UpsertOrder(ctx, payflow.Order{
		ID: r.OrderID, CustomerID: r.CustomerID, Email: r.Email, PaymentIntent: r.PaymentIntent, CheckoutID: r.CheckoutID,
		ChargeID: r.ChargeID, Products: r.Products, Amount: r.Amount, AmountRefunded: r.AmountRefunded, Currency: r.Currency,
		Status: r.Status, FailureReason: r.Reason, CreatedAt: now, UpdatedAt: now,
	})
	if err != nil {
		return fmt.Errorf("record order %s: %w", r.OrderID, err)
	}
	if fulfilled && a.Metrics != nil {
		a.Metrics.OrdersFulfilled.Inc()
	}
	if stored.Status != r.Status {
		a.logger(ctx).Info("order keeps a later status", "order", r.OrderID, "stored", stored.Status, "recorded", r.Status)
	}
	return nil
}

// LoadOrder returns the stored order, or nil when there is none; a later
// run of an order workflow (a refund or dispute weeks after the payment)
// seeds its state from it (billing.OrderFromRecord).
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

// RecordSubscription writes the subscription row (status, dunning stage,
// items) unless a newer snapshot is stored.
func (a *Activities) RecordSubscription(ctx context.Context, r billing.RecordSubscription) error {
	if r.SubscriptionID == "" {
		return invalid("subscription without ID")
	}
	if err := a.upsertCustomer(ctx, r.CustomerID, r.Email); err != nil {
		return err
	}
	items := make([]payflow.SubscriptionItem, 0, len(r.Items))
	for _, it := range r.Items {
		items = append(items, payflow.SubscriptionItem{ID: it.ID, PriceID: it.PriceID, ProductID: it.ProductID, Quantity: it.Quantity})
	}
	if _, err := a.Store.UpsertSubscription(ctx, payflow.Subscription{
		ID: r.SubscriptionID, CustomerID: r.CustomerID, Status: r.Status, DunningStage: r.DunningStage, Items: items,
		CurrentPeriodEnd: r.CurrentPeriodEnd, CancelAtPeriodEnd: r.CancelAtPeriodEnd, StripeCreated: r.StripeCreated,
		UpdatedAt: a.now(), Account: AccountOf(ctx),
	}); err != nil {
		return fmt.Errorf("record subscription %s: %w", r.SubscriptionID, err)
	}
	return nil
}

// RecordInvoice writes one invoice's row; its status never moves back and
// its amounts paid and refunded never shrink.
func (a *Activities) RecordInvoice(ctx context.Context, r billing.RecordInvoice) error {
	if r.ID == "" {
		return invalid("invoice without ID")
	}
	if err := a.upsertCustomer(ctx, r.CustomerID, ""); err != nil {
		return err
	}
	inv := payflow.Invoice{
		ID: r.ID, CustomerID: r.CustomerID, SubscriptionID: r.SubscriptionID, Status: r.Status,
		AmountDue: r.AmountDue, AmountPaid: r.AmountPaid, AmountRefunded: r.AmountRefunded, FullyRefunded: r.FullyRefunded,
		Currency: r.Currency, AttemptCount: r.AttemptCount, BillingReason: r.BillingReason,
		CollectionMethod: r.CollectionMethod, HostedURL: r.HostedURL, PeriodEnd: r.PeriodEnd, ChargeID: r.ChargeID,
		StripeCreated: r.StripeCreated, UpdatedAt: a.now(),
	}
	if r.Dispute != nil {
		inv.DisputeID, inv.DisputeStatus = r.Dispute.ID, r.Dispute.Status
	}
	if _, err := a.Store.UpsertInvoice(ctx, inv); err != nil {
		return fmt.Errorf("record invoice %s: %w", r.ID, err)
	}
	return nil
}

// RecordRefund records one observation of a charge's refunds against the
// order or subscription invoice it belongs to (the amount is Stripe's
// cumulative amount_refunded, so observations in any order end the same).
func (a *Activities) RecordRefund(ctx context.Context, r billing.RecordRefund) error {
	if r.Source == "" || (r.InvoiceID == "" && r.ChargeID == "") {
		return invalid("refund needs a source and an invoice or a charge (got %q, %q, %q)", r.Source, r.InvoiceID, r.ChargeID)
	}
	if _, err := a.Store.RecordRefund(ctx, payflow.Refund{
		Source: r.Source, InvoiceID: r.InvoiceID, ChargeID: r.ChargeID, AmountRefunded: r.AmountRefunded,
		Currency: r.Currency, Full: r.Full, EventID: r.EventID, StripeCreated: r.StripeCreated, UpdatedAt: a.now(),
	}); err != nil {
		return fmt.Errorf("record refund of %s: %w", r.Source, err)
	}
	return nil
}

// RecordDispute writes the dispute row unless a newer snapshot is stored;
// funds_withdrawn and funds_reinstated never revert.
func (a *Activities) RecordDispute(ctx context.Context, r billing.RecordDispute) error {
	if r.DisputeID == "" {
		return invalid("dispute without ID")
	}
	if err := a.upsertCustomer(ctx, r.CustomerID, ""); err != nil {
		return err
	}
	if _, err := a.Store.UpsertDispute(ctx, payflow.Dispute{
		ID: r.DisputeID, ChargeID: r.ChargeID, PaymentIntent: r.PaymentIntent, InvoiceID: r.InvoiceID,
		CustomerID: r.CustomerID, Owner: r.Owner, Amount: r.Amount, Currency: r.Currency, Reason: r.Reason,
		Status: r.Status, EvidenceDueBy: r.EvidenceDueBy, FundsWithdrawn: r.FundsWithdrawn,
		FundsReinstated: r.FundsReinstated, StripeCreated: r.StripeCreated, UpdatedAt: a.now(),
	}); err != nil {
		return fmt.Errorf("record dispute %s: %w", r.DisputeID, err)
	}
	return nil
}
