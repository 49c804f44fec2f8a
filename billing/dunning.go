package billing

import (
	"fmt"
	"slices"
	"time"
)

// Campaign chases one unpaid invoice. Times are absolute, so a campaign
// resumes exactly after continue-as-new or a deploy; the policy is the one
// in force when it started.
type Campaign struct {
	InvoiceID      string     `json:"invoice_id"`
	Policy         Policy     `json:"policy"`
	FailedAt       time.Time  `json:"failed_at"`
	Attempts       int        `json:"attempts"` // payflow retries made
	NextRetryAt    *time.Time `json:"next_retry_at,omitempty"`
	GraceEndsAt    time.Time  `json:"grace_ends_at"`
	FinalAt        *time.Time `json:"final_at,omitempty"`
	Suspended      bool       `json:"suspended"`
	HardDecline    bool       `json:"hard_decline,omitempty"`
	ActionRequired bool       `json:"action_required,omitempty"`
	DeclineCode    string     `json:"decline_code,omitempty"`
	// DeclinePending: the first failure named no decline code and Stripe
	// is asked for it (FetchDecline, decline.go); nothing is decided yet.
	DeclinePending bool `json:"decline_pending,omitempty"`
	// DeclineAttempt is the Stripe attempt (stripe mode, after the first)
	// whose decline is asked for; 0: the first failure's.
	DeclineAttempt int64 `json:"decline_attempt,omitempty"`
	// StripeNextAttempt is the last failure's next_payment_attempt, for
	// the email sent once the decline is known.
	StripeNextAttempt int64 `json:"stripe_next_attempt,omitempty"`
	StripeAttempt     int64 `json:"stripe_attempt,omitempty"`
	ChargePending     int   `json:"charge_pending,omitempty"` // the retry whose result is awaited
	SuspendPending    bool  `json:"suspend_pending,omitempty"`
	FinalPending      bool  `json:"final_pending,omitempty"`
	Final             bool  `json:"final"` // final action taken; a late payment still recovers
	// Who collects the invoice (takeover.go): TakeoverPending while Stripe
	// is asked to stop its automatic collection, TakenOver once it did
	// (payflow retries alone), TakeoverRefused when it refused and the
	// campaign fell back to stripe mode.
	TakeoverPending bool `json:"takeover_pending,omitempty"`
	TakenOver       bool `json:"taken_over,omitempty"`
	TakeoverRefused bool `json:"takeover_refused,omitempty"`
	// CollectionPaused: the final action (unpaid, none) paused the
	// subscription's collection; paying the invoice lifts it.
	CollectionPaused bool `json:"collection_paused,omitempty"`
	// Scheduled: the campaign's retry delays were chosen by the first
	// failure's decline category (Policy.Schedules) and are Delays (none:
	// payflow waits for the customer). A campaign without Scheduled
	// retries on its policy's RetryDelays.
	Scheduled bool            `json:"scheduled,omitempty"`
	Delays    []time.Duration `json:"delays,omitempty"`
	// PausedAt: an operator paused the campaign (operator.go): no retry,
	// suspension or final action until resumed, when every pending step
	// moves later by the time it was paused.
	PausedAt *time.Time `json:"paused_at,omitempty"`
	PausedBy string     `json:"paused_by,omitempty"`
}

// retryDelays is the campaign's retry schedule, counted from FailedAt.
func (c Campaign) retryDelays() []time.Duration {
	if c.Scheduled {
		return c.Delays
	}
	return c.Policy.RetryDelays
}

// waitsForCustomer: payflow mode, and the campaign's category retries
// nothing on its own: only the customer (a new card, the hosted invoice)
// or the final action end it.
func (c Campaign) waitsForCustomer() bool {
	return c.Scheduled && len(c.Delays) == 0 && c.Policy.Mode == ModePayflow
}

// Stage is where the campaign stands.
func (c Campaign) Stage() string {
	switch {
	case c.Final:
		return StageFinal
	case c.Suspended:
		return StageSuspended
	case c.HardDecline || c.ActionRequired || c.waitsForCustomer():
		return StageAwaitingCustomer
	}
	return StageRetrying
}

// timers lists the campaign's pending wake-ups. Firing any of them at or
// after its time makes progress (it is no longer listed afterwards).
func (c Campaign) timers() []Timer {
	if c.Final || c.PausedAt != nil {
		return nil
	}
	var out []Timer
	if c.NextRetryAt != nil && c.ChargePending == 0 && !c.TakeoverPending {
		out = append(out, Timer{Campaign: c.InvoiceID, Kind: TimerRetry, At: *c.NextRetryAt})
	}
	if !c.Suspended && !c.SuspendPending {
		out = append(out, Timer{Campaign: c.InvoiceID, Kind: TimerGrace, At: c.GraceEndsAt})
	}
	if c.FinalAt != nil && c.NextRetryAt == nil && c.ChargePending == 0 && !c.FinalPending {
		out = append(out, Timer{Campaign: c.InvoiceID, Kind: TimerFinal, At: *c.FinalAt})
	}
	return out
}

// Timers lists every pending timer, earliest first.
func (s Subscription) Timers() []Timer {
	var out []Timer
	for _, c := range s.Campaigns {
		out = append(out, c.timers()...)
	}
	slices.SortStableFunc(out, func(a, b Timer) int { return a.At.Compare(b.At) })
	return out
}

func (c Campaign) clone() Campaign {
	c.Policy = c.Policy.clone()
	c.NextRetryAt, c.FinalAt, c.PausedAt = clonePtr(c.NextRetryAt), clonePtr(c.FinalAt), clonePtr(c.PausedAt)
	c.Delays = slices.Clone(c.Delays)
	return c
}

func clonePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := *t
	return &v
}

func (s *Subscription) campaign(invoiceID string) *Campaign {
	for i := range s.Campaigns {
		if s.Campaigns[i].InvoiceID == invoiceID {
			return &s.Campaigns[i]
		}
	}
	return nil
}

// retime replaces the campaign's timers with its current ones.
func (st *subStep) retime(c *Campaign) {
	st.emit(CancelTimers{Campaign: c.InvoiceID})
	for _, t := range c.timers() {
		st.emit(ScheduleTimer{Timer: t})
	}
}

// endCampaign drops the invoice's campaign, if any, without emails.
func (st *subStep) endCampaign(invoiceID, why string) bool {
	s := st.s
	i := slices.IndexFunc(s.Campaigns, func(c Campaign) bool { return c.InvoiceID == invoiceID })
	if i < 0 {
		return false
	}
	c := s.Campaigns[i]
	s.Campaigns = slices.Delete(s.Campaigns, i, i+1)
	st.emit(CancelTimers{Campaign: invoiceID})
	st.note("campaign for invoice %s ended: %s", invoiceID, why)
	st.handBack(c)
	return true
}

// campaignVars are the facts of a dunning email (email.go lists the vars).
func (st *subStep) campaignVars(c *Campaign) map[string]string {
	inv, _ := st.s.Invoice(c.InvoiceID)
	v := map[string]string{"invoice_id": c.InvoiceID, "hosted_url": inv.HostedURL,
		"reason": c.DeclineCode, "attempt": fmt.Sprint(c.Attempts)}
	setMoney(v, "amount", "amount_minor", inv.AmountDue, inv.Currency)
	setEmailTime(v, "next_retry", c.NextRetryAt)
	return v
}

// failed handles invoice.payment_failed (action: payment_action_required)
// for an open invoice. The first invoice of a subscription is not dunned:
// Stripe keeps the subscription incomplete and, unpaid after 23 hours,
// expires it to incomplete_expired and voids the invoice
// (docs.stripe.com/billing/subscriptions/overview#payment-status); the
// customer is asked once to complete the payment. Invoices sent for manual
// payment (collection_method send_invoice) are not charged, so not dunned.
func (st *subStep) failed(id string, ev Event, action bool) {
	s := st.s
	inv, _ := s.Invoice(id)
	vars := map[string]string{"invoice_id": id, "hosted_url": inv.HostedURL, "reason": firstNonEmpty(ev.DeclineCode, ev.FailureCode)}
	setMoney(vars, "amount", "amount_minor", inv.AmountDue, inv.Currency)
	switch {
	case inv.BillingReason == "subscription_create" || s.Status == StatusIncomplete:
		if action {
			st.email(id+"/action-required", PurposeActionRequired, vars)
		} else {
			st.email(id+"/incomplete", PurposeSubscriptionIncomplete, vars)
		}
		st.note("first invoice %s not paid: subscription stays incomplete, no retries", id)
		return
	case s.Terminal():
		st.note("payment for invoice %s failed after the subscription ended", id)
		return
	case inv.CollectionMethod == "send_invoice":
		st.note("payment for invoice %s (send_invoice) failed: the customer pays it themselves", id)
		return
	}
	c := s.campaign(id)
	if c == nil {
		st.startCampaign(id, ev, action)
		return
	}
	c.DeclineCode = firstNonEmpty(ev.DeclineCode, c.DeclineCode)
	switch {
	case c.Final:
	case action && !c.ActionRequired:
		c.ActionRequired, c.NextRetryAt = true, nil
		st.email(id+"/action-required", PurposeActionRequired, st.campaignVars(c))
		st.retime(c)
	case c.Policy.IsHardDecline(ev.DeclineCode) && !c.HardDecline:
		st.hardDecline(c)
	case c.Policy.Mode == ModeStripe && ev.AttemptCount > c.StripeAttempt && !c.HardDecline && !c.ActionRequired:
		c.StripeAttempt, c.Attempts = ev.AttemptCount, int(ev.AttemptCount)-1
		c.StripeNextAttempt = ev.NextPaymentAttempt
		if ev.DeclineCode == "" && !c.DeclinePending {
			// The reminder waits for this attempt's decline (decline.go).
			c.DeclineAttempt = ev.AttemptCount
			st.fetchDecline(c, ev)
			return
		}
		st.stripeReminder(c)
	default:
		// Our own retry makes Stripe send this too; the retry's result
		// already told the customer.
		st.note("payment for invoice %s failed again (attempt %d)", id, ev.AttemptCount)
	}
}

func (st *subStep) startCampaign(id string, ev Event, action bool) {
	p, now := st.p.clone(), st.now
	c := Campaign{InvoiceID: id, Policy: p, FailedAt: now, GraceEndsAt: now.Add(p.Grace),
		DeclineCode: firstNonEmpty(ev.DeclineCode, ev.FailureCode), StripeAttempt: ev.AttemptCount}
	payflowRetries := p.payflowRetries()
	if payflowRetries {
		final := now.Add(p.horizon())
		c.FinalAt = &final
	}
	st.s.Campaigns = append(st.s.Campaigns, c)
	cp := st.s.campaign(id)
	st.note("payment for invoice %s failed: campaign started (%s mode)", id, p.Mode)
	if payflowRetries {
		st.takeOver(cp) // payflow alone retries it (takeover.go)
	}
	cp.StripeNextAttempt = ev.NextPaymentAttempt
	switch {
	case action:
		cp.ActionRequired = true
		st.email(id+"/action-required", PurposeActionRequired, st.campaignVars(cp))
		st.retime(cp)
	case ev.DeclineCode == "":
		// Invoice events carry no decline: Stripe is asked first (decline.go).
		st.fetchDecline(cp, ev)
		st.retime(cp)
	default:
		st.classify(cp) // hard decline or first retry (decline.go)
	}
}

// hardDecline stops retries that cannot succeed and asks for another card.
func (st *subStep) hardDecline(c *Campaign) {
	c.HardDecline, c.NextRetryAt = true, nil
	st.note("hard decline (%s) for invoice %s: retries stopped", c.DeclineCode, c.InvoiceID)
	st.email(c.InvoiceID+"/hard-decline", PurposeDunningHardDecline, st.campaignVars(c))
	st.retime(c)
}

// charge starts the campaign's next retry: RetryCharge with the next
// attempt number, whose idempotency key <workflow>/<invoice>/retry-<n> is
// new for every attempt (a scheduled retry, a new card, an operator's).
func (st *subStep) charge(c *Campaign) {
	c.ChargePending, c.NextRetryAt = c.Attempts+1, nil
	st.emit(RetryCharge{SubscriptionID: st.s.ID, InvoiceID: c.InvoiceID, Attempt: c.ChargePending,
		IdempotencyKey: fmt.Sprintf("%s/%s/retry-%d", st.s.Source(), c.InvoiceID, c.ChargePending)})
}
