package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
)

// DisputeInput starts a dispute workflow.
type DisputeInput struct {
	DisputeID string `json:"dispute_id"`
	// RemindBefore is how long before the evidence deadline the operator is
	// reminded (0: 48h).
	RemindBefore time.Duration `json:"remind_before,omitempty"`
}

// Dispute statuses (PayflowStatus).
const (
	DisputeNeedsResponse = "needs_response"
	DisputeUnderReview   = "under_review"
	DisputeWon           = "won"
	DisputeLost          = "lost"
)

// DisputeState is the dispute workflow's whole state.
type DisputeState struct {
	DisputeID      string `json:"dispute_id"`
	ChargeID       string `json:"charge,omitempty"`
	PaymentIntent  string `json:"payment_intent,omitempty"`
	CustomerID     string `json:"customer_id,omitempty"`
	OrderID        string `json:"order_id,omitempty"`
	ProductID      string `json:"product,omitempty"`
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency,omitempty"`
	Reason         string `json:"reason,omitempty"`
	StripeStatus   string `json:"stripe_status,omitempty"`
	Status         string `json:"status"`
	EvidenceDueBy  int64  `json:"evidence_due_by,omitempty"`
	Reminded       bool   `json:"reminded"`
	AccessAffected bool   `json:"access_affected"`
	Done           bool   `json:"done"`
	Dedupe
	Steps []Step `json:"steps"`
}

type disputeImpl struct {
	ctx workflow.Context
	in  DisputeInput
	s   DisputeState
}

// DisputeWorkflow follows one chargeback from charge.dispute.created to
// charge.dispute.closed: it suspends the access the charge bought, alerts
// the operator, reminds them before the evidence deadline unless evidence
// was submitted, and restores or revokes access by the outcome.
func DisputeWorkflow(ctx workflow.Context, in DisputeInput) (DisputeState, error) {
	wf := &disputeImpl{ctx: ctx, in: in, s: DisputeState{DisputeID: in.DisputeID, Status: DisputeNeedsResponse}}
	// Start from what the receiver set (PayflowStatus=received), so that
	// setStatus(needs_response) on charge.dispute.created upserts it.
	// Version 1 adds that upsert; older histories replay without it.
	if workflow.GetVersion(ctx, "dispute-status-from-received", workflow.DefaultVersion, 1) >= 1 {
		wf.s.Status = StatusReceived
	}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (DisputeState, error) { return wf.s, nil }); err != nil {
		return wf.s, err
	}
	err := wf.run()
	return wf.s, err
}

func (wf *disputeImpl) remindBefore() time.Duration {
	if wf.in.RemindBefore > 0 {
		return wf.in.RemindBefore
	}
	return 48 * time.Hour
}

func (wf *disputeImpl) run() error {
	ctx := wf.ctx
	ch := workflow.GetSignalChannel(ctx, SignalEvent)
	for !wf.s.Done {
		var ev payflow.Event
		got, fired := false, false
		tctx, cancel := workflow.WithCancel(ctx)
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &ev); got = true })
		if !wf.s.Reminded && wf.s.EvidenceDueBy > 0 && wf.s.Status == DisputeNeedsResponse {
			wait := time.Unix(wf.s.EvidenceDueBy, 0).Add(-wf.remindBefore()).Sub(workflow.Now(ctx))
			if wait < 0 {
				wait = 0
			}
			sel.AddFuture(workflow.NewTimer(tctx, wait), func(workflow.Future) { fired = true })
		}
		sel.Select(ctx)
		cancel()
		var err error
		switch {
		case got:
			err = wf.handle(ev)
		case fired:
			err = wf.remind()
		}
		if err != nil {
			return err
		}
	}
	return drain(ch, wf.handle)
}

func (wf *disputeImpl) note(what string) {
	wf.s.Steps = addStep(wf.s.Steps, workflow.Now(wf.ctx), what)
	due := ""
	if wf.s.EvidenceDueBy > 0 {
		due = "; evidence due " + fmtDate(time.Unix(wf.s.EvidenceDueBy, 0))
	}
	workflow.SetCurrentDetails(wf.ctx, fmt.Sprintf("dispute %s: %s (%s, %s)%s — %s", wf.s.DisputeID, wf.s.Status,
		activities.FormatAmount(wf.s.Amount, wf.s.Currency), wf.s.Reason, due, what))
}

func (wf *disputeImpl) vars() map[string]string {
	s := wf.s
	due := "unknown"
	if s.EvidenceDueBy > 0 {
		due = fmtDate(time.Unix(s.EvidenceDueBy, 0))
	}
	policy := "none found"
	if s.AccessAffected {
		policy = "suspended until the dispute closes"
	}
	return map[string]string{"dispute_id": s.DisputeID, "charge_id": s.ChargeID, "amount": activities.FormatAmount(s.Amount, s.Currency),
		"reason": s.Reason, "due_by": due, "status": s.Status, "policy": policy}
}

func (wf *disputeImpl) operatorEmail(step, purpose string) error {
	return sendEmail(wf.ctx, activities.EmailRequest{DedupeKey: DisputeID(wf.s.DisputeID) + "/" + step,
		Purpose: purpose, ToOperator: true, Vars: wf.vars()})
}

func (wf *disputeImpl) setStatus(status string) error {
	if wf.s.Status == status {
		return nil
	}
	wf.s.Status = status
	return upsertStatus(wf.ctx, status)
}

func (wf *disputeImpl) handle(ev payflow.Event) error {
	ctx := wf.ctx
	fresh, err := firstTime(ctx, &wf.s.Dedupe, ev)
	if err != nil || !fresh {
		return err
	}
	s := &wf.s
	s.ChargeID = firstNonEmpty(ev.ChargeID, s.ChargeID)
	s.PaymentIntent = firstNonEmpty(ev.PaymentIntent, s.PaymentIntent)
	s.Reason = firstNonEmpty(ev.DisputeReason, s.Reason)
	s.Currency = firstNonEmpty(ev.Currency, s.Currency)
	if ev.Amount > 0 {
		s.Amount = ev.Amount
	}
	if ev.EvidenceDueBy > 0 {
		s.EvidenceDueBy = ev.EvidenceDueBy
	}
	s.StripeStatus = firstNonEmpty(ev.Status, s.StripeStatus)
	if err := workflow.ExecuteActivity(activityCtx(ctx), a.RecordDispute, payflow.Dispute{
		ID: s.DisputeID, ChargeID: s.ChargeID, PaymentIntent: s.PaymentIntent, CustomerID: firstNonEmpty(ev.CustomerID, s.CustomerID),
		Amount: s.Amount, Currency: s.Currency, Reason: s.Reason, Status: s.StripeStatus, EvidenceDueBy: s.EvidenceDueBy,
		StripeCreated: ev.Created,
	}).Get(ctx, nil); err != nil {
		return err
	}
	if err := wf.findOrder(); err != nil {
		return err
	}
	switch ev.Type {
	case "charge.dispute.created":
		if err := wf.applyAccess(payflow.AccessSuspended, "disputed"); err != nil {
			return err
		}
		workflow.GetMetricsHandler(ctx).Counter("payflow_disputes_opened").Inc(1)
		wf.note("dispute opened")
		if err := wf.operatorEmail("opened", activities.PurposeDisputeAlert); err != nil {
			return err
		}
		return wf.followStatus(ev.Status)
	case "charge.dispute.updated":
		wf.note("dispute updated (" + ev.Status + ")")
		return wf.followStatus(ev.Status)
	case "charge.dispute.closed":
		return wf.closed(ev.Status)
	}
	return nil
}

// followStatus maps Stripe's dispute status: once evidence is submitted the
// dispute is under review and no reminder is due.
func (wf *disputeImpl) followStatus(stripeStatus string) error {
	switch stripeStatus {
	case "under_review", "warning_under_review":
		return wf.setStatus(DisputeUnderReview)
	case "won", "lost", "warning_closed", "charge_refunded":
		return wf.closed(stripeStatus)
	}
	return wf.setStatus(DisputeNeedsResponse)
}

func (wf *disputeImpl) findOrder() error {
	if wf.s.OrderID != "" || (wf.s.ChargeID == "" && wf.s.PaymentIntent == "") {
		return nil
	}
	var o *payflow.Order
	if err := workflow.ExecuteActivity(activityCtx(wf.ctx), a.FindOrderByCharge, wf.s.ChargeID, wf.s.PaymentIntent).Get(wf.ctx, &o); err != nil {
		return err
	}
	if o != nil {
		wf.s.OrderID, wf.s.ProductID = o.ID, o.ProductID
		wf.s.CustomerID = firstNonEmpty(wf.s.CustomerID, o.CustomerID)
		if err := upsertCustomer(wf.ctx, wf.s.CustomerID); err != nil {
			return err
		}
	}
	return nil
}

// applyAccess changes the access bought by the disputed charge (the default
// policy: suspend while disputed, restore if won, revoke if lost).
func (wf *disputeImpl) applyAccess(status, reason string) error {
	if wf.s.OrderID == "" || wf.s.CustomerID == "" {
		return nil
	}
	wf.s.AccessAffected = true
	return setAccess(wf.ctx, activities.AccessChange{CustomerID: wf.s.CustomerID, ProductID: firstNonEmpty(wf.s.ProductID, "default"),
		Status: status, Source: DisputeID(wf.s.DisputeID), Reason: reason})
}

func (wf *disputeImpl) remind() error {
	wf.s.Reminded = true
	wf.note("evidence reminder sent")
	return wf.operatorEmail("reminder", activities.PurposeDisputeReminder)
}

func (wf *disputeImpl) closed(stripeStatus string) error {
	won := stripeStatus == "won" || stripeStatus == "warning_closed"
	status := DisputeLost
	if won {
		status = DisputeWon
	}
	access, reason := payflow.AccessRevoked, "dispute lost"
	if won {
		access, reason = payflow.AccessGranted, "dispute won"
	}
	restore := true
	if won && wf.s.OrderID != "" &&
		workflow.GetVersion(wf.ctx, "won-dispute-checks-refund", workflow.DefaultVersion, 1) >= 1 {
		// The merchant may have refunded the order while the dispute ran:
		// winning the dispute then restores nothing the customer paid for.
		var o *payflow.Order
		if err := workflow.ExecuteActivity(activityCtx(wf.ctx), a.LoadOrder, wf.s.OrderID).Get(wf.ctx, &o); err != nil {
			return err
		}
		if o != nil && o.Status == payflow.OrderRefunded {
			restore = false
			wf.note("dispute won, but order " + wf.s.OrderID + " was refunded meanwhile: access stays revoked")
		}
	}
	if restore {
		if err := wf.applyAccess(access, reason); err != nil {
			return err
		}
	}
	if !won && wf.s.OrderID != "" {
		if err := workflow.ExecuteActivity(activityCtx(wf.ctx), a.RecordOrder, activities.OrderRecord{
			OrderID: wf.s.OrderID, Status: payflow.OrderDisputed, Reason: "dispute " + wf.s.DisputeID + " lost",
		}).Get(wf.ctx, nil); err != nil {
			return err
		}
	}
	if err := wf.setStatus(status); err != nil {
		return err
	}
	wf.s.Done = true
	workflow.GetMetricsHandler(wf.ctx).WithTags(map[string]string{"outcome": status}).Counter("payflow_disputes_closed").Inc(1)
	wf.note("dispute closed: " + status)
	return wf.operatorEmail("closed", activities.PurposeDisputeClosed)
}
