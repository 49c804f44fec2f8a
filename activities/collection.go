package activities

import (
	"context"
	"errors"
	"net/http"

	"github.com/stripe/stripe-go/v76"

	"github.com/payflow/payflow/billing"
)

// Who collects an invoice, and the final actions unpaid and none, in
// Stripe (billing/takeover.go decides; these only call Stripe).

// SetAutoAdvance turns Stripe's automatic collection of an open invoice
// off (payflow takes it over) or back on (hands it back).
func (s *StripeAPI) SetAutoAdvance(ctx context.Context, invoiceID string, on bool, idempotencyKey string) error {
	p := &stripe.InvoiceParams{AutoAdvance: stripe.Bool(on)}
	prepare(ctx, &p.Params, idempotencyKey)
	if _, err := s.api.Invoices.Update(invoiceID, p); err != nil {
		return classify("update invoice "+invoiceID+" auto_advance", err)
	}
	return nil
}

// InvoiceStatus reads an invoice's status ("paid" when Stripe says paid).
func (s *StripeAPI) InvoiceStatus(ctx context.Context, invoiceID string) (string, error) {
	p := &stripe.InvoiceParams{}
	prepare(ctx, &p.Params, "")
	inv, err := s.api.Invoices.Get(invoiceID, p)
	if err != nil {
		return "", classify("get invoice "+invoiceID, err)
	}
	if inv.Paid {
		return billing.InvoicePaid, nil
	}
	return string(inv.Status), nil
}

// MarkUncollectible marks an open invoice uncollectible.
func (s *StripeAPI) MarkUncollectible(ctx context.Context, invoiceID, idempotencyKey string) error {
	p := &stripe.InvoiceMarkUncollectibleParams{}
	prepare(ctx, &p.Params, idempotencyKey)
	if _, err := s.api.Invoices.MarkUncollectible(invoiceID, p); err != nil {
		return classify("mark invoice "+invoiceID+" uncollectible", err)
	}
	return nil
}

// PauseCollection sets the subscription's pause_collection[behavior];
// behavior "" unsets it (collection resumes).
func (s *StripeAPI) PauseCollection(ctx context.Context, subscriptionID, behavior, idempotencyKey string) error {
	p := &stripe.SubscriptionParams{}
	if behavior == "" {
		p.AddExtra("pause_collection", "") // Stripe unsets a field sent empty
	} else {
		p.PauseCollection = &stripe.SubscriptionPauseCollectionParams{Behavior: stripe.String(behavior)}
	}
	prepare(ctx, &p.Params, idempotencyKey)
	if _, err := s.api.Subscriptions.Update(subscriptionID, p); err != nil {
		return classify("update subscription "+subscriptionID+" pause_collection", err)
	}
	return nil
}

// refusedFor reports a request Stripe refused for good (see classify).
func refusedFor(err error) (string, bool) {
	var se *stripe.Error
	if errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 &&
		se.HTTPStatusCode != http.StatusTooManyRequests && se.HTTPStatusCode != http.StatusConflict {
		return se.Msg, true
	}
	return "", false
}

// settled reports an invoice status no automatic collection applies to.
func settled(status string) bool {
	return status == billing.InvoicePaid || status == billing.InvoiceVoid || status == billing.InvoiceUncollectible
}

// TakeOverInvoice turns off Stripe's automatic collection (Smart Retries
// included) of the invoice a payflow-mode campaign retries, so payflow is
// the only one charging it. A refusal is an answer, not an error: the core
// falls the campaign back to stripe mode and alerts (billing.ApplyTakeover);
// when Stripe refused because the invoice is no longer open, its status
// comes back so the core settles the campaign. Without a Stripe key
// nothing is asked (Skipped).
func (a *Activities) TakeOverInvoice(ctx context.Context, r billing.TakeOverInvoice) (billing.TakeoverResult, error) {
	out := billing.TakeoverResult{InvoiceID: r.InvoiceID}
	if r.InvoiceID == "" || r.IdempotencyKey == "" {
		return out, invalid("take over invoice needs an invoice and an idempotency key (got %q, %q)", r.InvoiceID, r.IdempotencyKey)
	}
	if a.Stripe == nil {
		a.logger(ctx).Warn("invoice not taken over", "invoice", r.InvoiceID, "reason", errNoStripe)
		out.Skipped = true
		return out, nil
	}
	err := a.Stripe.SetAutoAdvance(ctx, r.InvoiceID, false, r.IdempotencyKey)
	if err == nil {
		out.TakenOver = true
		a.logger(ctx).Info("invoice taken over", "invoice", r.InvoiceID)
		return out, nil
	}
	msg, refused := refusedFor(err)
	if !refused {
		return out, err
	}
	out.Refused = msg
	if status, gerr := a.Stripe.InvoiceStatus(ctx, r.InvoiceID); gerr == nil && settled(status) {
		out.InvoiceStatus = status
	}
	a.logger(ctx).Warn("Stripe refused the invoice takeover: campaign falls back to stripe mode",
		"invoice", r.InvoiceID, "invoice_status", out.InvoiceStatus, "error", msg)
	return out, nil
}

// HandBackInvoice turns Stripe's automatic collection of the invoice back
// on. An invoice that is no longer open needs nothing (Stripe keeps
// auto_advance off on paid, void and uncollectible invoices).
func (a *Activities) HandBackInvoice(ctx context.Context, r billing.HandBackInvoice) error {
	if r.InvoiceID == "" || r.IdempotencyKey == "" {
		return invalid("hand back invoice needs an invoice and an idempotency key (got %q, %q)", r.InvoiceID, r.IdempotencyKey)
	}
	if a.Stripe == nil {
		a.logger(ctx).Warn("invoice not handed back", "invoice", r.InvoiceID, "reason", errNoStripe)
		return nil
	}
	err := a.Stripe.SetAutoAdvance(ctx, r.InvoiceID, true, r.IdempotencyKey)
	if _, refused := refusedFor(err); refused {
		if status, gerr := a.Stripe.InvoiceStatus(ctx, r.InvoiceID); gerr == nil && settled(status) {
			return nil
		}
	}
	return err
}

// MarkInvoiceUncollectible is the final action unpaid's write-off: the
// invoice is marked uncollectible (the customer may still pay it). An
// invoice already paid, void or uncollectible needs nothing.
func (a *Activities) MarkInvoiceUncollectible(ctx context.Context, r billing.MarkInvoiceUncollectible) error {
	if r.InvoiceID == "" || r.IdempotencyKey == "" {
		return invalid("mark uncollectible needs an invoice and an idempotency key (got %q, %q)", r.InvoiceID, r.IdempotencyKey)
	}
	if a.Stripe == nil {
		a.logger(ctx).Warn("invoice not marked uncollectible", "invoice", r.InvoiceID, "reason", errNoStripe)
		return nil
	}
	err := a.Stripe.MarkUncollectible(ctx, r.InvoiceID, r.IdempotencyKey)
	if _, refused := refusedFor(err); refused {
		if status, gerr := a.Stripe.InvoiceStatus(ctx, r.InvoiceID); gerr == nil && settled(status) {
			return nil
		}
	}
	return err
}

// PauseCollection stops Stripe charging the subscription's new invoices
// (final actions unpaid: mark_uncollectible, none: keep_as_draft).
func (a *Activities) PauseCollection(ctx context.Context, r billing.PauseCollection) error {
	if r.SubscriptionID == "" || r.Behavior == "" || r.IdempotencyKey == "" {
		return invalid("pause collection needs a subscription, a behavior and an idempotency key (got %q, %q, %q)", r.SubscriptionID, r.Behavior, r.IdempotencyKey)
	}
	if a.Stripe == nil {
		a.logger(ctx).Warn("collection not paused", "subscription", r.SubscriptionID, "reason", errNoStripe)
		return nil
	}
	return a.Stripe.PauseCollection(ctx, r.SubscriptionID, r.Behavior, r.IdempotencyKey)
}

// ResumeCollection lifts the pause a final action set, once the invoice
// is paid. A subscription that no longer exists needs nothing.
func (a *Activities) ResumeCollection(ctx context.Context, r billing.ResumeCollection) error {
	if r.SubscriptionID == "" || r.IdempotencyKey == "" {
		return invalid("resume collection needs a subscription and an idempotency key (got %q, %q)", r.SubscriptionID, r.IdempotencyKey)
	}
	if a.Stripe == nil {
		a.logger(ctx).Warn("collection not resumed", "subscription", r.SubscriptionID, "reason", errNoStripe)
		return nil
	}
	err := a.Stripe.PauseCollection(ctx, r.SubscriptionID, "", r.IdempotencyKey)
	var se *stripe.Error
	if errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound {
		return nil
	}
	return err
}
