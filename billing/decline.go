package billing

import (
	"fmt"
	"slices"
	"time"
)

// Where the decline code comes from.
//
// In API 2023-10-16 invoice.payment_failed carries no last_payment_error:
// the issuer's decline code lives on the invoice's payment intent
// (last_payment_error.decline_code, docs.stripe.com/api/payment_intents/object)
// and its charge. So a campaign started by a failure whose event names no
// decline code first asks Stripe (FetchDecline, answered through
// ApplyDecline) and only then decides: a hard decline stops retries and
// asks for another card, anything else schedules the first retry. Until the
// answer the campaign schedules no retry. A decline learned later (a
// retry's result, a later invoice.payment_failed naming it) classifies the
// same way (ApplyChargeResult, failed).

// FetchDecline reads the decline of the invoice's last failed payment from
// Stripe (its payment intent's last_payment_error, else its charge). The
// answer comes back through ApplyDecline.
type FetchDecline struct {
	SubscriptionID string `json:"subscription_id"`
	InvoiceID      string `json:"invoice_id"`
	ChargeID       string `json:"charge,omitempty"` // the failed attempt's charge, when the event named it
}

func (FetchDecline) Name() string { return "FetchDecline" }

// DeclineResult is what Stripe says about the invoice's last failed
// payment. Skipped: nothing was read (no Stripe API key, a refusal, a run
// recorded before the fetch existed); the failure is then treated as soft.
type DeclineResult struct {
	InvoiceID   string `json:"invoice_id"`
	DeclineCode string `json:"decline_code,omitempty"` // last_payment_error.decline_code
	Code        string `json:"code,omitempty"`         // last_payment_error.code (card_declined, expired_card, …)
	Message     string `json:"message,omitempty"`
	Skipped     bool   `json:"skipped,omitempty"`
}

// fetchDecline asks Stripe why the campaign's last failure happened: the
// first (payflow and stripe mode), or a later Stripe attempt (stripe mode;
// payflow's own retries learn it from the pay call).
func (st *subStep) fetchDecline(c *Campaign, ev Event) {
	c.DeclinePending = true
	st.emit(FetchDecline{SubscriptionID: st.s.ID, InvoiceID: c.InvoiceID, ChargeID: ev.ChargeID})
	st.note("payment for invoice %s failed without a decline code: reading it from Stripe", c.InvoiceID)
}

// ApplyDecline applies Stripe's answer to FetchDecline and classifies the
// campaign's first failure: hard → no retries, the update-card email with
// the reason; soft (or unknown) → the first retry and the first-failure
// email. A campaign that moved on meanwhile (a later event said hard
// decline or authentication required, the invoice was paid) only takes the
// code.
func ApplyDecline(s Subscription, r DeclineResult, now time.Time) (Subscription, []Command) {
	s = s.clone()
	st := s.begin(Policy{}, now)
	c := s.campaign(r.InvoiceID)
	if c == nil || !c.DeclinePending {
		return s, nil
	}
	attempt := c.DeclineAttempt
	c.DeclinePending, c.DeclineAttempt = false, 0
	code := firstNonEmpty(r.DeclineCode, r.Code)
	c.DeclineCode = firstNonEmpty(code, c.DeclineCode)
	switch {
	case r.Skipped:
		st.note("decline of invoice %s not read from Stripe: treated as soft", c.InvoiceID)
	case code == "":
		st.note("Stripe names no decline code for invoice %s: treated as soft", c.InvoiceID)
	default:
		st.note("Stripe says invoice %s was declined: %s", c.InvoiceID, code)
	}
	switch {
	case c.Final || c.HardDecline || c.ActionRequired:
	case c.Policy.IsHardDecline(r.DeclineCode) || c.Policy.IsHardDecline(r.Code):
		st.hardDecline(c)
	case attempt > 0:
		st.stripeReminder(c) // a later Stripe attempt (stripe mode)
	default:
		st.classify(c)
	}
	return s, st.finish()
}

// stripeReminder tells the customer that Stripe's attempt StripeAttempt
// failed too (stripe mode).
func (st *subStep) stripeReminder(c *Campaign) {
	vars := st.campaignVars(c)
	setEmailTime(vars, "next_retry", unixTime(c.StripeNextAttempt))
	st.email(fmt.Sprintf("%s/stripe-attempt-%d", c.InvoiceID, c.StripeAttempt), PurposeDunningReminder, vars)
}

// classify takes the first step of a campaign whose first failure's
// decline code is known (or known to be unknowable).
func (st *subStep) classify(c *Campaign) {
	p := c.Policy
	if p.IsHardDecline(c.DeclineCode) {
		c.HardDecline = true
		st.email(c.InvoiceID+"/hard-decline", PurposeDunningHardDecline, st.campaignVars(c))
		st.retime(c)
		return
	}
	payflowRetries := p.payflowRetries()
	if payflowRetries && len(p.Schedules) > 0 {
		// The first failure's category picks the schedule for the whole
		// campaign; the final action follows its last retry (or, when it
		// retries nothing, the policy's latest retry: the customer has
		// as long as anyone).
		c.Scheduled, c.Delays = true, slices.Clone(p.DelaysFor(p.DeclineCategory(c.DeclineCode)))
		final := c.FailedAt.Add(p.horizon())
		if n := len(c.Delays); n > 0 {
			final = c.FailedAt.Add(c.Delays[n-1])
		}
		c.FinalAt = &final
		st.note("invoice %s: %s decline, retries %s", c.InvoiceID, p.DeclineCategory(c.DeclineCode), FormatDelays(c.Delays))
	}
	if c.waitsForCustomer() {
		st.awaitCustomer(c)
		return
	}
	if delays := c.retryDelays(); payflowRetries && len(delays) > 0 {
		next := c.FailedAt.Add(delays[0])
		c.NextRetryAt = &next
	}
	vars := st.campaignVars(c)
	if !payflowRetries {
		setEmailTime(vars, "next_retry", unixTime(c.StripeNextAttempt))
	}
	st.email(c.InvoiceID+"/first-failure", PurposeDunningFirst, vars)
	st.retime(c)
}

// awaitCustomer starts a campaign whose category payflow does not retry:
// authentication_required asks the customer to confirm the payment on the
// hosted invoice page (the same email, and dedupe key, as Stripe's
// invoice.payment_action_required); any other category gets the
// first-failure email without a retry date. A new card retries at once
// (cardupdate.go); otherwise the final action comes at FinalAt.
func (st *subStep) awaitCustomer(c *Campaign) {
	c.NextRetryAt = nil
	if c.Policy.DeclineCategory(c.DeclineCode) == DeclineAuthenticationRequired {
		c.ActionRequired = true
		st.email(c.InvoiceID+"/action-required", PurposeActionRequired, st.campaignVars(c))
	} else {
		st.email(c.InvoiceID+"/first-failure", PurposeDunningFirst, st.campaignVars(c))
	}
	st.retime(c)
}
