package activities

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"go.temporal.io/sdk/temporal"

	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
)

// StripeAPI is the part of Stripe's API payflow calls, through stripe-go.
type StripeAPI struct {
	api *client.API
}

// NewStripeAPI builds a client for key; base overrides Stripe's API URL
// (STRIPE_API_BASE), e.g. a local fake.
func NewStripeAPI(key, base string) *StripeAPI {
	cfg := &stripe.BackendConfig{
		HTTPClient:        &http.Client{Timeout: 20 * time.Second},
		MaxNetworkRetries: stripe.Int64(2),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if base != "" {
		cfg.URL = stripe.String(base)
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, cfg)
	api := &client.API{}
	api.Init(key, &stripe.Backends{API: backend, Connect: backend, Uploads: backend})
	return &StripeAPI{api: api}
}

// prepare readies the params of one Stripe call, and every call goes
// through it, so none misses the header: the context; Stripe-Account when
// ctx works for a connected account (AccountOf: the account of the
// activity's workflow), so the call acts on that account's objects, as
// Stripe Connect requires; and the idempotency key of a POST ("" for none),
// scoped to that account (inAccount; Stripe also keeps idempotency keys
// per account).
func prepare(ctx context.Context, p *stripe.Params, idempotencyKey string) {
	p.Context = ctx
	if acct := AccountOf(ctx); acct != "" {
		p.SetStripeAccount(acct)
	}
	if idempotencyKey != "" {
		p.IdempotencyKey = stripe.String(inAccount(ctx, idempotencyKey))
	}
}

// prepareList is prepare for a list call.
func prepareList(ctx context.Context, p *stripe.ListParams) {
	p.Context = ctx
	if acct := AccountOf(ctx); acct != "" {
		p.SetStripeAccount(acct)
	}
}

// classify turns a stripe-go error into a Temporal error: requests Stripe
// refuses for good (4xx other than 429 and conflicts) are not retried.
func classify(op string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		if se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 &&
			se.HTTPStatusCode != http.StatusTooManyRequests && se.HTTPStatusCode != http.StatusConflict {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("stripe %s: %s", op, se.Msg), "StripeRequestRefused", err)
		}
	}
	return fmt.Errorf("stripe %s: %w", op, err)
}

// CustomerEmail reads a customer's email address.
func (s *StripeAPI) CustomerEmail(ctx context.Context, customerID string) (string, error) {
	p := &stripe.CustomerParams{}
	prepare(ctx, &p.Params, "")
	c, err := s.api.Customers.Get(customerID, p)
	if err != nil {
		return "", classify("get customer "+customerID, err)
	}
	return c.Email, nil
}

// PayResult is the outcome of one charge attempt.
type PayResult struct {
	Paid        bool   `json:"paid"`
	Status      string `json:"status"`
	DeclineCode string `json:"decline_code,omitempty"`
	Message     string `json:"message,omitempty"`
}

// PayInvoice attempts to charge an invoice. The idempotency key names the
// workflow and the attempt, so a retried activity replays Stripe's first
// answer instead of charging again. A decline is a result, not an error.
func (s *StripeAPI) PayInvoice(ctx context.Context, invoiceID, idempotencyKey string) (PayResult, error) {
	p := &stripe.InvoicePayParams{OffSession: stripe.Bool(true)}
	prepare(ctx, &p.Params, idempotencyKey)
	inv, err := s.api.Invoices.Pay(invoiceID, p)
	if err != nil {
		var se *stripe.Error
		if errors.As(err, &se) && se.Type == stripe.ErrorTypeCard {
			return PayResult{Status: "open", DeclineCode: string(se.DeclineCode), Message: se.Msg}, nil
		}
		if errors.As(err, &se) && se.Code == stripe.ErrorCodeInvoicePaymentIntentRequiresAction {
			return PayResult{Status: "open", DeclineCode: "authentication_required", Message: se.Msg}, nil
		}
		// Stripe refuses (400, no error code) to pay an invoice that is
		// already paid: the customer paid on the hosted page, or Stripe
		// collected it, before invoice.paid reached the workflow. That is
		// the outcome this retry wanted, not a failure.
		if errors.As(err, &se) && se.HTTPStatusCode == http.StatusBadRequest {
			ip := &stripe.InvoiceParams{}
			prepare(ctx, &ip.Params, "")
			inv, gerr := s.api.Invoices.Get(invoiceID, ip)
			if gerr == nil && (inv.Paid || inv.Status == stripe.InvoiceStatusPaid) {
				return PayResult{Paid: true, Status: string(inv.Status)}, nil
			}
			// A void invoice can never be paid: the merchant cancelled the
			// debt (or replaced the invoice). The campaign decides what
			// that means; retrying the call would only fail again.
			if gerr == nil && inv.Status == stripe.InvoiceStatusVoid {
				return PayResult{Status: string(inv.Status), Message: se.Msg}, nil
			}
		}
		return PayResult{}, classify("pay invoice "+invoiceID, err)
	}
	return PayResult{Paid: inv.Paid || inv.Status == stripe.InvoiceStatusPaid, Status: string(inv.Status)}, nil
}

// Billing is a fresh read of a subscription and its invoice.
type Billing struct {
	SubscriptionStatus string `json:"subscription_status"`
	InvoiceStatus      string `json:"invoice_status"`
	InvoicePaid        bool   `json:"invoice_paid"`
	Unknown            bool   `json:"unknown,omitempty"` // no Stripe API key: nothing was read
}

// Billing re-reads the subscription and invoice before a decision that
// cannot be undone.
func (s *StripeAPI) Billing(ctx context.Context, subscriptionID, invoiceID string) (Billing, error) {
	var b Billing
	sp := &stripe.SubscriptionParams{}
	prepare(ctx, &sp.Params, "")
	sub, err := s.api.Subscriptions.Get(subscriptionID, sp)
	if err != nil {
		return b, classify("get subscription "+subscriptionID, err)
	}
	b.SubscriptionStatus = string(sub.Status)
	if invoiceID != "" {
		ip := &stripe.InvoiceParams{}
		prepare(ctx, &ip.Params, "")
		inv, err := s.api.Invoices.Get(invoiceID, ip)
		if err != nil {
			return b, classify("get invoice "+invoiceID, err)
		}
		b.InvoiceStatus = string(inv.Status)
		b.InvoicePaid = inv.Paid || inv.Status == stripe.InvoiceStatusPaid
	}
	return b, nil
}

// CancelSubscription cancels at once; canceling twice is harmless.
func (s *StripeAPI) CancelSubscription(ctx context.Context, subscriptionID, idempotencyKey string) error {
	p := &stripe.SubscriptionCancelParams{}
	prepare(ctx, &p.Params, idempotencyKey)
	_, err := s.api.Subscriptions.Cancel(subscriptionID, p)
	var se *stripe.Error
	if errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound {
		return nil // already gone
	}
	if err != nil {
		return classify("cancel subscription "+subscriptionID, err)
	}
	return nil
}

// ListEvents pages through Stripe's Events API (newest first) for reconcile.
// Without Stripe-Account (reconcile's context names no account) Stripe
// lists the platform's own events only, never a connected account's.
func (s *StripeAPI) ListEvents(ctx context.Context, since time.Time, types []string, each func(raw []byte) error) error {
	p := &stripe.EventListParams{}
	prepareList(ctx, &p.ListParams)
	p.CreatedRange = &stripe.RangeQueryParams{GreaterThanOrEqual: since.Unix()}
	p.Limit = stripe.Int64(100)
	// Stripe accepts at most 20 types; with more, list everything and let
	// the routing table skip what it does not handle.
	if len(types) <= 20 {
		for _, t := range types {
			p.Types = append(p.Types, stripe.String(t))
		}
	}
	it := s.api.Events.List(p)
	for it.Next() {
		raw, err := json.Marshal(it.Event())
		if err != nil {
			return fmt.Errorf("stripe list events: re-encode %s: %w", it.Event().ID, err)
		}
		if err := each(raw); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("stripe list events: %w", err)
	}
	return nil
}

// PaymentRef is what Stripe says a charge or payment intent paid for.
type PaymentRef struct {
	ChargeID       string
	PaymentIntent  string
	InvoiceID      string
	SubscriptionID string
	CustomerID     string
	Found          bool // Stripe knows the charge or payment intent
}

// PaymentRef follows a charge (else a payment intent) to the invoice it
// paid and that invoice's subscription: charge → invoice → subscription,
// or payment intent → invoice → subscription (API version 2023-10-16,
// where charges and payment intents name their invoice). invoiceID, the
// invoice the event named, is followed when neither the charge nor the
// intent names one. What Stripe does not know is not an error: Found is
// false.
func (s *StripeAPI) PaymentRef(ctx context.Context, chargeID, paymentIntent, invoiceID string) (PaymentRef, error) {
	ref := PaymentRef{ChargeID: chargeID, PaymentIntent: paymentIntent}
	chargeFound := false
	if chargeID != "" {
		p := &stripe.ChargeParams{}
		prepare(ctx, &p.Params, "")
		ch, err := s.api.Charges.Get(chargeID, p)
		switch {
		case missing(err):
		case err != nil:
			return ref, classify("get charge "+chargeID, err)
		default:
			ref.Found, chargeFound = true, true
			if ch.Invoice != nil {
				ref.InvoiceID = ch.Invoice.ID
			}
			if ch.PaymentIntent != nil {
				ref.PaymentIntent = ch.PaymentIntent.ID
			}
			if ch.Customer != nil {
				ref.CustomerID = ch.Customer.ID
			}
		}
	}
	if !chargeFound && ref.PaymentIntent != "" {
		p := &stripe.PaymentIntentParams{}
		prepare(ctx, &p.Params, "")
		pi, err := s.api.PaymentIntents.Get(ref.PaymentIntent, p)
		switch {
		case missing(err):
		case err != nil:
			return ref, classify("get payment intent "+ref.PaymentIntent, err)
		default:
			ref.Found = true
			if pi.Invoice != nil {
				ref.InvoiceID = pi.Invoice.ID
			}
			if pi.Customer != nil && ref.CustomerID == "" {
				ref.CustomerID = pi.Customer.ID
			}
		}
	}
	ref.InvoiceID = cmp.Or(ref.InvoiceID, invoiceID)
	if ref.InvoiceID != "" {
		p := &stripe.InvoiceParams{}
		prepare(ctx, &p.Params, "")
		inv, err := s.api.Invoices.Get(ref.InvoiceID, p)
		if err != nil && !missing(err) {
			return ref, classify("get invoice "+ref.InvoiceID, err)
		}
		if err == nil {
			ref.Found = true
			if inv.Subscription != nil {
				ref.SubscriptionID = inv.Subscription.ID
			}
			if inv.Customer != nil && ref.CustomerID == "" {
				ref.CustomerID = inv.Customer.ID
			}
		}
	}
	return ref, nil
}

// missing reports Stripe's 404 resource_missing.
func missing(err error) bool {
	var se *stripe.Error
	return errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound
}

// Activities wrapping the Stripe API.

// errNoStripe is returned, not thrown: without STRIPE_API_KEY (the dev
// default) dunning still runs its schedule, emails and access changes; it
// just cannot charge or re-read anything.
var errNoStripe = "STRIPE_API_KEY is not set"

// RetryCharge is one dunning retry in payflow mode: one charge attempt of
// the invoice, at most once per the command's idempotency key (a retried
// activity replays Stripe's first answer instead of charging again). A
// decline is a result, not an error; the core applies the result
// (billing.ApplyChargeResult). Without a Stripe key nothing is charged and
// the result is an unpaid attempt without a decline code, so the campaign
// goes on with its schedule.
func (a *Activities) RetryCharge(ctx context.Context, r billing.RetryCharge) (billing.ChargeResult, error) {
	if r.InvoiceID == "" || r.IdempotencyKey == "" {
		return billing.ChargeResult{}, invalid("retry charge needs an invoice and an idempotency key (got %q, %q)", r.InvoiceID, r.IdempotencyKey)
	}
	out := billing.ChargeResult{InvoiceID: r.InvoiceID, Attempt: r.Attempt}
	if a.Stripe == nil {
		a.logger(ctx).Warn("dunning retry skipped", "invoice", r.InvoiceID, "attempt", r.Attempt, "reason", errNoStripe)
		return out, nil
	}
	res, err := a.Stripe.PayInvoice(ctx, r.InvoiceID, r.IdempotencyKey)
	if err != nil {
		return billing.ChargeResult{}, err
	}
	out.Paid, out.InvoiceStatus, out.DeclineCode = res.Paid, res.Status, res.DeclineCode
	a.logger(ctx).Info("invoice pay attempt", "invoice", r.InvoiceID, "attempt", r.Attempt, "paid", res.Paid,
		"invoice_status", res.Status, "decline_code", res.DeclineCode)
	return out, nil
}

// RecheckInvoice re-reads the invoice and its subscription from Stripe
// before an irreversible step (suspension, the final action), so a stale
// view never punishes a payer; the core applies the answer
// (billing.ApplyRecheck). Without a Stripe key nothing can be read: the
// statuses come back empty and the core keeps its own view.
func (a *Activities) RecheckInvoice(ctx context.Context, r billing.RecheckInvoice) (billing.RecheckResult, error) {
	out := billing.RecheckResult{InvoiceID: r.InvoiceID, Step: r.Step}
	if a.Stripe == nil {
		a.logger(ctx).Warn("invoice not re-read before "+r.Step, "invoice", r.InvoiceID, "reason", errNoStripe)
		return out, nil
	}
	b, err := a.Stripe.Billing(ctx, r.SubscriptionID, r.InvoiceID)
	if err != nil {
		return billing.RecheckResult{}, err
	}
	out.InvoiceStatus, out.SubscriptionStatus = b.InvoiceStatus, b.SubscriptionStatus
	if b.InvoicePaid {
		out.InvoiceStatus = billing.InvoicePaid
	}
	return out, nil
}

// CancelSubscription is a campaign's final action "cancel": the
// subscription is canceled in Stripe at once (the idempotency key makes a
// retry harmless; an already canceled one is fine). Stripe's
// customer.subscription.deleted follows and revokes access.
func (a *Activities) CancelSubscription(ctx context.Context, r billing.CancelSubscription) error {
	if r.SubscriptionID == "" {
		return invalid("cancel subscription without ID")
	}
	if a.Stripe == nil {
		a.logger(ctx).Warn("subscription not canceled in Stripe", "subscription", r.SubscriptionID, "reason", errNoStripe)
		return nil
	}
	key := r.IdempotencyKey
	if key == "" {
		key = routing.SubscriptionID(r.SubscriptionID) + "/cancel" // scoped to the account by prepare
	}
	return a.Stripe.CancelSubscription(ctx, r.SubscriptionID, key)
}
