package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
)

// OrderInput starts an order workflow.
type OrderInput struct {
	WorkflowID string `json:"workflow_id"`
	OrderID    string `json:"order_id"` // payment intent, or checkout session without payment
	// IdleTimeout ends an order that waits (for an async payment, or for a
	// customer to retry a failed card) longer than this; zero means 30 days.
	IdleTimeout time.Duration `json:"idle_timeout,omitempty"`
	// Rev is the revision of the workflow's steps this run was started with
	// (OrderRevision when the receiver starts it; absent, so 0, in runs
	// started before revisions existed). A run keeps its revision for life,
	// so a deploy never changes the commands of a history already written.
	Rev int `json:"rev,omitempty"`
}

// OrderRevision is the revision new order runs start with.
//
//   - 0: every step is an activity task, and the customer search attribute
//     is upserted on every event.
//   - 1: every step but the email (event ledger, order record and load, the
//     access change with its provisioning POST) runs as a local activity:
//     inside the workflow task, recorded as a marker named after the activity
//     with a one-line summary, with the same durable retries (a back-off
//     longer than a workflow task becomes a timer, and each failed attempt's
//     error is in the marker). The email stays an activity task, with the
//     same one-line summary (see sendEmail). A search attribute is upserted
//     only when its value changes, and no idle timer is started while an
//     event is waiting.
const OrderRevision = 1

// Order workflow statuses, as PayflowStatus shows them.
const (
	StatusReceived       = "received"
	StatusAwaitingPay    = "awaiting_payment"
	StatusFulfilled      = "fulfilled"
	StatusPaymentFailed  = "payment_failed"
	StatusCanceled       = "canceled"
	StatusExpired        = "expired"
	StatusRefunded       = "refunded"
	StatusPartRefunded   = "partially_refunded"
	StatusAbandoned      = "abandoned"
	defaultOrderIdleTime = 30 * 24 * time.Hour
)

// OrderState is the order workflow's whole state; query `state` returns it.
type OrderState struct {
	OrderID        string `json:"order_id"`
	Status         string `json:"status"`
	CustomerID     string `json:"customer_id,omitempty"`
	Email          string `json:"email,omitempty"`
	PaymentIntent  string `json:"payment_intent,omitempty"`
	CheckoutID     string `json:"checkout_session,omitempty"`
	ChargeID       string `json:"charge,omitempty"`
	ProductID      string `json:"product,omitempty"`
	Amount         int64  `json:"amount"`
	AmountRefunded int64  `json:"amount_refunded,omitempty"`
	Currency       string `json:"currency,omitempty"`
	FailureReason  string `json:"failure_reason,omitempty"`
	Done           bool   `json:"done"`
	Loaded         bool   `json:"loaded"` // state was reloaded from the database
	Dedupe
	Steps []Step `json:"steps"`
}

type orderImpl struct {
	ctx    workflow.Context
	in     OrderInput
	state  OrderState
	stored string // the order's status in the database, once loaded
}

// OrderWorkflow fulfils one purchase exactly once: record the payment and the
// order, grant access, send the receipt, mark it fulfilled. Events arrive as
// signals (SignalWithStart from the receiver); each is applied once.
func OrderWorkflow(ctx workflow.Context, in OrderInput) (OrderState, error) {
	if in.Rev > OrderRevision {
		// A receiver newer than this worker started the run. Panicking fails
		// only this workflow task, which Temporal retries until a worker that
		// knows the revision takes it; returning would fail the order.
		panic(fmt.Sprintf("order %s was started at step revision %d; this worker knows up to %d: upgrade the workers first", in.OrderID, in.Rev, OrderRevision))
	}
	wf := &orderImpl{ctx: ctx, in: in, state: OrderState{OrderID: in.OrderID, Status: StatusReceived}}
	if err := wf.setup(); err != nil {
		return wf.state, err
	}
	return wf.state, wf.run()
}

func (wf *orderImpl) setup() error {
	return workflow.SetQueryHandler(wf.ctx, QueryState, func() (OrderState, error) { return wf.state, nil })
}

func (wf *orderImpl) run() error {
	ctx := wf.ctx
	ch := workflow.GetSignalChannel(ctx, SignalEvent)
	idle := wf.in.IdleTimeout
	if idle <= 0 {
		idle = defaultOrderIdleTime
	}
	for !wf.state.Done {
		var ev payflow.Event
		if wf.in.Rev >= 1 && ch.ReceiveAsync(&ev) {
			// An event is already here (always the case for the first,
			// which starts the run): no idle timer to start and cancel.
			if err := wf.handle(ev); err != nil {
				return err
			}
			continue
		}
		timedOut := false
		tctx, cancel := workflow.WithCancel(ctx)
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &ev) })
		sel.AddFuture(workflow.NewTimer(tctx, idle), func(workflow.Future) { timedOut = true })
		sel.Select(ctx)
		cancel()
		if timedOut {
			wf.note(fmt.Sprintf("no payment after %s: order abandoned", idle))
			if err := wf.setStatus(StatusAbandoned, payflow.OrderCanceled, "abandoned"); err != nil {
				return err
			}
			break
		}
		if err := wf.handle(ev); err != nil {
			return err
		}
	}
	// Signals that arrived while we finished are applied (or recognised as
	// duplicates) before the run closes, so none is dropped.
	return drain(ch, wf.handle)
}

func (wf *orderImpl) note(what string) {
	wf.state.Steps = addStep(wf.state.Steps, workflow.Now(wf.ctx), what)
	workflow.SetCurrentDetails(wf.ctx, fmt.Sprintf("order %s: %s — %s", wf.state.OrderID, wf.state.Status, what))
}

func (wf *orderImpl) handle(ev payflow.Event) error {
	ctx := wf.ctx
	logger := workflow.GetLogger(ctx)
	fresh, err := wf.firstTime(ev)
	if err != nil {
		return err
	}
	if !fresh {
		logger.Info("duplicate event ignored", "event_id", ev.ID, "type", ev.Type)
		if wf.state.Status == StatusReceived {
			// The first event of this run was applied by an earlier run that
			// Temporal no longer keeps: close out from what the database says.
			return wf.closeFromDatabase()
		}
		return nil
	}
	wf.absorb(ev)
	if err := wf.upsertCustomer(); err != nil {
		return err
	}
	switch ev.Type {
	case "payment_intent.succeeded", "checkout.session.async_payment_succeeded":
		return wf.fulfil(ev)
	case "checkout.session.completed":
		switch ev.PaymentStatus {
		case "paid", "no_payment_required":
			return wf.fulfil(ev)
		default: // delayed methods (bank debits): wait for the async result
			if wf.state.Status == StatusFulfilled {
				return nil
			}
			if _, err := wf.record(payflow.OrderPending, ""); err != nil {
				return err
			}
			wf.state.Status = StatusAwaitingPay
			wf.note("checkout completed, waiting for the delayed payment")
			return wf.upsertStatus(StatusAwaitingPay)
		}
	case "checkout.session.async_payment_failed":
		if wf.state.Status == StatusFulfilled {
			return nil
		}
		if err := wf.setStatus(StatusPaymentFailed, payflow.OrderFailed, "async payment failed"); err != nil {
			return err
		}
		wf.state.Done = true
		return wf.sendEmail(activities.EmailRequest{
			DedupeKey: OrderID(wf.state.OrderID) + "/payment-failed", Purpose: activities.PurposeOrderPaymentFailed,
			To: wf.state.Email, CustomerID: wf.state.CustomerID, Vars: wf.emailVars(),
		})
	case "checkout.session.expired":
		if wf.state.Status == StatusFulfilled {
			return nil
		}
		wf.state.Done = true
		return wf.setStatus(StatusExpired, payflow.OrderExpired, "checkout session expired")
	case "payment_intent.payment_failed":
		if wf.state.Status == StatusFulfilled {
			return nil
		}
		reason := ev.DeclineCode
		if reason == "" {
			reason = ev.FailureCode
		}
		if ev.FailureMessage != "" {
			reason = reason + ": " + ev.FailureMessage
		}
		wf.state.FailureReason = reason
		// Not final: the customer may retry with another card on the same
		// payment intent, so the workflow keeps waiting.
		return wf.setStatus(StatusPaymentFailed, payflow.OrderFailed, reason)
	case "payment_intent.canceled":
		if wf.state.Status == StatusFulfilled {
			return nil
		}
		wf.state.Done = true
		return wf.setStatus(StatusCanceled, payflow.OrderCanceled, "payment intent canceled")
	case "charge.refunded":
		return wf.refund(ev)
	}
	logger.Warn("event type not handled by the order workflow", "event_id", ev.ID, "type", ev.Type)
	return nil
}

// absorb copies what the event knows into the state without overwriting
// known values with empty ones.
func (wf *orderImpl) absorb(ev payflow.Event) {
	s := &wf.state
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&s.CustomerID, ev.CustomerID)
	set(&s.Email, ev.Email)
	set(&s.PaymentIntent, ev.PaymentIntent)
	set(&s.CheckoutID, ev.CheckoutID)
	set(&s.ChargeID, ev.ChargeID)
	if s.ProductID == "" { // the first payment event names the product
		s.ProductID = ev.ProductID
	}
	set(&s.Currency, ev.Currency)
	if ev.Amount > 0 && ev.Type != "charge.refunded" {
		s.Amount = ev.Amount
	}
}

func (wf *orderImpl) productID() string {
	if wf.state.ProductID != "" {
		return wf.state.ProductID
	}
	return "default"
}

func (wf *orderImpl) record(status, reason string) (payflow.Order, error) {
	s := wf.state
	var stored payflow.Order
	err := wf.step(a.RecordOrder, "RecordOrder "+status, activities.OrderRecord{
		OrderID: s.OrderID, CustomerID: s.CustomerID, Email: s.Email, CheckoutID: s.CheckoutID,
		ChargeID: s.ChargeID, ProductID: wf.productID(), Amount: s.Amount, Currency: s.Currency,
		Status: status, Reason: reason,
	}).Get(wf.ctx, &stored)
	return stored, err
}

func (wf *orderImpl) setStatus(wfStatus, orderStatus, reason string) error {
	if _, err := wf.record(orderStatus, reason); err != nil {
		return err
	}
	wf.state.Status = wfStatus
	wf.note(reason)
	return wf.upsertStatus(wfStatus)
}

// sendEmail sends one of the order's emails through the ledger, at every
// revision as an activity task: SendEmail records the provider's
// acceptance in its heartbeat before it writes the ledger, so that a retry
// after a failed ledger write does not send again, and a local activity
// can neither heartbeat nor hand details to its retry. From revision 1 on
// it carries the one-line summary the UI shows.
func (wf *orderImpl) sendEmail(req activities.EmailRequest) error {
	if wf.in.Rev < 1 {
		return sendEmail(wf.ctx, req)
	}
	ctx := activityCtx(wf.ctx)
	opts := workflow.GetActivityOptions(ctx)
	opts.Summary = "SendEmail " + req.Purpose
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), a.SendEmail, req).Get(wf.ctx, nil)
	return emailOutcome(wf.ctx, req, err)
}

// setAccess changes the customer's access (and tells the merchant's app).
// A guest payment (no Stripe customer, which Checkout makes by default in
// payment mode) has nobody to hold an entitlement: the step is skipped and
// the order goes on; revision 0 runs used to fail here, and keep doing so
// unless they reach it after this change.
func (wf *orderImpl) setAccess(ch activities.AccessChange) error {
	if ch.CustomerID == "" &&
		(wf.in.Rev >= 1 || workflow.GetVersion(wf.ctx, "guest-order-no-access", workflow.DefaultVersion, 1) >= 1) {
		workflow.GetLogger(wf.ctx).Info("guest payment: no customer to hold access", "order_id", wf.state.OrderID, "access", ch.Status)
		wf.note("guest payment (no Stripe customer): no access to record as " + ch.Status)
		return nil
	}
	if wf.in.Rev < 1 {
		return setAccess(wf.ctx, ch)
	}
	return workflow.ExecuteLocalActivity(localActivityCtx(wf.ctx, "SetAccess "+ch.Status+" "+ch.ProductID), a.SetAccess, ch).Get(wf.ctx, nil)
}

// step runs one step: a local activity from revision 1 on, an activity task
// before. summary is the line the Temporal UI shows for it.
func (wf *orderImpl) step(activity any, summary string, arg any) workflow.Future {
	if wf.in.Rev >= 1 {
		return workflow.ExecuteLocalActivity(localActivityCtx(wf.ctx, summary), activity, arg)
	}
	return workflow.ExecuteActivity(activityCtx(wf.ctx), activity, arg)
}

// firstTime is the order's dedupe: its own seen set, then the event ledger.
func (wf *orderImpl) firstTime(ev payflow.Event) (bool, error) {
	if wf.in.Rev < 1 {
		return firstTime(wf.ctx, &wf.state.Dedupe, ev)
	}
	if wf.state.Saw(ev.ID) {
		return false, nil
	}
	var fresh bool
	err := wf.step(a.RecordEvent, "RecordEvent "+ev.ID+" "+ev.Type, ev).Get(wf.ctx, &fresh)
	return fresh, err
}

// upsertCustomer and upsertStatus set a search attribute; from revision 1
// on only when its value changes (the receiver sets both when it starts the
// run, and each upsert is a history event and a visibility write).
func (wf *orderImpl) upsertCustomer() error {
	if wf.in.Rev >= 1 && wf.state.CustomerID != "" {
		if v, ok := workflow.GetTypedSearchAttributes(wf.ctx).GetKeyword(CustomerIDKey); ok && v == wf.state.CustomerID {
			return nil
		}
	}
	return upsertCustomer(wf.ctx, wf.state.CustomerID)
}

func (wf *orderImpl) upsertStatus(status string) error {
	if wf.in.Rev >= 1 {
		if v, ok := workflow.GetTypedSearchAttributes(wf.ctx).GetKeyword(StatusKey); ok && v == status {
			return nil
		}
	}
	return upsertStatus(wf.ctx, status)
}

func (wf *orderImpl) emailVars() map[string]string {
	s := wf.state
	return map[string]string{
		"order_id": s.OrderID, "amount": activities.FormatAmount(s.Amount, s.Currency),
		"product": wf.productID(), "reason": s.FailureReason,
		"refunded": activities.FormatAmount(s.AmountRefunded, s.Currency),
	}
}

// fulfil runs the four steps. Each is idempotent on its own, so a run that
// reaches an order some earlier run fulfilled (after Temporal dropped that
// run) repeats no effect.
func (wf *orderImpl) fulfil(ev payflow.Event) error {
	ctx := wf.ctx
	if wf.state.Status == StatusFulfilled {
		workflow.GetLogger(ctx).Info("order already fulfilled", "event_id", ev.ID)
		return nil
	}
	stored, err := wf.record(payflow.OrderPending, "payment succeeded")
	if err != nil {
		return err
	}
	if stored.Status == payflow.OrderRefunded &&
		workflow.GetVersion(ctx, "no-fulfil-after-refund", workflow.DefaultVersion, 1) >= 1 {
		// The payment was fully refunded before this event was applied
		// (out-of-order delivery, reconcile replaying newest first, or a
		// redelivery after the refund's run closed): never grant again.
		wf.state.Done = true
		return wf.setStatus(StatusRefunded, payflow.OrderRefunded, "payment event after a full refund: not fulfilled again")
	}
	wf.note("payment recorded")
	if err := wf.setAccess(activities.AccessChange{
		CustomerID: wf.state.CustomerID, ProductID: wf.productID(), Status: payflow.AccessGranted,
		Source: OrderID(wf.state.OrderID), Reason: "order paid",
	}); err != nil {
		return err
	}
	if wf.state.CustomerID != "" {
		wf.note("access granted")
	}
	if err := wf.sendEmail(activities.EmailRequest{
		DedupeKey: OrderID(wf.state.OrderID) + "/receipt", Purpose: activities.PurposeReceipt,
		To: wf.state.Email, CustomerID: wf.state.CustomerID, Vars: wf.emailVars(),
	}); err != nil {
		return err
	}
	wf.note("receipt sent")
	if err := wf.setStatus(StatusFulfilled, payflow.OrderFulfilled, "order fulfilled"); err != nil {
		return err
	}
	wf.state.Done = true
	return nil
}

// refund applies charge.refunded. A full refund revokes the access the
// payment bought and confirms by email; a partial refund is recorded and
// leaves access alone (the merchant decides what a partial refund means).
func (wf *orderImpl) refund(ev payflow.Event) error {
	if err := wf.load(); err != nil {
		return err
	}
	wf.state.AmountRefunded = ev.AmountRefunded
	full := ev.Refunded || (ev.Amount > 0 && ev.AmountRefunded >= ev.Amount)
	if !full {
		wf.state.Done = wf.state.Status != StatusAwaitingPay && wf.state.Status != StatusReceived
		return wf.setStatus(StatusPartRefunded, payflow.OrderFulfilled,
			"partial refund of "+activities.FormatAmount(ev.AmountRefunded, ev.Currency))
	}
	if err := wf.setAccess(activities.AccessChange{
		CustomerID: wf.state.CustomerID, ProductID: wf.productID(), Status: payflow.AccessRevoked,
		Source: OrderID(wf.state.OrderID), Reason: "full refund",
	}); err != nil {
		return err
	}
	if err := wf.setStatus(StatusRefunded, payflow.OrderRefunded, "fully refunded"); err != nil {
		return err
	}
	wf.state.Done = true
	return wf.sendEmail(activities.EmailRequest{
		DedupeKey: OrderID(wf.state.OrderID) + "/refund/" + ev.ChargeID, Purpose: activities.PurposeRefund,
		To: wf.state.Email, CustomerID: wf.state.CustomerID, Vars: wf.emailVars(),
	})
}

// load fills the state from the database once, for events that reach an
// order whose earlier run has closed (a refund weeks later).
func (wf *orderImpl) load() error {
	if wf.state.Loaded {
		return nil
	}
	var o *payflow.Order
	if err := wf.step(a.LoadOrder, "LoadOrder", wf.state.OrderID).Get(wf.ctx, &o); err != nil {
		return err
	}
	wf.state.Loaded = true
	if o == nil {
		return nil
	}
	wf.stored = o.Status
	s := &wf.state
	if s.Status == StatusReceived && o.Status == payflow.OrderFulfilled &&
		workflow.GetVersion(wf.ctx, "loaded-order-fulfilled", workflow.DefaultVersion, 1) >= 1 {
		// A new run for an order an earlier run fulfilled (a refund weeks
		// later) is not waiting for a payment: a partial refund closes it
		// instead of leaving it open until it is "abandoned".
		s.Status = StatusFulfilled
	}
	if s.CustomerID == "" {
		s.CustomerID = o.CustomerID
	}
	if s.Email == "" {
		s.Email = o.Email
	}
	if o.ProductID != "" { // what the payment bought, as recorded then
		s.ProductID = o.ProductID
	}
	if s.Amount == 0 {
		s.Amount = o.Amount
	}
	if s.Currency == "" {
		s.Currency = o.Currency
	}
	return nil
}

// closeFromDatabase ends a run whose only event an earlier run applied: the
// order's stored status is final, or the run waits for what comes next.
func (wf *orderImpl) closeFromDatabase() error {
	if err := wf.load(); err != nil {
		return err
	}
	if wf.stored == "" {
		return nil
	}
	switch wf.stored {
	case payflow.OrderFulfilled:
		wf.state.Status = StatusFulfilled
	case payflow.OrderRefunded:
		wf.state.Status = StatusRefunded
	case payflow.OrderCanceled:
		wf.state.Status = StatusCanceled
	case payflow.OrderExpired:
		wf.state.Status = StatusExpired
	case payflow.OrderDisputed:
		wf.state.Status = payflow.OrderDisputed
	default:
		return nil
	}
	wf.state.Done = true
	wf.note("already " + wf.stored + " by an earlier run: nothing to do")
	return wf.upsertStatus(wf.state.Status)
}
