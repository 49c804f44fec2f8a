package stripeapi

import (
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/payflow/payflow/fixtures"
)

// Automatic collection: auto_advance and Stripe's own retries.
//
// Stripe lets auto_advance be toggled only on draft and open invoices;
// paid, void and uncollectible invoices always have it off
// (docs.stripe.com/invoicing/integration/automatic-advancement-collection).
// An open invoice collected automatically carries next_payment_attempt, the
// time Smart Retries will charge it; with auto_advance=false Stripe makes
// no attempt, so the fake renders it null.

func (s *Server) updateInvoice(w http.ResponseWriter, r *http.Request) {
	inv := s.invoice(w, r)
	if inv == nil {
		return
	}
	if p := unknownParam(r.Form, "auto_advance", "description", "expand"); p != "" {
		s.invalid(w, p, "parameter_unknown", "Received unknown parameter: %s", p)
		return
	}
	auto, ok := s.boolParam(w, r.Form, "auto_advance")
	if !ok {
		return
	}
	if r.Form.Has("auto_advance") {
		if inv.Status != "draft" && inv.Status != "open" {
			s.invalid(w, "auto_advance", "invoice_not_editable",
				"You can only update auto_advance on draft or open invoices; this invoice is %s.", inv.Status)
			return
		}
		inv.ManualCollection = !auto
	}
	writeJSON(w, http.StatusOK, renderInvoice(inv))
}

// autoAdvance is the invoice's auto_advance as Stripe reports it.
func (inv *Invoice) autoAdvance() bool {
	return (inv.Status == "draft" || inv.Status == "open") && !inv.ManualCollection
}

// nextAttempt is when Stripe will charge the open invoice on its own
// (zero: never): the seeded override, else the schedule fixtures render
// (an hour after creation, then every 3 days up to the fourth attempt).
func (inv *Invoice) nextAttempt() time.Time {
	if inv.Status != "open" || !inv.autoAdvance() {
		return time.Time{}
	}
	if !inv.NextPaymentAttempt.IsZero() {
		return inv.NextPaymentAttempt
	}
	switch {
	case inv.AttemptCount == 0:
		return inv.Created.Add(time.Hour)
	case inv.AttemptCount < 4:
		return inv.Created.Add(time.Duration(inv.AttemptCount) * 72 * time.Hour)
	}
	return time.Time{}
}

// renderCollection sets auto_advance and next_payment_attempt.
func renderCollection(m fixtures.Map, inv *Invoice) {
	m["auto_advance"] = inv.autoAdvance()
	if inv.Status == "open" || inv.Status == "draft" {
		if t := inv.nextAttempt(); !t.IsZero() {
			m["next_payment_attempt"] = t.Unix()
		} else if inv.Status == "open" || inv.ManualCollection {
			m["next_payment_attempt"] = nil
		}
	}
}

// RunSmartRetries plays Stripe's automatic collection up to now: every
// open invoice with auto_advance on whose next_payment_attempt is due is
// charged once, consuming ScriptPay's outcomes like any attempt (no
// outcome left: the charge succeeds). A failure counts an attempt and
// schedules the next one 3 days later, up to 4 attempts; a success pays
// the invoice and brings a past_due subscription back to active. It
// returns the invoices charged, sorted (a connected account's as
// acct_…/<invoice>). Taken-over invoices
// (auto_advance=false) are never charged here.
func (s *Server) RunSmartRetries(now time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var charged []string
	for id, inv := range s.invoices { // id: scoped to the invoice's account
		if t := inv.nextAttempt(); t.IsZero() || t.After(now) {
			continue
		}
		charged = append(charged, id)
		s.smartRetries[id]++
		outcome := PaySucceeds
		if q := s.scripts[id]; len(q) > 0 {
			outcome, s.scripts[id] = q[0], q[1:]
		}
		def(&inv.PaymentIntentID, newID("pi_", 24))
		inv.ChargeID = newID("ch_", 24)
		inv.AttemptCount++
		if outcome.Fail {
			inv.NextPaymentAttempt = time.Time{}
			if inv.AttemptCount < 4 {
				inv.NextPaymentAttempt = now.Add(72 * time.Hour)
			} else {
				inv.ManualCollection = true // Stripe's schedule is over: no next attempt
			}
			continue
		}
		inv.Status, inv.PaidAt = "paid", now
		if sub := s.subs[scoped(inv.Account, inv.SubscriptionID)]; sub != nil && slices.Contains([]string{"past_due", "unpaid", "incomplete"}, sub.Status) {
			sub.Status = "active"
		}
	}
	sort.Strings(charged)
	return charged
}

// SmartRetries returns how many times Stripe's automatic collection
// (RunSmartRetries) charged the invoice.
func (s *Server) SmartRetries(invoiceID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.smartRetries[invoiceID]
}
