package billing

import (
	"fmt"
	"time"
)

// Who collects an invoice, and what the final actions mean in Stripe.
//
// In payflow mode payflow must be the only one charging the invoice: a
// campaign that will retry takes the invoice over when it starts
// (TakeOverInvoice: auto_advance=false, which stops Stripe's automatic
// collection — Smart Retries included — on that invoice,
// docs.stripe.com/invoicing/integration/automatic-advancement-collection).
// If Stripe refuses, the campaign does not retry blindly: it falls back to
// stripe mode (Stripe keeps retrying, payflow communicates and controls
// access) and the timeline says so.
//
// Hand-back (HandBackInvoice: auto_advance=true) happens when a taken-over
// campaign ends while its invoice is still open and the subscription is
// alive — payflow stops chasing, Stripe should carry on. The other endings
// hand nothing back: a paid, void or uncollectible invoice is never
// collected automatically (Stripe keeps auto_advance false on them); a
// canceled subscription's invoices stop being collected; and after the
// final actions unpaid and none the invoice stays with payflow on purpose
// (no more charges is what those actions mean).
//
// Final actions in Stripe (FinalCommands):
//
//	cancel  CancelSubscription: the subscription is canceled at once.
//	unpaid  MarkInvoiceUncollectible, then PauseCollection mark_uncollectible:
//	        the debt is written off as uncollectible (the customer may still
//	        pay it on the hosted page), and every new invoice is finalized
//	        and marked uncollectible at once, never charged — Stripe's own
//	        "unpaid" (invoices created, no payment attempted).
//	none    PauseCollection keep_as_draft: the invoice stays open and past
//	        due, new invoices stay drafts and are never charged.
//
// When the invoice of a campaign that ended with unpaid or none is paid
// later, the campaign recovers and the pause is lifted (ResumeCollection),
// unless another campaign of the subscription still holds it.

// TakeOverInvoice turns off Stripe's automatic collection of the invoice
// (auto_advance=false) so only payflow retries it. The answer comes back
// through ApplyTakeover.
type TakeOverInvoice struct {
	SubscriptionID string `json:"subscription_id"`
	InvoiceID      string `json:"invoice_id"`
	IdempotencyKey string `json:"idempotency_key"`
}

// HandBackInvoice turns Stripe's automatic collection of the invoice back
// on (auto_advance=true).
type HandBackInvoice struct {
	SubscriptionID string `json:"subscription_id"`
	InvoiceID      string `json:"invoice_id"`
	IdempotencyKey string `json:"idempotency_key"`
}

// MarkInvoiceUncollectible marks the invoice uncollectible in Stripe
// (final action unpaid).
type MarkInvoiceUncollectible struct {
	SubscriptionID string `json:"subscription_id"`
	InvoiceID      string `json:"invoice_id"`
	IdempotencyKey string `json:"idempotency_key"`
}

// PauseCollection sets the subscription's pause_collection[behavior]
// (final actions unpaid: mark_uncollectible, none: keep_as_draft).
type PauseCollection struct {
	SubscriptionID string `json:"subscription_id"`
	InvoiceID      string `json:"invoice_id"` // the campaign that asked
	Behavior       string `json:"behavior"`
	IdempotencyKey string `json:"idempotency_key"`
}

// ResumeCollection unsets the subscription's pause_collection: the invoice
// whose final action paused it was paid.
type ResumeCollection struct {
	SubscriptionID string `json:"subscription_id"`
	InvoiceID      string `json:"invoice_id"` // the invoice that was paid
	IdempotencyKey string `json:"idempotency_key"`
}

func (TakeOverInvoice) Name() string          { return "TakeOverInvoice" }
func (HandBackInvoice) Name() string          { return "HandBackInvoice" }
func (MarkInvoiceUncollectible) Name() string { return "MarkInvoiceUncollectible" }
func (PauseCollection) Name() string          { return "PauseCollection" }
func (ResumeCollection) Name() string         { return "ResumeCollection" }

// Stripe's pause_collection behaviours payflow sets.
const (
	PauseMarkUncollectible = "mark_uncollectible"
	PauseKeepAsDraft       = "keep_as_draft"
)

// TakeoverResult is Stripe's answer to a TakeOverInvoice.
type TakeoverResult struct {
	InvoiceID string `json:"invoice_id"`
	TakenOver bool   `json:"taken_over"`
	// Skipped: no Stripe API key, nothing was asked (and nothing charges).
	Skipped bool `json:"skipped,omitempty"`
	// InvoiceStatus is set when Stripe refused because the invoice is no
	// longer open (paid, void, uncollectible).
	InvoiceStatus string `json:"invoice_status,omitempty"`
	// Refused says why Stripe refused, when it did.
	Refused string `json:"refused,omitempty"`
}

// takeoverKey is the idempotency key of one campaign's takeover or
// hand-back (one campaign per invoice at a time; FailedAt tells them apart).
func takeoverKey(s *Subscription, c *Campaign, what string) string {
	return fmt.Sprintf("%s/%s/%s-%d", s.Source(), c.InvoiceID, what, c.FailedAt.Unix())
}

// takeOver asks Stripe to stop collecting the invoice of a payflow-mode
// campaign that will retry.
func (st *subStep) takeOver(c *Campaign) {
	c.TakeoverPending = true
	st.emit(TakeOverInvoice{SubscriptionID: st.s.ID, InvoiceID: c.InvoiceID,
		IdempotencyKey: takeoverKey(st.s, c, "takeover")})
}

// handBack gives a taken-over invoice back to Stripe when its campaign
// ends while the invoice is open and the subscription alive.
func (st *subStep) handBack(c Campaign) {
	if !c.TakenOver {
		return
	}
	inv, _ := st.s.Invoice(c.InvoiceID)
	if inv.Status != InvoiceOpen || st.s.Terminal() || c.Final {
		return
	}
	st.emit(HandBackInvoice{SubscriptionID: st.s.ID, InvoiceID: c.InvoiceID,
		IdempotencyKey: takeoverKey(st.s, &c, "handback")})
	st.note("invoice %s handed back to Stripe's automatic collection", c.InvoiceID)
}

// ApplyTakeover applies Stripe's answer to TakeOverInvoice: taken over,
// payflow retries alone; refused, the campaign falls back to stripe mode
// (no payflow retries; Stripe keeps collecting) and the operator is told
// in the timeline; the invoice no longer open settles it.
func ApplyTakeover(s Subscription, r TakeoverResult, now time.Time) (Subscription, []Command) {
	s = s.clone()
	st := s.begin(Policy{}, now)
	c := s.campaign(r.InvoiceID)
	if c == nil || !c.TakeoverPending {
		return s, nil
	}
	c.TakeoverPending = false
	switch {
	case r.TakenOver:
		c.TakenOver = true
		st.note("invoice %s taken over: Stripe's automatic collection off, payflow retries alone", c.InvoiceID)
	case r.Skipped:
		st.note("invoice %s not taken over (no Stripe API key): payflow retries nothing either", c.InvoiceID)
	case st.settledInStripe(r.InvoiceID, r.InvoiceStatus, "takeover"):
	default:
		c.Policy.Mode, c.NextRetryAt, c.FinalAt = ModeStripe, nil, nil
		c.TakeoverRefused = true
		st.note("ALERT: Stripe refused to take invoice %s over (%s): campaign falls back to stripe mode, Stripe's retries collect it",
			c.InvoiceID, firstNonEmpty(r.Refused, "refused"))
		st.emit(SendEmail{DedupeKey: takeoverKey(&s, c, "takeover-refused"), Purpose: PurposeOperatorRefused, ToOperator: true,
			Vars: map[string]string{"effect": "TakeOverInvoice", "workflow_id": s.Source(),
				"what":       "the takeover of invoice " + c.InvoiceID + " (auto_advance=false); the campaign fell back to stripe mode",
				"error_type": "StripeRequestRefused", "error": firstNonEmpty(r.Refused, "refused")}})
		st.retime(c)
	}
	return s, st.finish()
}

// finalCommands are the Stripe calls of the campaign's final action.
func (st *subStep) finalCommands(c *Campaign) {
	s := st.s
	key := s.Source() + "/" + c.InvoiceID + "/"
	switch c.Policy.FinalAction {
	case FinalCancel:
		st.emit(CancelSubscription{SubscriptionID: s.ID, InvoiceID: c.InvoiceID, IdempotencyKey: key + "cancel"})
	case FinalUnpaid:
		c.CollectionPaused = true
		st.emit(MarkInvoiceUncollectible{SubscriptionID: s.ID, InvoiceID: c.InvoiceID, IdempotencyKey: key + "uncollectible"},
			PauseCollection{SubscriptionID: s.ID, InvoiceID: c.InvoiceID, Behavior: PauseMarkUncollectible, IdempotencyKey: key + "pause"})
	case FinalNone:
		c.CollectionPaused = true
		st.emit(PauseCollection{SubscriptionID: s.ID, InvoiceID: c.InvoiceID, Behavior: PauseKeepAsDraft, IdempotencyKey: key + "pause"})
	}
}

// pausedBy reports whether the campaign's final action paused collection
// (not Stripe's own end of its retries in stripe mode, which pauses
// nothing).
func pausedBy(c Campaign) bool { return c.Final && c.CollectionPaused }

// resumeAfterPayment lifts the pause a final action set, when the paid
// invoice's campaign set it and no other campaign still holds it.
func (st *subStep) resumeAfterPayment(c Campaign) {
	if !pausedBy(c) {
		return
	}
	for _, o := range st.s.Campaigns {
		if o.InvoiceID != c.InvoiceID && pausedBy(o) {
			st.note("invoice %s paid: collection stays paused for invoice %s", c.InvoiceID, o.InvoiceID)
			return
		}
	}
	st.emit(ResumeCollection{SubscriptionID: st.s.ID, InvoiceID: c.InvoiceID,
		IdempotencyKey: st.s.Source() + "/" + c.InvoiceID + "/resume"})
	st.note("invoice %s paid: collection resumed", c.InvoiceID)
}
