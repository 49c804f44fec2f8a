package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/workflows"
)

const (
	orderCustomer = "cus_order"
	orderEmail    = "buyer@example.com"
	orderPI       = "pi_order1"
	orderProduct  = "prod_course"
)

var orderID = routing.OrderID(orderPI)

// paymentEvent is a payment intent event as the receiver decodes it.
func paymentEvent(id, typ string) payflow.Event {
	return payflow.Event{ID: id, Type: typ, Created: unix(0), ObjectType: "payment_intent", ObjectID: orderPI,
		CustomerID: orderCustomer, Email: orderEmail, PaymentIntent: orderPI, ChargeID: "ch_order1",
		Amount: 4900, Currency: "usd", Status: "succeeded", ProductID: orderProduct, MetadataProduct: orderProduct}
}

func checkoutEvent(id, typ, paymentStatus string) payflow.Event {
	return payflow.Event{ID: id, Type: typ, Created: unix(0), ObjectType: "checkout.session", ObjectID: "cs_order1",
		CustomerID: orderCustomer, Email: orderEmail, PaymentIntent: orderPI, CheckoutID: "cs_order1", Mode: "payment",
		PaymentStatus: paymentStatus, Amount: 4900, Currency: "usd", Status: "complete", ProductID: orderProduct, MetadataProduct: orderProduct}
}

func refundEvent(id string, refunded int64) payflow.Event {
	return payflow.Event{ID: id, Type: "charge.refunded", Created: unix(time.Hour), ObjectType: "charge", ObjectID: "ch_order1",
		CustomerID: orderCustomer, PaymentIntent: orderPI, ChargeID: "ch_order1", Amount: 4900, AmountRefunded: refunded,
		Refunded: refunded == 4900, Currency: "usd", Status: "succeeded"}
}

func orderResult(t *testing.T, h *harness) workflows.OrderView {
	t.Helper()
	h.requireCompleted()
	var v workflows.OrderView
	require.NoError(t, h.env.GetWorkflowResult(&v))
	return v
}

// The payment, a duplicate delivery and the Checkout Session of the same
// payment arrive together: the core's commands run once each — the order
// recorded, access granted for the order's source, one receipt — the
// duplicate is skipped without an activity, and the run ends.
func TestOrderFulfilsOnce(t *testing.T) {
	w := newWorld(t)
	h := w.run(t, orderID)
	h.signal(0, paymentEvent("evt_paid", "payment_intent.succeeded"))
	h.signal(0, paymentEvent("evt_paid", "payment_intent.succeeded"))
	h.signal(0, checkoutEvent("evt_cs", "checkout.session.completed", "paid"))
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, routing.OrderInput{OrderID: orderPI})

	v := orderResult(t, h)
	require.Equal(t, time.Duration(0), h.elapsed())
	require.Equal(t, billing.OrderFulfilled, v.Status)
	require.Equal(t, []string{"evt_paid", "evt_cs"}, v.Order.Seen)
	require.Equal(t, "cs_order1", v.Order.CheckoutID)
	require.Contains(t, v.Details, "order pi_order1: fulfilled")
	require.True(t, containsLine(notes(v.Steps), "paid: fulfilled"), notes(v.Steps))

	o, err := w.db.GetOrder(context.Background(), orderPI)
	require.NoError(t, err)
	require.Equal(t, payflow.OrderFulfilled, o.Status)
	require.Equal(t, "cs_order1", o.CheckoutID)
	require.Equal(t, map[string]string{orderProduct + " " + orderID: payflow.AccessGranted}, w.access(t, orderCustomer))
	require.Equal(t, map[string]int{orderID + "/receipt": 1}, w.sent())
	for _, id := range []string{"evt_paid", "evt_cs"} {
		applied, err := w.db.EventApplied(context.Background(), id)
		require.NoError(t, err)
		require.True(t, applied, id)
	}
	require.Equal(t, billing.OrderFulfilled, h.sa.get("PayflowStatus"))
	require.Equal(t, orderCustomer, h.sa.get("StripeCustomerID"))
	require.Len(t, h.sa.upserts(), 1, "the search attributes change once")
}

// A refund weeks later starts a new run: it begins from the stored order,
// recognises a late duplicate in the event ledger, and the full refund
// revokes what the order granted and confirms by email.
func TestOrderNewRunStartsFromStore(t *testing.T) {
	w := newWorld(t)
	first := w.run(t, orderID)
	first.signal(0, paymentEvent("evt_paid", "payment_intent.succeeded"))
	first.env.ExecuteWorkflow(workflows.OrderWorkflow, routing.OrderInput{OrderID: orderPI})
	orderResult(t, first)

	// The test environment gives every run the same run ID, which the
	// ledger would take for a retry of the same run: this duplicate was
	// applied by a run Temporal no longer keeps.
	late := checkoutEvent("evt_cs", "checkout.session.completed", "paid")
	_, err := w.db.MarkEventApplied(context.Background(), payflow.AppliedEvent{EventID: late.ID, Type: late.Type,
		ObjectID: late.ObjectID, Created: late.Created, Owner: orderID + "@an-earlier-run", AppliedAt: t0})
	require.NoError(t, err)
	h := w.run(t, orderID)
	h.signal(0, late)
	h.signal(0, refundEvent("evt_refund", 4900))
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, routing.OrderInput{OrderID: orderPI})

	v := orderResult(t, h)
	require.Equal(t, billing.OrderRefunded, v.Status)
	lines := notes(v.Steps)
	require.True(t, containsLine(lines, "stored order loaded: fulfilled"), lines)
	require.True(t, containsLine(lines, "event evt_cs (checkout.session.completed) already applied by an earlier run"), lines)
	require.Equal(t, []string{"evt_refund"}, v.Order.Seen)

	o, err := w.db.GetOrder(context.Background(), orderPI)
	require.NoError(t, err)
	require.Equal(t, payflow.OrderRefunded, o.Status)
	require.Equal(t, int64(4900), o.AmountRefunded)
	require.Equal(t, map[string]string{orderProduct + " " + orderID: payflow.AccessRevoked}, w.access(t, orderCustomer))
	require.Equal(t, map[string]int{orderID + "/receipt": 1, orderID + "/refund": 1}, w.sent())
	require.Equal(t, billing.OrderRefunded, h.sa.get("PayflowStatus"))
}

// An order that waits for a delayed payment gives up after its idle
// timeout: the run ends, and the order stays as the core left it.
func TestOrderUnpaidRunGivesUp(t *testing.T) {
	w := newWorld(t)
	h := w.run(t, orderID)
	h.signal(0, checkoutEvent("evt_cs", "checkout.session.completed", "unpaid"))
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, routing.OrderInput{OrderID: orderPI, IdleTimeout: 2 * time.Hour})

	v := orderResult(t, h)
	require.Equal(t, 2*time.Hour, h.elapsed())
	require.Equal(t, billing.OrderAwaitingPayment, v.Status)
	require.True(t, containsLine(notes(v.Steps), "no event for 2h0m0s while awaiting_payment: run ends"), notes(v.Steps))
	require.Empty(t, w.access(t, orderCustomer))
	require.Empty(t, w.sent())
	require.Equal(t, billing.OrderAwaitingPayment, h.sa.get("PayflowStatus"))
}

// SendGrid refuses the receipt for good (an address it cannot deliver to):
// the refusal is recorded in the timeline and the ledger, the operator is
// alerted, and the order is fulfilled all the same.
func TestOrderRefusedEmailDoesNotFail(t *testing.T) {
	w := newWorld(t)
	h := w.run(t, orderID)
	ev := paymentEvent("evt_paid", "payment_intent.succeeded")
	ev.Email = "not-an-address"
	h.signal(0, ev)
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, routing.OrderInput{OrderID: orderPI})

	v := orderResult(t, h)
	require.Equal(t, billing.OrderFulfilled, v.Status)
	require.True(t, containsLine(notes(v.Steps), "SendEmail receipt refused (EmailRefused)"), notes(v.Steps))
	require.Equal(t, map[string]string{orderProduct + " " + orderID: payflow.AccessGranted}, w.access(t, orderCustomer))
	require.Equal(t, map[string]int{"operator/" + orderID + "/refused/SendEmail/" + orderID + "/receipt": 1}, w.sent(),
		"only the operator's alert about the refused receipt went out")
	stored, claimed, err := w.db.ClaimEmail(context.Background(), payflow.Email{DedupeKey: orderID + "/receipt", Status: payflow.EmailPending, CreatedAt: t0})
	require.NoError(t, err)
	require.False(t, claimed)
	require.Equal(t, payflow.EmailFailed, stored.Status)
}

// A dispute hands its events to the order (signal owner-event): the run
// that starts for it suspends what the order granted and stays open, so the
// outcome finds the suspension; a won dispute grants again and the run
// ends. The query shows the state meanwhile.
func TestOrderDisputeForwardedByTheDispute(t *testing.T) {
	w := newWorld(t)
	first := w.run(t, orderID)
	first.signal(0, paymentEvent("evt_paid", "payment_intent.succeeded"))
	first.env.ExecuteWorkflow(workflows.OrderWorkflow, routing.OrderInput{OrderID: orderPI})
	orderResult(t, first)

	dispute := billing.Event{Type: "charge.dispute.created", Created: unix(time.Hour), DisputeID: "dp_1", ChargeID: "ch_order1",
		PaymentIntent: orderPI, CustomerID: orderCustomer, Amount: 4900, Currency: "usd", Status: "needs_response"}
	created, won := dispute, dispute
	created.ID = "evt_dp_created"
	won.ID, won.Type, won.Status, won.Created = "evt_dp_closed", "charge.dispute.closed", "won", unix(48*time.Hour)

	h := w.run(t, orderID)
	h.forward(0, created)
	h.forward(time.Hour, created) // the dispute retried its NotifyOwner
	h.forward(48*time.Hour, won)
	var mid workflows.OrderView
	qerr := h.queryAt(24*time.Hour, &mid)
	var midAccess map[string]string
	h.at(24*time.Hour, func() { midAccess = w.access(t, orderCustomer) })
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, routing.OrderInput{OrderID: orderPI})

	v := orderResult(t, h)
	require.Equal(t, 48*time.Hour, h.elapsed(), "the run waits for the dispute's outcome")
	require.NoError(t, *qerr)
	require.Equal(t, billing.OrderFulfilled, mid.Status)
	require.Contains(t, mid.Details, "dispute dp_1 needs_response")
	require.Equal(t, map[string]string{orderProduct + " " + orderID: payflow.AccessSuspended}, midAccess)
	require.Equal(t, []string{"evt_dp_created", "evt_dp_closed"}, v.Order.Seen)
	require.Equal(t, map[string]string{orderProduct + " " + orderID: payflow.AccessGranted}, w.access(t, orderCustomer))
	require.Equal(t, map[string]int{orderID + "/receipt": 1}, w.sent(), "a dispute sends the customer nothing")
}
