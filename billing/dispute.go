package billing

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Dispute statuses as PayflowStatus shows them; Stripe's own status is kept
// beside (StripeStatus).
const (
	DisputeNeedsResponse = "needs_response"
	DisputeUnderReview   = "under_review"
	DisputeWon           = "won"
	DisputeLost          = "lost"
)

// disputeClosed reports Stripe dispute statuses that end the dispute
// (docs.stripe.com/api/disputes/object#dispute_object-status).
func disputeClosed(status string) bool {
	switch status {
	case "won", "lost", "warning_closed", "prevented", "charge_refunded":
		return true
	}
	return false
}

// disputeOutcome maps Stripe's status to payflow's four: an inquiry closed
// without a chargeback (warning_closed) or a prevented dispute leaves the
// money with the merchant, so it reads as won.
func disputeOutcome(status string) string {
	switch status {
	case "under_review", "warning_under_review":
		return DisputeUnderReview
	case "won", "warning_closed", "prevented":
		return DisputeWon
	case "lost", "charge_refunded":
		return DisputeLost
	}
	return DisputeNeedsResponse
}

// DisputePolicy is how the operator is reminded.
type DisputePolicy struct {
	RemindBefore time.Duration `json:"remind_before"` // before the evidence deadline
}

// DefaultDisputePolicy reminds 48 hours before the evidence deadline.
func DefaultDisputePolicy() DisputePolicy { return DisputePolicy{RemindBefore: 48 * time.Hour} }

// MaxPendingForward bounds the dispute events held while the owner of the
// disputed payment is being looked up.
const MaxPendingForward = 20

// Dispute is one chargeback's whole state. Its consequence for access is
// applied by the owner of the disputed payment (the order, or the
// subscription whose invoice it paid), to which each event is forwarded
// (NotifyOwner): a source's access is only ever changed by that source.
type Dispute struct {
	ID             string        `json:"id"`
	ChargeID       string        `json:"charge,omitempty"`
	PaymentIntent  string        `json:"payment_intent,omitempty"`
	InvoiceID      string        `json:"invoice,omitempty"`
	SubscriptionID string        `json:"subscription,omitempty"`
	CustomerID     string        `json:"customer_id,omitempty"`
	Amount         int64         `json:"amount"`
	Currency       string        `json:"currency,omitempty"`
	Reason         string        `json:"reason,omitempty"`
	StripeStatus   string        `json:"stripe_status,omitempty"`
	StatusCreated  int64         `json:"status_created,omitempty"`
	EvidenceDueBy  int64         `json:"evidence_due_by,omitempty"`
	RemindBefore   time.Duration `json:"remind_before"`
	Reminded       bool          `json:"reminded,omitempty"`
	// EvidenceSubmitted: an operator said the evidence went to Stripe
	// (operator update): no reminder is sent any more.
	EvidenceSubmittedBy string           `json:"evidence_submitted_by,omitempty"`
	EvidenceSubmittedAt *time.Time       `json:"evidence_submitted_at,omitempty"`
	FundsWithdrawn      bool             `json:"funds_withdrawn,omitempty"`
	FundsReinstated     bool             `json:"funds_reinstated,omitempty"`
	Owner               string           `json:"owner,omitempty"` // workflow ID of the disputed payment's owner
	OwnerKnown          bool             `json:"owner_known,omitempty"`
	LookupAsked         bool             `json:"lookup_asked,omitempty"`
	Pending             []Event          `json:"pending,omitempty"` // waiting for the owner lookup
	Search              SearchAttributes `json:"search"`
	Seen                []string         `json:"seen,omitempty"`
}

// PaymentOwner answers LookupPaymentOwner. WorkflowID is empty when the
// charge belongs to nothing payflow sells (no access to change).
type PaymentOwner struct {
	WorkflowID     string `json:"workflow_id,omitempty"`
	CustomerID     string `json:"customer_id,omitempty"`
	InvoiceID      string `json:"invoice,omitempty"`
	SubscriptionID string `json:"subscription,omitempty"`
}

// NewDispute starts the state of dispute id.
func NewDispute(id string) Dispute { return Dispute{ID: id} }

// Status is payflow's status of the dispute.
func (d Dispute) Status() string { return disputeOutcome(d.StripeStatus) }

// Closed reports a dispute Stripe closed.
func (d Dispute) Closed() bool { return disputeClosed(d.StripeStatus) }

// Done reports that nothing more is waited for: closed, and every event
// handed to the owner.
func (d Dispute) Done() bool { return d.Closed() && len(d.Pending) == 0 }

// Timers lists the evidence reminder while a response is needed.
func (d Dispute) Timers() []Timer {
	if d.Reminded || d.EvidenceSubmittedAt != nil || d.EvidenceDueBy <= 0 || d.Status() != DisputeNeedsResponse {
		return nil
	}
	return []Timer{{Campaign: d.ID, Kind: TimerReminder, At: time.Unix(d.EvidenceDueBy, 0).UTC().Add(-d.RemindBefore)}}
}

// ApplyDispute applies one charge.dispute.* event.
func ApplyDispute(d Dispute, ev Event, p DisputePolicy, now time.Time) (Dispute, []Command) {
	d = d.clone()
	var dup bool
	if dup, d.Seen = seen(d.Seen, ev.ID); dup {
		return d, nil
	}
	if d.RemindBefore == 0 {
		d.RemindBefore = p.RemindBefore
	}
	st := d.begin()
	d.ChargeID = firstNonEmpty(d.ChargeID, ev.ChargeID)
	d.PaymentIntent = firstNonEmpty(d.PaymentIntent, ev.PaymentIntent)
	d.InvoiceID = firstNonEmpty(d.InvoiceID, ev.InvoiceID)
	d.SubscriptionID = firstNonEmpty(d.SubscriptionID, ev.SubscriptionID)
	d.CustomerID = firstNonEmpty(d.CustomerID, ev.CustomerID)
	d.Currency = firstNonEmpty(ev.Currency, d.Currency)
	d.Reason = firstNonEmpty(ev.DisputeReason, d.Reason)
	d.Amount = max(d.Amount, ev.Amount)
	d.EvidenceDueBy = max(d.EvidenceDueBy, ev.EvidenceDueBy)
	switch ev.Type {
	case "charge.dispute.funds_withdrawn":
		d.FundsWithdrawn = true
	case "charge.dispute.funds_reinstated":
		d.FundsReinstated = true
	}
	if ev.Status != "" && !d.Closed() && (ev.Created >= d.StatusCreated || disputeClosed(ev.Status)) {
		d.StripeStatus, d.StatusCreated = ev.Status, max(d.StatusCreated, ev.Created)
	}
	if ev.Type == "charge.dispute.created" {
		st.operatorEmail("opened", PurposeDisputeAlert)
	}
	st.note(ev.Type + ": " + d.Status())
	st.forward(ev)
	return d, st.finish()
}

// ApplyDisputeOwner takes the lookup's answer and forwards the events
// held for it.
func ApplyDisputeOwner(d Dispute, o PaymentOwner, now time.Time) (Dispute, []Command) {
	d = d.clone()
	if d.OwnerKnown {
		return d, nil
	}
	st := d.begin()
	d.OwnerKnown, d.Owner = true, o.WorkflowID
	d.InvoiceID = firstNonEmpty(d.InvoiceID, o.InvoiceID)
	d.SubscriptionID = firstNonEmpty(d.SubscriptionID, o.SubscriptionID)
	d.CustomerID = firstNonEmpty(d.CustomerID, o.CustomerID)
	if d.Owner == "" {
		st.note("the disputed charge paid for nothing payflow sells: no access to change")
	}
	pending := d.Pending
	d.Pending = nil
	for _, ev := range pending {
		st.forward(ev)
	}
	return d, st.finish()
}

// FireDisputeTimer sends the evidence reminder when still due.
func FireDisputeTimer(d Dispute, t Timer, now time.Time) (Dispute, []Command) {
	d = d.clone()
	timers := d.Timers()
	if t.Kind != TimerReminder || len(timers) == 0 || now.Before(timers[0].At) {
		return d, nil
	}
	st := d.begin()
	d.Reminded = true
	st.operatorEmail("reminder", PurposeDisputeReminder)
	st.note("evidence reminder sent")
	return d, st.finish()
}

type disputeStep struct {
	d      *Dispute
	cmds   []Command
	record RecordDispute
	timers []Timer
	closed bool
}

func (d *Dispute) begin() *disputeStep {
	return &disputeStep{d: d, record: d.recordView(), timers: d.Timers(), closed: d.Closed()}
}

func (st *disputeStep) note(what string) { st.cmds = append(st.cmds, Note{What: what}) }

func (st *disputeStep) operatorEmail(step, purpose string) {
	d := st.d
	vars := map[string]string{"dispute_id": d.ID, "charge_id": d.ChargeID, "reason": d.Reason, "status": d.Status()}
	setMoney(vars, "amount", "amount_minor", d.Amount, d.Currency)
	setEmailUnix(vars, "due_by", d.EvidenceDueBy)
	if vars["due_by"] == "" {
		vars["due_by"] = "unknown"
	}
	st.cmds = append(st.cmds, SendEmail{DedupeKey: "dispute/" + d.ID + "/" + step, Purpose: purpose, ToOperator: true, Vars: vars})
}

// forward hands the event to the owner of the disputed payment, asking
// who that is first when the event does not say.
func (st *disputeStep) forward(ev Event) {
	d := st.d
	if !d.OwnerKnown && d.SubscriptionID != "" && d.InvoiceID != "" {
		d.OwnerKnown, d.Owner = true, "subscription/"+d.SubscriptionID
	}
	ev.DisputeID = firstNonEmpty(ev.DisputeID, d.ID)
	ev.InvoiceID, ev.SubscriptionID = firstNonEmpty(ev.InvoiceID, d.InvoiceID), firstNonEmpty(ev.SubscriptionID, d.SubscriptionID)
	ev.CustomerID, ev.ChargeID = firstNonEmpty(ev.CustomerID, d.CustomerID), firstNonEmpty(ev.ChargeID, d.ChargeID)
	switch {
	case d.OwnerKnown && d.Owner != "":
		st.cmds = append(st.cmds, NotifyOwner{WorkflowID: d.Owner, Event: ev})
	case d.OwnerKnown:
	default:
		if len(d.Pending) < MaxPendingForward {
			d.Pending = append(d.Pending, ev)
		}
		if !d.LookupAsked {
			d.LookupAsked = true
			st.cmds = append(st.cmds, LookupPaymentOwner{DisputeID: d.ID, ChargeID: d.ChargeID, PaymentIntent: d.PaymentIntent})
		}
	}
}

func (st *disputeStep) finish() []Command {
	d := st.d
	if d.Closed() && !st.closed {
		st.operatorEmail("closed", PurposeDisputeClosed)
	}
	if rec := d.recordView(); rec != st.record {
		st.cmds = append(st.cmds, rec)
	}
	if timers := d.Timers(); !slices.Equal(timers, st.timers) {
		st.cmds = append(st.cmds, CancelTimers{Campaign: d.ID})
		for _, t := range timers {
			st.cmds = append(st.cmds, ScheduleTimer{Timer: t})
		}
	}
	if sa := (SearchAttributes{CustomerID: d.CustomerID, Status: d.Status()}); sa != d.Search {
		d.Search = sa
		st.cmds = append(st.cmds, UpsertSearchAttributes(sa))
	}
	return orderCommands(st.cmds)
}

func (d Dispute) recordView() RecordDispute {
	return RecordDispute{DisputeID: d.ID, ChargeID: d.ChargeID, PaymentIntent: d.PaymentIntent, InvoiceID: d.InvoiceID,
		CustomerID: d.CustomerID, Owner: d.Owner, Amount: d.Amount, Currency: d.Currency, Reason: d.Reason,
		Status: d.StripeStatus, EvidenceDueBy: d.EvidenceDueBy, FundsWithdrawn: d.FundsWithdrawn,
		FundsReinstated: d.FundsReinstated, StripeCreated: d.StatusCreated}
}

func (d Dispute) clone() Dispute {
	d.EvidenceSubmittedAt = clonePtr(d.EvidenceSubmittedAt)
	d.Seen = slices.Clone(d.Seen)
	d.Pending = slices.Clone(d.Pending)
	return d
}

// ValidateEvidenceSubmitted says why an operator cannot mark the
// dispute's evidence submitted, or nil.
func ValidateEvidenceSubmitted(d Dispute, by string) error {
	switch {
	case by == "":
		return errors.New("say who you are (by): the timeline records every operator action")
	case len(by) > maxOperatorField:
		return fmt.Errorf("by is limited to %d characters", maxOperatorField)
	case d.ID == "" || d.StripeStatus == "":
		return errors.New("the dispute has no event from Stripe yet")
	case d.Closed():
		return fmt.Errorf("the dispute is closed (%s): nothing to submit", d.StripeStatus)
	case d.EvidenceSubmittedAt != nil:
		return fmt.Errorf("evidence already marked submitted by %s", d.EvidenceSubmittedBy)
	}
	return nil
}

// ApplyEvidenceSubmitted records that the evidence went to Stripe: the
// reminder is dropped, the timeline says who and when.
func ApplyEvidenceSubmitted(d Dispute, by, reason string, now time.Time) (Dispute, []Command, string, error) {
	if err := ValidateEvidenceSubmitted(d, by); err != nil {
		return d, nil, "", err
	}
	d = d.clone()
	st := d.begin()
	at := now.UTC()
	d.EvidenceSubmittedBy, d.EvidenceSubmittedAt = by, &at
	who := by
	if reason != "" {
		who += " (" + reason + ")"
	}
	done := "evidence marked submitted: no more reminders"
	st.note("operator " + who + ": " + done)
	return d, st.finish(), done, nil
}
