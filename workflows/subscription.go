package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
)

// SubscriptionInput starts (or continues) a subscription workflow.
type SubscriptionInput struct {
	State SubscriptionState `json:"state"`
	// MaxEventsPerRun continues-as-new after this many events or timers in
	// one run (0: 500), besides whenever Temporal suggests it.
	MaxEventsPerRun int `json:"max_events_per_run,omitempty"`
}

// PayflowStatus values of a subscription.
const (
	SubActive     = "active"
	SubTrialing   = "trialing"
	SubPastDue    = "past_due"
	SubSuspended  = "suspended"
	SubUnpaid     = "unpaid"
	SubCanceled   = "canceled"
	SubPaused     = "paused"
	SubIncomplete = "incomplete"
)

// Dunning stages.
const (
	StageRetrying       = "retrying"
	StageAwaitCustomer  = "awaiting_customer" // hard decline or SCA: only the customer can fix it
	StageStripeRetrying = "stripe_retrying"
	StageSuspended      = "suspended"
	StageFinal          = "ended_unrecovered"
)

const maxPaidInvoices = 200

// SubscriptionState is the subscription workflow's whole state. It is handed
// whole to continue-as-new, campaign and seen event IDs included.
type SubscriptionState struct {
	SubscriptionID    string    `json:"subscription_id"`
	CustomerID        string    `json:"customer_id,omitempty"`
	Email             string    `json:"email,omitempty"`
	ProductID         string    `json:"product,omitempty"`
	StripeStatus      string    `json:"stripe_status,omitempty"`
	Status            string    `json:"status"` // PayflowStatus
	CurrentPeriodEnd  int64     `json:"current_period_end,omitempty"`
	CancelAtPeriodEnd bool      `json:"cancel_at_period_end,omitempty"`
	SnapshotCreated   int64     `json:"snapshot_created,omitempty"`
	Access            string    `json:"access,omitempty"`
	PaidInvoices      []string  `json:"paid_invoices,omitempty"`
	Campaign          *Campaign `json:"campaign,omitempty"`
	Recovered         int       `json:"campaigns_recovered"`
	Unrecovered       int       `json:"campaigns_unrecovered"`
	Ended             bool      `json:"ended"`
	Runs              int       `json:"runs"` // continue-as-new count
	Details           string    `json:"details"`
	Dedupe
	Steps []Step `json:"steps"`
}

// Campaign is one dunning campaign for one unpaid invoice. Times are
// absolute, so a campaign resumes exactly after continue-as-new or a deploy.
type Campaign struct {
	InvoiceID      string                   `json:"invoice_id"`
	HostedURL      string                   `json:"hosted_url,omitempty"`
	Amount         int64                    `json:"amount"`
	Currency       string                   `json:"currency,omitempty"`
	Policy         activities.DunningPolicy `json:"policy"`
	FailedAt       time.Time                `json:"failed_at"`
	Attempts       int                      `json:"attempts"` // payflow retries made
	NextRetryAt    *time.Time               `json:"next_retry_at,omitempty"`
	GraceEndsAt    time.Time                `json:"grace_ends_at"`
	FinalAt        *time.Time               `json:"final_at,omitempty"`
	Suspended      bool                     `json:"suspended"`
	HardDecline    bool                     `json:"hard_decline"`
	ActionRequired bool                     `json:"action_required"`
	DeclineCode    string                   `json:"decline_code,omitempty"`
	StripeAttempt  int64                    `json:"stripe_attempt,omitempty"`
	Stage          string                   `json:"stage"`
}

type subscriptionImpl struct {
	ctx     workflow.Context
	in      SubscriptionInput
	s       *SubscriptionState
	handled int
}

// SubscriptionWorkflow mirrors one Stripe subscription for its whole life:
// its status, the customer's access and, when a payment fails, the dunning
// campaign that chases it.
func SubscriptionWorkflow(ctx workflow.Context, in SubscriptionInput) (SubscriptionState, error) {
	wf := &subscriptionImpl{ctx: ctx, in: in, s: &in.State}
	if wf.s.Status == "" {
		// What the receiver set at start; the first snapshot or invoice
		// replaces it.
		wf.s.Status = StatusReceived
	}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (SubscriptionState, error) { return *wf.s, nil }); err != nil {
		return *wf.s, err
	}
	err := wf.run()
	return *wf.s, err
}

func (wf *subscriptionImpl) maxEvents() int {
	if wf.in.MaxEventsPerRun > 0 {
		return wf.in.MaxEventsPerRun
	}
	return 500
}

func (wf *subscriptionImpl) run() error {
	ctx := wf.ctx
	ch := workflow.GetSignalChannel(ctx, SignalEvent)
	if wf.s.Runs > 0 {
		wf.describe()
	}
	for !wf.s.Ended {
		if wf.handled >= wf.maxEvents() || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			if err := wf.drain(ch); err != nil {
				return err
			}
			if wf.s.Ended {
				break
			}
			wf.s.Runs++
			return workflow.NewContinueAsNewError(ctx, SubscriptionWorkflow, SubscriptionInput{State: *wf.s, MaxEventsPerRun: wf.in.MaxEventsPerRun})
		}
		var ev payflow.Event
		got, fired := false, false
		tctx, cancel := workflow.WithCancel(ctx)
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &ev); got = true })
		if at := wf.nextDeadline(); at != nil {
			wait := at.Sub(workflow.Now(ctx))
			if wait < 0 {
				wait = 0
			}
			sel.AddFuture(workflow.NewTimer(tctx, wait), func(workflow.Future) { fired = true })
		}
		sel.Select(ctx)
		cancel()
		wf.handled++
		var err error
		if got {
			err = wf.handle(ev)
		} else if fired {
			err = wf.onDeadline()
		}
		if err != nil {
			return err
		}
	}
	return wf.drain(ch)
}

// drain applies every signal already delivered, so none is lost when the
// run continues-as-new or ends.
func (wf *subscriptionImpl) drain(ch workflow.ReceiveChannel) error { return drain(ch, wf.handle) }

func (wf *subscriptionImpl) now() time.Time { return workflow.Now(wf.ctx).UTC() }

func (wf *subscriptionImpl) note(what string) {
	wf.s.Steps = addStep(wf.s.Steps, wf.now(), what)
	wf.describe()
}

// describe sets the one line the Temporal UI shows for this workflow.
func (wf *subscriptionImpl) describe() {
	s := wf.s
	parts := []string{fmt.Sprintf("%s: %s", s.SubscriptionID, s.Status)}
	if c := s.Campaign; c != nil {
		parts = append(parts, "payment failed "+fmtDate(c.FailedAt))
		switch {
		case c.ActionRequired:
			parts = append(parts, "waiting for the customer to authenticate")
		case c.HardDecline:
			parts = append(parts, "hard decline ("+c.DeclineCode+"): waiting for a new card")
		case c.NextRetryAt != nil:
			parts = append(parts, fmt.Sprintf("retry %d of %d on %s", c.Attempts+1, len(c.Policy.RetryDelays), fmtDate(*c.NextRetryAt)))
		case c.Policy.Mode == activities.ModeStripe:
			parts = append(parts, "Stripe is retrying")
		}
		if c.Suspended {
			parts = append(parts, "access suspended")
		} else {
			parts = append(parts, "access suspended from "+fmtDate(c.GraceEndsAt))
		}
		if c.FinalAt != nil {
			parts = append(parts, fmt.Sprintf("final action (%s) on %s", c.Policy.FinalAction, fmtDate(*c.FinalAt)))
		}
	} else if s.CurrentPeriodEnd > 0 {
		verb := "renews"
		if s.CancelAtPeriodEnd {
			verb = "ends"
		}
		parts = append(parts, verb+" "+fmtDate(time.Unix(s.CurrentPeriodEnd, 0)))
	}
	s.Details = strings.Join(parts, "; ")
	workflow.SetCurrentDetails(wf.ctx, s.Details)
}

func (wf *subscriptionImpl) setStatus(status string) error {
	if wf.s.Status == status {
		return nil
	}
	wf.s.Status = status
	return upsertStatus(wf.ctx, status)
}

func (wf *subscriptionImpl) handle(ev payflow.Event) error {
	ctx := wf.ctx
	fresh, err := firstTime(ctx, &wf.s.Dedupe, ev)
	if err != nil {
		return err
	}
	if !fresh {
		workflow.GetLogger(ctx).Info("duplicate event ignored", "event_id", ev.ID, "type", ev.Type)
		return nil
	}
	s := wf.s
	if s.CustomerID == "" && ev.CustomerID != "" {
		s.CustomerID = ev.CustomerID
		if err := upsertCustomer(ctx, s.CustomerID); err != nil {
			return err
		}
	}
	if ev.Email != "" {
		s.Email = ev.Email
	}
	if ev.ProductID != "" {
		s.ProductID = ev.ProductID
	}
	if s.Ended {
		return nil
	}
	switch ev.Type {
	case "invoice.paid", "invoice.payment_succeeded":
		return wf.onPaid(ev)
	case "invoice.payment_failed":
		return wf.onFailed(ev)
	case "invoice.payment_action_required":
		return wf.onActionRequired(ev)
	case "customer.subscription.trial_will_end":
		return sendEmail(ctx, wf.email(fmt.Sprintf("trial-%d", ev.TrialEnd), activities.PurposeTrialEnding,
			map[string]string{"trial_end": fmtDate(time.Unix(ev.TrialEnd, 0))}))
	case "checkout.session.completed":
		wf.note("checkout completed")
		return nil
	}
	if strings.HasPrefix(ev.Type, "customer.subscription.") {
		return wf.onSnapshot(ev)
	}
	workflow.GetLogger(ctx).Warn("event type not handled by the subscription workflow", "event_id", ev.ID, "type", ev.Type)
	return nil
}

func (wf *subscriptionImpl) email(step, purpose string, vars map[string]string) activities.EmailRequest {
	if vars == nil {
		vars = map[string]string{}
	}
	vars["subscription_id"] = wf.s.SubscriptionID
	if c := wf.s.Campaign; c != nil {
		vars["invoice_id"] = c.InvoiceID
		vars["hosted_url"] = c.HostedURL
		vars["amount"] = activities.FormatAmount(c.Amount, c.Currency)
		vars["reason"] = c.DeclineCode
		if c.NextRetryAt != nil {
			vars["next_retry"] = fmtDate(*c.NextRetryAt)
		}
		vars["attempt"] = fmt.Sprint(c.Attempts)
	}
	return activities.EmailRequest{DedupeKey: SubscriptionID(wf.s.SubscriptionID) + "/" + step, Purpose: purpose,
		To: wf.s.Email, CustomerID: wf.s.CustomerID, Vars: vars}
}

func (wf *subscriptionImpl) product() string {
	if wf.s.ProductID != "" {
		return wf.s.ProductID
	}
	return "default"
}

func (wf *subscriptionImpl) access(status, reason string) error {
	if wf.s.CustomerID == "" {
		workflow.GetLogger(wf.ctx).Warn("access change without a customer", "status", status)
		return nil
	}
	ch := activities.AccessChange{CustomerID: wf.s.CustomerID, ProductID: wf.product(), Status: status,
		Source: SubscriptionID(wf.s.SubscriptionID), Reason: reason}
	if status == payflow.AccessGranted && wf.s.CurrentPeriodEnd > 0 {
		t := time.Unix(wf.s.CurrentPeriodEnd, 0).UTC()
		ch.ValidUntil = &t
	}
	if err := setAccess(wf.ctx, ch); err != nil {
		return err
	}
	wf.s.Access = status
	return nil
}

// record writes the subscription row. Changes payflow makes itself carry
// the created time of the last snapshot applied, which the store's guard
// accepts (equal is not older).
func (wf *subscriptionImpl) record(stripeCreated int64) error {
	s := wf.s
	if stripeCreated < s.SnapshotCreated {
		stripeCreated = s.SnapshotCreated
	}
	stage := ""
	if s.Campaign != nil {
		stage = s.Campaign.Stage
	}
	return workflow.ExecuteActivity(activityCtx(wf.ctx), a.RecordSubscription, activities.SubscriptionRecord{
		SubscriptionID: s.SubscriptionID, CustomerID: s.CustomerID, Email: s.Email, Status: s.Status,
		DunningStage: stage, CurrentPeriodEnd: s.CurrentPeriodEnd, CancelAtPeriodEnd: s.CancelAtPeriodEnd,
		StripeCreated: stripeCreated,
	}).Get(wf.ctx, nil)
}

func (wf *subscriptionImpl) recordInvoice(ev payflow.Event, status string) error {
	return workflow.ExecuteActivity(activityCtx(wf.ctx), a.RecordInvoice, activities.InvoiceRecord{
		InvoiceID: ev.InvoiceID, CustomerID: ev.CustomerID, SubscriptionID: wf.s.SubscriptionID,
		Amount: ev.Amount, Currency: ev.Currency, Status: status, StripeCreated: ev.Created,
	}).Get(wf.ctx, nil)
}

func (wf *subscriptionImpl) invoicePaid(id string) bool {
	for _, p := range wf.s.PaidInvoices {
		if p == id {
			return true
		}
	}
	return false
}

// onPaid handles invoice.paid and invoice.payment_succeeded: Stripe sends
// both for one payment, so the invoice ID (not the event ID) dedupes them.
func (wf *subscriptionImpl) onPaid(ev payflow.Event) error {
	s := wf.s
	if ev.InvoiceID == "" {
		return nil
	}
	if wf.invoicePaid(ev.InvoiceID) {
		// Already handled (the other of the pair, or our own retry, or a
		// re-read of Stripe): no second receipt, but the invoice row must
		// still say paid, since a retry or re-read does not write it.
		// Version 1 adds the write; older histories replay without it.
		if workflow.GetVersion(wf.ctx, "record-repaid-invoice", workflow.DefaultVersion, 1) >= 1 {
			return wf.recordInvoice(ev, "paid")
		}
		return nil
	}
	s.PaidInvoices = append(s.PaidInvoices, ev.InvoiceID)
	if len(s.PaidInvoices) > maxPaidInvoices {
		s.PaidInvoices = append([]string(nil), s.PaidInvoices[len(s.PaidInvoices)-maxPaidInvoices:]...)
	}
	if ev.CurrentPeriodEnd > s.CurrentPeriodEnd {
		s.CurrentPeriodEnd = ev.CurrentPeriodEnd
	}
	if err := wf.recordInvoice(ev, "paid"); err != nil {
		return err
	}
	if s.Campaign != nil && (s.Campaign.InvoiceID == ev.InvoiceID || ev.AttemptCount > 0) {
		return wf.recovered("invoice " + ev.InvoiceID + " paid")
	}
	if s.Campaign != nil && workflow.GetVersion(wf.ctx, "other-invoice-keeps-campaign", workflow.DefaultVersion, 1) >= 1 {
		// Another invoice (a one-off charge, say) paid without a collection
		// attempt while the campaign's invoice is still unpaid: a receipt,
		// but access and status stay the campaign's to decide.
		if err := wf.record(0); err != nil {
			return err
		}
		wf.note("invoice " + ev.InvoiceID + " paid; the campaign for " + s.Campaign.InvoiceID + " goes on")
		return wf.invoiceReceipt(ev)
	}
	if s.StripeStatus == "" || s.StripeStatus == "incomplete" || s.StripeStatus == "past_due" || s.StripeStatus == "trialing" && ev.Amount > 0 {
		s.StripeStatus = "active"
	}
	if err := wf.access(payflow.AccessGranted, "invoice paid"); err != nil {
		return err
	}
	if err := wf.setStatus(SubActive); err != nil {
		return err
	}
	if err := wf.record(0); err != nil {
		return err
	}
	wf.note("invoice " + ev.InvoiceID + " paid; access until " + fmtDate(time.Unix(s.CurrentPeriodEnd, 0)))
	return wf.invoiceReceipt(ev)
}

func (wf *subscriptionImpl) invoiceReceipt(ev payflow.Event) error {
	return sendEmail(wf.ctx, wf.email("invoice/"+ev.InvoiceID+"/receipt", activities.PurposeInvoiceReceipt, map[string]string{
		"invoice_id": ev.InvoiceID, "amount": activities.FormatAmount(ev.Amount, ev.Currency),
		"period_end": fmtDate(time.Unix(wf.s.CurrentPeriodEnd, 0)),
	}))
}

func (wf *subscriptionImpl) onFailed(ev payflow.Event) error {
	s := wf.s
	if wf.invoicePaid(ev.InvoiceID) {
		return nil // a late failure for an invoice already paid
	}
	if err := wf.recordInvoice(ev, "open"); err != nil {
		return err
	}
	if s.Campaign == nil || s.Campaign.InvoiceID != ev.InvoiceID {
		return wf.startCampaign(ev, false)
	}
	c := s.Campaign
	c.DeclineCode = firstNonEmpty(ev.DeclineCode, c.DeclineCode)
	if activities.IsHardDecline(ev.DeclineCode) && !c.HardDecline {
		return wf.hardDecline()
	}
	if c.Policy.Mode == activities.ModeStripe && ev.AttemptCount > c.StripeAttempt && !c.HardDecline && !c.ActionRequired {
		// Stripe's own retry failed: remind the customer once per attempt.
		c.StripeAttempt = ev.AttemptCount
		c.Attempts = int(ev.AttemptCount) - 1
		wf.note(fmt.Sprintf("Stripe retry %d failed", c.Attempts))
		return sendEmail(wf.ctx, wf.email(fmt.Sprintf("%s/stripe-attempt-%d", c.InvoiceID, ev.AttemptCount), activities.PurposeDunningReminder, nil))
	}
	// In payflow mode our own retries make Stripe send this event too; the
	// retry already told the customer.
	return nil
}

func (wf *subscriptionImpl) onActionRequired(ev payflow.Event) error {
	s := wf.s
	if wf.invoicePaid(ev.InvoiceID) {
		return nil
	}
	if s.Campaign == nil || s.Campaign.InvoiceID != ev.InvoiceID {
		return wf.startCampaign(ev, true)
	}
	c := s.Campaign
	c.ActionRequired, c.NextRetryAt, c.Stage = true, nil, StageAwaitCustomer
	if ev.HostedInvoiceURL != "" {
		c.HostedURL = ev.HostedInvoiceURL
	}
	wf.note("customer must authenticate the payment (3-D Secure)")
	return sendEmail(wf.ctx, wf.email(c.InvoiceID+"/action-required", activities.PurposeActionRequired, nil))
}

func (wf *subscriptionImpl) startCampaign(ev payflow.Event, actionRequired bool) error {
	ctx := wf.ctx
	var policy activities.DunningPolicy
	if err := workflow.ExecuteActivity(activityCtx(ctx), a.GetDunningPolicy).Get(ctx, &policy); err != nil {
		return err
	}
	now := wf.now()
	c := &Campaign{InvoiceID: ev.InvoiceID, HostedURL: ev.HostedInvoiceURL, Amount: ev.Amount, Currency: ev.Currency,
		Policy: policy, FailedAt: now, GraceEndsAt: now.Add(policy.Grace), DeclineCode: ev.DeclineCode,
		StripeAttempt: ev.AttemptCount}
	if policy.Mode == activities.ModePayflow && len(policy.RetryDelays) > 0 {
		final := now.Add(policy.RetryDelays[len(policy.RetryDelays)-1])
		c.FinalAt = &final
	}
	wf.s.Campaign = c
	workflow.GetMetricsHandler(ctx).Counter("payflow_dunning_campaigns_started").Inc(1)
	if err := wf.setStatus(SubPastDue); err != nil {
		return err
	}
	wf.s.StripeStatus = "past_due"
	switch {
	case actionRequired:
		c.ActionRequired, c.Stage = true, StageAwaitCustomer
		if err := wf.record(0); err != nil {
			return err
		}
		wf.note("payment needs the customer's authentication (3-D Secure)")
		return sendEmail(ctx, wf.email(c.InvoiceID+"/action-required", activities.PurposeActionRequired, nil))
	case activities.IsHardDecline(ev.DeclineCode):
		return wf.hardDecline()
	}
	if policy.Mode == activities.ModePayflow && len(policy.RetryDelays) > 0 {
		next := now.Add(policy.RetryDelays[0])
		c.NextRetryAt, c.Stage = &next, StageRetrying
	} else {
		c.Stage = StageStripeRetrying
	}
	if err := wf.record(0); err != nil {
		return err
	}
	wf.note("payment failed for invoice " + c.InvoiceID)
	return sendEmail(ctx, wf.email(c.InvoiceID+"/first-failure", activities.PurposeDunningFirst, nil))
}

// hardDecline stops retries that cannot succeed and asks for a new card.
func (wf *subscriptionImpl) hardDecline() error {
	c := wf.s.Campaign
	c.HardDecline, c.NextRetryAt, c.Stage = true, nil, StageAwaitCustomer
	if err := wf.record(0); err != nil {
		return err
	}
	wf.note("hard decline (" + c.DeclineCode + "): retries stopped, asking for another card")
	return sendEmail(wf.ctx, wf.email(c.InvoiceID+"/hard-decline", activities.PurposeDunningHardDecline, nil))
}

func (wf *subscriptionImpl) nextDeadline() *time.Time {
	c := wf.s.Campaign
	if c == nil {
		return nil
	}
	var next *time.Time
	consider := func(t *time.Time) {
		if t != nil && (next == nil || t.Before(*next)) {
			v := *t
			next = &v
		}
	}
	consider(c.NextRetryAt)
	if !c.Suspended {
		consider(&c.GraceEndsAt)
	}
	consider(c.FinalAt)
	return next
}

// onDeadline runs whatever is due: a retry, the end of grace, the final
// action, in that order.
func (wf *subscriptionImpl) onDeadline() error {
	now := wf.now()
	if c := wf.s.Campaign; c != nil && c.NextRetryAt != nil && !now.Before(*c.NextRetryAt) {
		if err := wf.retry(); err != nil {
			return err
		}
	}
	if c := wf.s.Campaign; c != nil && !c.Suspended && !now.Before(c.GraceEndsAt) {
		if err := wf.suspend(); err != nil {
			return err
		}
	}
	if c := wf.s.Campaign; c != nil && c.FinalAt != nil && c.NextRetryAt == nil && !now.Before(*c.FinalAt) {
		return wf.final()
	}
	return nil
}

func (wf *subscriptionImpl) retry() error {
	ctx := wf.ctx
	c := wf.s.Campaign
	c.Attempts++
	var res activities.PayResult
	key := fmt.Sprintf("%s/%s/retry-%d", SubscriptionID(wf.s.SubscriptionID), c.InvoiceID, c.Attempts)
	if err := workflow.ExecuteActivity(activityCtx(ctx), a.PayInvoice, activities.PayRequest{
		InvoiceID: c.InvoiceID, IdempotencyKey: key}).Get(ctx, &res); err != nil {
		return err
	}
	if res.Paid {
		if !wf.invoicePaid(c.InvoiceID) {
			wf.s.PaidInvoices = append(wf.s.PaidInvoices, c.InvoiceID)
		}
		return wf.recovered(fmt.Sprintf("retry %d succeeded", c.Attempts))
	}
	if res.Status == "void" {
		// Before this result existed the activity failed instead (and the
		// workflow with it), so no recorded history reaches this branch.
		return wf.voided(fmt.Sprintf("retry %d found invoice %s void in Stripe", c.Attempts, c.InvoiceID))
	}
	c.DeclineCode = firstNonEmpty(res.DeclineCode, c.DeclineCode)
	if activities.IsHardDecline(res.DeclineCode) {
		return wf.hardDecline()
	}
	delays := c.Policy.RetryDelays
	if c.Attempts < len(delays) {
		next := c.FailedAt.Add(delays[c.Attempts])
		c.NextRetryAt = &next
		wf.note(fmt.Sprintf("retry %d of %d failed (%s)", c.Attempts, len(delays), c.DeclineCode))
		return sendEmail(ctx, wf.email(fmt.Sprintf("%s/reminder-%d", c.InvoiceID, c.Attempts), activities.PurposeDunningReminder, nil))
	}
	c.NextRetryAt = nil
	wf.note(fmt.Sprintf("last retry (%d of %d) failed", c.Attempts, len(delays)))
	return nil
}

// stillUnpaid re-reads Stripe before an irreversible step, so a stale view
// never suspends or cancels a customer who has paid.
func (wf *subscriptionImpl) stillUnpaid() (bool, error) {
	c := wf.s.Campaign
	var b activities.Billing
	if err := workflow.ExecuteActivity(activityCtx(wf.ctx), a.FetchBilling, activities.BillingRequest{
		SubscriptionID: wf.s.SubscriptionID, InvoiceID: c.InvoiceID}).Get(wf.ctx, &b); err != nil {
		return false, err
	}
	if b.InvoicePaid {
		if !wf.invoicePaid(c.InvoiceID) {
			wf.s.PaidInvoices = append(wf.s.PaidInvoices, c.InvoiceID)
		}
		return false, wf.recovered("Stripe reports invoice " + c.InvoiceID + " paid")
	}
	if b.SubscriptionStatus == "canceled" {
		return false, wf.canceled("canceled in Stripe")
	}
	if b.InvoiceStatus == "void" &&
		workflow.GetVersion(wf.ctx, "void-invoice-ends-campaign", workflow.DefaultVersion, 1) >= 1 {
		return false, wf.voided("Stripe reports invoice " + c.InvoiceID + " void")
	}
	return true, nil
}

// voided ends a campaign whose invoice the merchant voided in Stripe: there
// is no longer a debt to collect, so no more retries, no suspension and no
// cancellation; access suspended by the campaign comes back. Whatever Stripe
// decides for the subscription arrives as customer.subscription.updated.
func (wf *subscriptionImpl) voided(why string) error {
	c := wf.s.Campaign
	wf.s.Campaign = nil
	if c.Suspended {
		if err := wf.access(payflow.AccessGranted, "invoice voided"); err != nil {
			return err
		}
	}
	if err := wf.setStatus(SubActive); err != nil {
		return err
	}
	if err := wf.record(0); err != nil {
		return err
	}
	wf.note("campaign ended: " + why)
	return nil
}

func (wf *subscriptionImpl) suspend() error {
	c := wf.s.Campaign
	// Version 1 re-reads Stripe before suspending; runs started before it
	// replay without the extra activity.
	if v := workflow.GetVersion(wf.ctx, "recheck-before-suspend", workflow.DefaultVersion, 1); v >= 1 {
		unpaid, err := wf.stillUnpaid()
		if err != nil || !unpaid {
			return err
		}
	}
	c.Suspended, c.Stage = true, StageSuspended
	if err := wf.access(payflow.AccessSuspended, "payment overdue"); err != nil {
		return err
	}
	if err := wf.setStatus(SubSuspended); err != nil {
		return err
	}
	if err := wf.record(0); err != nil {
		return err
	}
	wf.note("grace period over: access suspended")
	return sendEmail(wf.ctx, wf.email(c.InvoiceID+"/suspended", activities.PurposeSuspended, nil))
}

func (wf *subscriptionImpl) final() error {
	ctx := wf.ctx
	unpaid, err := wf.stillUnpaid()
	if err != nil || !unpaid {
		return err
	}
	c := wf.s.Campaign
	c.Stage = StageFinal
	wf.s.Unrecovered++
	workflow.GetMetricsHandler(ctx).Counter("payflow_dunning_campaigns_unrecovered").Inc(1)
	var sentence string
	switch c.Policy.FinalAction {
	case activities.FinalCancel:
		sentence = "Your subscription has been canceled."
		if err := workflow.ExecuteActivity(activityCtx(ctx), a.CancelSubscription, activities.CancelRequest{
			SubscriptionID: wf.s.SubscriptionID, IdempotencyKey: SubscriptionID(wf.s.SubscriptionID) + "/" + c.InvoiceID + "/cancel",
		}).Get(ctx, nil); err != nil {
			return err
		}
		if err := wf.access(payflow.AccessRevoked, "unpaid: subscription canceled"); err != nil {
			return err
		}
		wf.s.StripeStatus = "canceled"
		if err := wf.setStatus(SubCanceled); err != nil {
			return err
		}
		wf.s.Ended = true
	case activities.FinalUnpaid:
		sentence = "Your subscription is marked unpaid and your access has ended."
		if err := wf.access(payflow.AccessRevoked, "unpaid"); err != nil {
			return err
		}
		if err := wf.setStatus(SubUnpaid); err != nil {
			return err
		}
	default:
		sentence = "Your access stays paused until the invoice is paid."
		if !c.Suspended {
			if err := wf.access(payflow.AccessSuspended, "unpaid"); err != nil {
				return err
			}
			c.Suspended = true
			// Grace outlasting the last retry: the status must say so too.
			// Version 1 adds the status change; older histories replay without it.
			if workflow.GetVersion(ctx, "final-none-suspends-status", workflow.DefaultVersion, 1) >= 1 {
				if err := wf.setStatus(SubSuspended); err != nil {
					return err
				}
			}
		}
	}
	if err := wf.record(0); err != nil {
		return err
	}
	if err := sendEmail(ctx, wf.email(c.InvoiceID+"/final", activities.PurposeDunningFinal, map[string]string{"final": sentence})); err != nil {
		return err
	}
	wf.note("campaign ended unrecovered: final action " + c.Policy.FinalAction)
	if c.Policy.FinalAction == activities.FinalCancel {
		wf.s.Campaign = nil
		return nil
	}
	// unpaid / none: keep the campaign (stage final) so a late payment still
	// counts as a recovery, but nothing more is scheduled.
	c.FinalAt, c.NextRetryAt, c.Suspended = nil, nil, true
	return nil
}

func (wf *subscriptionImpl) recovered(why string) error {
	ctx := wf.ctx
	c := wf.s.Campaign
	wf.s.Campaign = nil
	wf.s.Recovered++
	mh := workflow.GetMetricsHandler(ctx)
	mh.Counter("payflow_dunning_campaigns_recovered").Inc(1)
	mh.Timer("payflow_dunning_time_to_recover").Record(wf.now().Sub(c.FailedAt))
	wf.s.StripeStatus = "active"
	if err := wf.access(payflow.AccessGranted, "payment recovered"); err != nil {
		return err
	}
	if err := wf.setStatus(SubActive); err != nil {
		return err
	}
	if err := wf.record(0); err != nil {
		return err
	}
	wf.note("recovered: " + why)
	req := wf.email(c.InvoiceID+"/recovered", activities.PurposeRecovered, map[string]string{"invoice_id": c.InvoiceID})
	return sendEmail(ctx, req)
}

// canceled ends the subscription: access revoked, any campaign dropped
// without further emails.
func (wf *subscriptionImpl) canceled(why string) error {
	wf.s.Campaign = nil
	wf.s.StripeStatus = "canceled"
	if err := wf.access(payflow.AccessRevoked, why); err != nil {
		return err
	}
	if err := wf.setStatus(SubCanceled); err != nil {
		return err
	}
	if err := wf.record(0); err != nil {
		return err
	}
	wf.s.Ended = true
	wf.note("subscription canceled: " + why)
	return nil
}

// onSnapshot applies customer.subscription.* events. A snapshot older than
// the last one applied (by the event's created time) is ignored.
func (wf *subscriptionImpl) onSnapshot(ev payflow.Event) error {
	s := wf.s
	if ev.Created < s.SnapshotCreated {
		wf.note("stale " + ev.Type + " ignored")
		return nil
	}
	s.SnapshotCreated = ev.Created
	if ev.Status != "" {
		s.StripeStatus = ev.Status
	}
	if ev.CurrentPeriodEnd > 0 {
		s.CurrentPeriodEnd = ev.CurrentPeriodEnd
	}
	s.CancelAtPeriodEnd = ev.CancelAtPeriodEnd
	if ev.Type == "customer.subscription.deleted" || ev.Status == "canceled" || ev.Status == "incomplete_expired" {
		return wf.canceled(ev.Type)
	}
	switch {
	case ev.Type == "customer.subscription.paused" || ev.Status == "paused":
		if err := wf.access(payflow.AccessSuspended, "subscription paused"); err != nil {
			return err
		}
		if err := wf.setStatus(SubPaused); err != nil {
			return err
		}
	case ev.Type == "customer.subscription.resumed" && s.Access == payflow.AccessSuspended && s.Campaign == nil:
		if err := wf.access(payflow.AccessGranted, "subscription resumed"); err != nil {
			return err
		}
		if err := wf.setStatus(SubActive); err != nil {
			return err
		}
	case ev.Status == "unpaid" && s.Campaign == nil:
		if err := wf.access(payflow.AccessRevoked, "unpaid in Stripe"); err != nil {
			return err
		}
		if err := wf.setStatus(SubUnpaid); err != nil {
			return err
		}
	case s.Campaign == nil && (ev.Status == "active" || ev.Status == "trialing"):
		if err := wf.setStatus(ev.Status); err != nil {
			return err
		}
	case s.Campaign == nil && ev.Status == SubIncomplete &&
		workflow.GetVersion(wf.ctx, "show-incomplete-status", workflow.DefaultVersion, 1) >= 1:
		// A subscription waiting for its first payment shows as such.
		if err := wf.setStatus(SubIncomplete); err != nil {
			return err
		}
	}
	if err := wf.workflowRecord(ev); err != nil {
		return err
	}
	wf.note(ev.Type + " (" + ev.Status + ")")
	return nil
}

func (wf *subscriptionImpl) workflowRecord(ev payflow.Event) error { return wf.record(ev.Created) }

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
