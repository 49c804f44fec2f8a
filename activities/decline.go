package activities

import (
	"context"
	"errors"

	"github.com/stripe/stripe-go/v76"
	"go.temporal.io/sdk/temporal"

	"github.com/payflow/payflow/billing"
)

// Decline is why an invoice's last payment attempt failed, as Stripe
// records it.
type Decline struct {
	DeclineCode string `json:"decline_code,omitempty"` // the issuer's (stolen_card, insufficient_funds, …)
	Code        string `json:"code,omitempty"`         // Stripe's error code (card_declined, expired_card, …)
	Message     string `json:"message,omitempty"`
	Source      string `json:"source,omitempty"` // payment_intent or charge
}

// LastDecline reads the decline of an invoice's last failed payment. In
// API 2023-10-16 the invoice carries no last_payment_error: the decline is
// on its payment intent (last_payment_error.decline_code, code, message)
// and on its charge (outcome.reason for an issuer decline, failure_code,
// failure_message), which is read when the intent names no decline code.
// chargeID is the failed attempt's charge when the event named it (else
// the invoice's, then the intent's latest charge).
func (s *StripeAPI) LastDecline(ctx context.Context, invoiceID, chargeID string) (Decline, error) {
	var d Decline
	ip := &stripe.InvoiceParams{}
	prepare(ctx, &ip.Params, "")
	inv, err := s.api.Invoices.Get(invoiceID, ip)
	if err != nil {
		return d, classify("get invoice "+invoiceID, err)
	}
	if chargeID == "" && inv.Charge != nil {
		chargeID = inv.Charge.ID
	}
	if inv.PaymentIntent != nil && inv.PaymentIntent.ID != "" {
		pp := &stripe.PaymentIntentParams{}
		prepare(ctx, &pp.Params, "")
		pi, err := s.api.PaymentIntents.Get(inv.PaymentIntent.ID, pp)
		if err != nil {
			return d, classify("get payment intent "+inv.PaymentIntent.ID, err)
		}
		if e := pi.LastPaymentError; e != nil {
			d = Decline{DeclineCode: string(e.DeclineCode), Code: string(e.Code), Message: e.Msg, Source: "payment_intent"}
		}
		if chargeID == "" && pi.LatestCharge != nil {
			chargeID = pi.LatestCharge.ID
		}
	}
	if d.DeclineCode != "" || chargeID == "" {
		return d, nil
	}
	cp := &stripe.ChargeParams{}
	prepare(ctx, &cp.Params, "")
	ch, err := s.api.Charges.Get(chargeID, cp)
	if err != nil {
		return d, classify("get charge "+chargeID, err)
	}
	if ch.Status != stripe.ChargeStatusFailed {
		return d, nil
	}
	c := Decline{Code: ch.FailureCode, Message: ch.FailureMessage, Source: "charge"}
	if ch.Outcome != nil && ch.Outcome.Type == "issuer_declined" {
		c.DeclineCode = ch.Outcome.Reason
	}
	if c.DeclineCode == "" && d.Code != "" {
		return d, nil // the intent's error says more
	}
	return c, nil
}

// FetchDecline reads why the invoice's last payment failed, for the core
// to tell a hard decline from a soft one (billing.ApplyDecline). Without a
// Stripe key, or when Stripe refuses the read for good (the invoice or its
// payment gone), nothing is known: the answer is Skipped and the core
// treats the failure as soft. Transient errors are retried.
func (a *Activities) FetchDecline(ctx context.Context, r billing.FetchDecline) (billing.DeclineResult, error) {
	if r.InvoiceID == "" {
		return billing.DeclineResult{}, invalid("fetch decline without an invoice")
	}
	out := billing.DeclineResult{InvoiceID: r.InvoiceID}
	if a.Stripe == nil {
		a.logger(ctx).Warn("decline not read: treated as soft", "invoice", r.InvoiceID, "reason", errNoStripe)
		out.Skipped = true
		return out, nil
	}
	d, err := a.Stripe.LastDecline(ctx, r.InvoiceID, r.ChargeID)
	var refused *temporal.ApplicationError
	if errors.As(err, &refused) && refused.NonRetryable() {
		a.logger(ctx).Warn("decline not read: treated as soft", "invoice", r.InvoiceID, "error", err)
		out.Skipped = true
		return out, nil
	}
	if err != nil {
		return billing.DeclineResult{}, err
	}
	out.DeclineCode, out.Code, out.Message = d.DeclineCode, d.Code, d.Message
	a.logger(ctx).Info("invoice decline read", "invoice", r.InvoiceID, "decline_code", d.DeclineCode,
		"code", d.Code, "from", d.Source)
	return out, nil
}
