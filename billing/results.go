package billing

import (
	"cmp"
	"fmt"
	"time"
)

// FireSubscriptionTimer runs a timer that came due; one that no longer
// applies (the campaign ended, the step moved) does nothing.
func FireSubscriptionTimer(s Subscription, t Timer, now time.Time) (Subscription, []Command) {
	s = s.clone()
	st := s.begin(Policy{}, now)
	c := s.campaign(t.Campaign)
	if c == nil || c.Final {
		return s, nil
	}
	now = st.now
	switch t.Kind {
	case TimerRetry:
		if c.NextRetryAt == nil || now.Before(*c.NextRetryAt) || c.ChargePending != 0 || c.TakeoverPending {
			return s, nil
		}
		st.charge(c)
	case TimerGrace:
		if c.Suspended || c.SuspendPending || now.Before(c.GraceEndsAt) {
			return s, nil
		}
		c.SuspendPending = true
		st.emit(RecheckInvoice{SubscriptionID: s.ID, InvoiceID: c.InvoiceID, Step: StepSuspend})
	case TimerFinal:
		if c.FinalAt == nil || now.Before(*c.FinalAt) || c.NextRetryAt != nil || c.ChargePending != 0 || c.FinalPending {
			return s, nil
		}
		st.requestFinal(c)
	default:
		return s, nil
	}
	return s, st.finish()
}

func (st *subStep) requestFinal(c *Campaign) {
	c.FinalAt, c.FinalPending = nil, true
	st.emit(RecheckInvoice{SubscriptionID: st.s.ID, InvoiceID: c.InvoiceID, Step: StepFinal})
}

// ChargeResult is the outcome of a RetryCharge.
type ChargeResult struct {
	InvoiceID     string `json:"invoice_id"`
	Attempt       int    `json:"attempt"`
	Paid          bool   `json:"paid"`
	InvoiceStatus string `json:"invoice_status,omitempty"` // as Stripe reports it after the attempt
	DeclineCode   string `json:"decline_code,omitempty"`
}

// ApplyChargeResult applies a retry's outcome: paid recovers, void or
// uncollectible ends the campaign, a hard decline stops retries, any other
// decline schedules the next retry with a reminder or, after the last,
// asks for the final re-read when it is due.
func ApplyChargeResult(s Subscription, r ChargeResult, now time.Time) (Subscription, []Command) {
	s = s.clone()
	st := s.begin(Policy{}, now)
	c := s.campaign(r.InvoiceID)
	if c == nil || c.ChargePending != r.Attempt {
		return s, nil
	}
	c.ChargePending, c.Attempts = 0, r.Attempt
	if r.Paid {
		r.InvoiceStatus = InvoicePaid
	}
	if st.settledInStripe(r.InvoiceID, r.InvoiceStatus, fmt.Sprintf("retry %d", r.Attempt)) {
		return s, st.finish()
	}
	c = s.campaign(r.InvoiceID)
	c.DeclineCode = firstNonEmpty(r.DeclineCode, c.DeclineCode)
	delays := c.retryDelays()
	switch {
	case c.Policy.IsHardDecline(r.DeclineCode):
		st.hardDecline(c)
	case c.Scheduled && r.DeclineCode != "" && c.Policy.DeclineCategory(r.DeclineCode) == DeclineAuthenticationRequired &&
		len(c.Policy.DelaysFor(DeclineAuthenticationRequired)) == 0:
		// The issuer now wants 3-D Secure: no off-session retry can pass
		// it; the customer confirms on the hosted invoice page.
		c.NextRetryAt, c.ActionRequired = nil, true
		st.note("retry %d for invoice %s needs authentication: waiting for the customer", c.Attempts, c.InvoiceID)
		st.email(c.InvoiceID+"/action-required", PurposeActionRequired, st.campaignVars(c))
		st.retime(c)
	case c.Attempts < len(delays):
		next := c.FailedAt.Add(delays[c.Attempts])
		c.NextRetryAt = &next
		st.note("retry %d of %d for invoice %s failed (%s)", c.Attempts, len(delays), c.InvoiceID, c.DeclineCode)
		st.email(fmt.Sprintf("%s/reminder-%d", c.InvoiceID, c.Attempts), PurposeDunningReminder, st.campaignVars(c))
		st.retime(c)
	default:
		st.note("last retry (%d of %d) for invoice %s failed", c.Attempts, len(delays), c.InvoiceID)
		if c.FinalAt != nil && !st.now.Before(*c.FinalAt) {
			st.requestFinal(c)
		}
		st.retime(c)
	}
	return s, st.finish()
}

// settledInStripe applies an invoice status Stripe reported (a retry's
// result or a re-read): paid, void and uncollectible settle the invoice
// and end its campaign. It reports whether it did.
func (st *subStep) settledInStripe(id, status, how string) bool {
	if status != InvoicePaid && status != InvoiceVoid && status != InvoiceUncollectible {
		return false
	}
	s := st.s
	i := s.invoice(id)
	before := s.Invoices[i]
	inv := &s.Invoices[i]
	if invoiceRank(status) > invoiceRank(inv.Status) {
		inv.Status = status
	}
	if inv.Status == InvoicePaid {
		inv.AmountPaid = cmp.Or(inv.AmountPaid, inv.AmountDue)
	}
	now := inv.Status
	st.recordInvoice(before, i)
	switch {
	case now == InvoicePaid && before.Status != InvoicePaid:
		st.note("%s: invoice %s paid", how, id)
		st.invoicePaid(id)
	case (now == InvoiceUncollectible || now == InvoiceVoid) && st.stripeSettled(id, now):
		// stripe mode: Stripe's retries ended (stripeend.go).
	case now == InvoiceUncollectible:
		if st.endCampaign(id, how+": invoice uncollectible") {
			s.Unrecovered++
		}
	default:
		st.endCampaign(id, how+": invoice "+now)
	}
	return true
}

// RecheckResult is what Stripe said when re-read before a step.
type RecheckResult struct {
	InvoiceID          string `json:"invoice_id"`
	Step               string `json:"step"`
	InvoiceStatus      string `json:"invoice_status"`
	SubscriptionStatus string `json:"subscription_status"`
}

// ApplyRecheck takes the irreversible step (suspension, final action) only
// when Stripe still says the invoice is open and the subscription alive.
func ApplyRecheck(s Subscription, r RecheckResult, now time.Time) (Subscription, []Command) {
	s = s.clone()
	st := s.begin(Policy{}, now)
	c := s.campaign(r.InvoiceID)
	if c == nil || (r.Step == StepSuspend && !c.SuspendPending) || (r.Step == StepFinal && !c.FinalPending) {
		return s, nil
	}
	if terminal(r.SubscriptionStatus) && !st.settledInStripe(r.InvoiceID, r.InvoiceStatus, "re-read") {
		// The step stays pending (its timer is not listed again) until
		// Stripe's customer.subscription.deleted ends the campaign.
		st.note("Stripe reports the subscription %s: waiting for its event", r.SubscriptionStatus)
		return s, st.finish()
	}
	if r.Step == StepSuspend {
		c.SuspendPending = false
	} else {
		c.FinalPending = false
	}
	switch {
	case st.settledInStripe(r.InvoiceID, r.InvoiceStatus, "re-read"):
	case r.Step == StepSuspend:
		if !c.Suspended {
			c.Suspended = true
			st.note("grace period over for invoice %s: access suspended", c.InvoiceID)
			st.email(c.InvoiceID+"/suspended", PurposeSuspended, st.campaignVars(c))
		}
		st.retime(c)
	case r.Step == StepFinal:
		st.final(c)
	}
	return s, st.finish()
}

// final takes the policy's final action once retries are exhausted.
func (st *subStep) final(c *Campaign) {
	s := st.s
	c.Final, c.NextRetryAt, c.FinalAt = true, nil, nil
	s.Unrecovered++
	var sentence string
	switch c.Policy.FinalAction {
	case FinalCancel:
		sentence = "Your subscription has been canceled."
	case FinalUnpaid:
		sentence = "Your access has ended until the invoice is paid."
	default:
		c.Suspended = true
		sentence = "Your access stays paused until the invoice is paid."
	}
	st.finalCommands(c) // what the action means in Stripe (takeover.go)
	vars := st.campaignVars(c)
	vars["final"] = sentence
	st.note("campaign for invoice %s ended unrecovered: final action %s", c.InvoiceID, c.Policy.FinalAction)
	st.email(c.InvoiceID+"/final", PurposeDunningFinal, vars)
	st.emit(CancelTimers{Campaign: c.InvoiceID})
}
