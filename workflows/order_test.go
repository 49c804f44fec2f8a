package workflows_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/fakes/sendgridapi"
	"github.com/payflow/payflow/workflows"
)

const (
	orderPI    = "pi_1"
	orderCS    = "cs_1"
	orderCh    = "ch_1"
	customer   = "cus_1"
	product    = "prod_1"
	buyerEmail = "buyer@example.com"
)

func piEvent(id, typ string, d time.Duration) payflow.Event {
	return payflow.Event{ID: id, Type: typ, Created: unix(d), ObjectType: "payment_intent", ObjectID: orderPI,
		CustomerID: customer, Email: buyerEmail, PaymentIntent: orderPI, ChargeID: orderCh, ProductID: product,
		Amount: 4200, Currency: "usd", Status: "succeeded"}
}

func checkoutEvent(id, typ, paymentStatus string, d time.Duration) payflow.Event {
	return payflow.Event{ID: id, Type: typ, Created: unix(d), ObjectType: "checkout.session", ObjectID: orderCS,
		CustomerID: customer, Email: buyerEmail, PaymentIntent: orderPI, CheckoutID: orderCS, ProductID: product,
		Amount: 4200, Currency: "usd", Status: "complete", PaymentStatus: paymentStatus, Mode: "payment"}
}

func refundEvent(id string, refunded int64, full bool) payflow.Event {
	// A charge carries no product and, here, no email: a new run must
	// reload them from the order.
	return payflow.Event{ID: id, Type: "charge.refunded", Created: unix(0), ObjectType: "charge", ObjectID: orderCh,
		CustomerID: customer, PaymentIntent: orderPI, ChargeID: orderCh, Amount: 4200, AmountRefunded: refunded,
		Currency: "usd", Refunded: full, Status: "succeeded"}
}

// orderRev is the revision the order tests start their runs with: the
// current one, and 0 again in TestOrderRevision0 (runs started before
// revisions existed keep their steps).
var orderRev = workflows.OrderRevision

func orderInput(key string) workflows.OrderInput {
	return workflows.OrderInput{WorkflowID: workflows.OrderID(key), OrderID: key, Rev: orderRev}
}

// TestOrderRevision0 runs every order test again at revision 0.
func TestOrderRevision0(t *testing.T) {
	orderRev = 0
	defer func() { orderRev = workflows.OrderRevision }()
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"PaymentSucceededFulfils", TestOrderPaymentSucceededFulfils},
		{"DuplicateDeliveriesOneReceipt", TestOrderDuplicateDeliveriesOneReceipt},
		{"DelayedPaymentSucceeds", TestOrderDelayedPaymentSucceeds},
		{"DelayedPaymentFails", TestOrderDelayedPaymentFails},
		{"CheckoutExpired", TestOrderCheckoutExpired},
		{"FailedThenSucceededWithAnotherCard", TestOrderFailedThenSucceededWithAnotherCard},
		{"PaymentIntentCanceled", TestOrderPaymentIntentCanceled},
		{"AbandonedAfterIdleTimeout", TestOrderAbandonedAfterIdleTimeout},
		{"FullRefundInNewRun", TestOrderFullRefundInNewRun},
		{"PartialRefundKeepsAccess", TestOrderPartialRefundKeepsAccess},
		{"PaymentEventAfterRefundGrantsNothing", TestOrderPaymentEventAfterRefundGrantsNothing},
		{"EventLedgerDedupe", TestOrderEventLedgerDedupe},
	} {
		t.Run(tc.name, tc.fn)
	}
}

func newOrderHarness(t *testing.T, key string) *harness {
	return newHarness(t, workflows.OrderID(key))
}

func orderResult(t *testing.T, h *harness) workflows.OrderState {
	t.Helper()
	var s workflows.OrderState
	require.NoError(t, h.env.GetWorkflowResult(&s))
	return s
}

// fulfilledOrder is what an earlier, closed run left in the database.
func seedFulfilledOrder(st *fakeStore) {
	at := t0.Add(-48 * time.Hour)
	st.putOrder(payflow.Order{ID: orderPI, CustomerID: customer, Email: buyerEmail, CheckoutID: orderCS, ChargeID: orderCh,
		ProductID: product, Amount: 4200, Currency: "usd", Status: payflow.OrderFulfilled, CreatedAt: at, FulfilledAt: &at})
	st.putEntitlement(payflow.Entitlement{CustomerID: customer, ProductID: product, Status: payflow.AccessGranted,
		Source: workflows.OrderID(orderPI), GrantedAt: &at})
}

func requireSA(t *testing.T, h *harness, status string) {
	t.Helper()
	got, _ := h.sa.current()
	require.Equal(t, status, got, "PayflowStatus search attribute")
}

func TestOrderPaymentSucceededFulfils(t *testing.T) {
	h := newOrderHarness(t, orderPI)
	h.signal(0, piEvent("evt_pi_ok", "payment_intent.succeeded", 0))
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, orderInput(orderPI))

	requireCompleted(t, h)
	require.Less(t, h.elapsed(), time.Minute, "fulfilment must not wait for a timer")
	s := orderResult(t, h)
	require.Equal(t, workflows.StatusFulfilled, s.Status)
	require.True(t, s.Done)
	require.Equal(t, []string{"evt_pi_ok"}, s.Seen)
	var steps []string
	for _, st := range s.Steps {
		steps = append(steps, st.What)
	}
	require.Equal(t, []string{"payment recorded", "access granted", "receipt sent", "order fulfilled"}, steps)

	o, ok := h.store.order(orderPI)
	require.True(t, ok)
	require.Equal(t, payflow.OrderFulfilled, o.Status)
	require.NotNil(t, o.FulfilledAt)
	require.Equal(t, customer, o.CustomerID)
	require.Equal(t, product, o.ProductID)
	require.Equal(t, int64(4200), o.Amount)

	require.Equal(t, payflow.AccessGranted, h.store.access(customer, product))
	require.Equal(t, []string{activities.PurposeReceipt}, h.store.purposes())
	e, ok := h.store.email("order/pi_1/receipt")
	require.True(t, ok)
	require.Equal(t, buyerEmail, e.To)
	require.Equal(t, payflow.EmailOutbox, e.Status)
	require.Contains(t, e.Body, "42.00 USD")

	ae, ok := h.store.appliedEvent("evt_pi_ok")
	require.True(t, ok)
	require.True(t, strings.HasPrefix(ae.Owner, "order/pi_1@"), "owner %q", ae.Owner)

	requireSA(t, h, workflows.StatusFulfilled)
	_, cust := h.sa.current()
	require.Equal(t, customer, cust)
}

func TestOrderDuplicateDeliveriesOneReceipt(t *testing.T) {
	h := newOrderHarness(t, orderPI)
	ev := piEvent("evt_pi_ok", "payment_intent.succeeded", 0)
	h.signal(0, ev)
	h.signal(0, ev)
	h.signal(0, ev)
	h.signal(0, checkoutEvent("evt_cs_done", "checkout.session.completed", "paid", 0))
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, orderInput(orderPI))

	requireCompleted(t, h)
	s := orderResult(t, h)
	require.Equal(t, workflows.StatusFulfilled, s.Status)
	require.ElementsMatch(t, []string{"evt_pi_ok", "evt_cs_done"}, s.Seen)
	require.Equal(t, []string{activities.PurposeReceipt}, h.store.purposes(), "exactly one receipt")
	require.Equal(t, []string{customer + "/" + product + "=granted"}, h.store.entitlementLog())
	o, _ := h.store.order(orderPI)
	require.Equal(t, payflow.OrderFulfilled, o.Status)
	_, ok := h.store.appliedEvent("evt_cs_done")
	require.True(t, ok, "the checkout event is in the ledger too")
}

func TestOrderDelayedPaymentSucceeds(t *testing.T) {
	h := newOrderHarness(t, orderPI)
	h.signal(0, checkoutEvent("evt_cs_done", "checkout.session.completed", "unpaid", 0))
	var waiting workflows.OrderState
	qerr := h.queryAt(time.Hour, &waiting)
	var accessWhileWaiting string
	var emailsWhileWaiting []string
	h.at(time.Hour, func() {
		accessWhileWaiting = h.store.access(customer, product)
		emailsWhileWaiting = h.store.purposes()
	})
	h.signal(48*time.Hour, checkoutEvent("evt_cs_async_ok", "checkout.session.async_payment_succeeded", "paid", 48*time.Hour))
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, orderInput(orderPI))

	require.NoError(t, *qerr)
	require.Equal(t, workflows.StatusAwaitingPay, waiting.Status)
	require.False(t, waiting.Done)
	require.Empty(t, accessWhileWaiting, "no access before the money arrives")
	require.Empty(t, emailsWhileWaiting)

	requireCompleted(t, h)
	require.Equal(t, 48*time.Hour, h.elapsed())
	s := orderResult(t, h)
	require.Equal(t, workflows.StatusFulfilled, s.Status)
	require.Equal(t, payflow.AccessGranted, h.store.access(customer, product))
	require.Equal(t, []string{activities.PurposeReceipt}, h.store.purposes())
	o, _ := h.store.order(orderPI)
	require.Equal(t, payflow.OrderFulfilled, o.Status)
	require.Equal(t, []string{workflows.StatusAwaitingPay, workflows.StatusFulfilled}, h.sa.statuses)
}

func TestOrderDelayedPaymentFails(t *testing.T) {
	h := newOrderHarness(t, orderPI)
	h.signal(0, checkoutEvent("evt_cs_done", "checkout.session.completed", "unpaid", 0))
	h.signal(48*time.Hour, checkoutEvent("evt_cs_async_fail", "checkout.session.async_payment_failed", "unpaid", 48*time.Hour))
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, orderInput(orderPI))

	requireCompleted(t, h)
	s := orderResult(t, h)
	require.Equal(t, workflows.StatusPaymentFailed, s.Status)
	require.True(t, s.Done)
	require.Empty(t, h.store.access(customer, product), "no access was ever granted")
	require.Empty(t, h.store.entitlementLog())
	require.Equal(t, []string{activities.PurposeOrderPaymentFailed}, h.store.purposes())
	e, _ := h.store.email("order/pi_1/payment-failed")
	require.Equal(t, buyerEmail, e.To)
	o, _ := h.store.order(orderPI)
	require.Equal(t, payflow.OrderFailed, o.Status)
	requireSA(t, h, workflows.StatusPaymentFailed)
}

func TestOrderCheckoutExpired(t *testing.T) {
	h := newOrderHarness(t, orderCS)
	ev := checkoutEvent("evt_cs_expired", "checkout.session.expired", "unpaid", 0)
	ev.PaymentIntent, ev.Status = "", "expired" // an expired session never got a payment intent
	_, id, skip, ok := workflows.Resolve(ev)
	require.True(t, ok)
	require.Empty(t, skip)
	require.Equal(t, workflows.OrderID(orderCS), id)
	h.signal(0, ev)
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, orderInput(orderCS))

	requireCompleted(t, h)
	s := orderResult(t, h)
	require.Equal(t, workflows.StatusExpired, s.Status)
	o, ok := h.store.order(orderCS)
	require.True(t, ok)
	require.Equal(t, payflow.OrderExpired, o.Status)
	require.Empty(t, h.store.purposes())
	require.Empty(t, h.store.entitlementLog())
	requireSA(t, h, workflows.StatusExpired)
}

func TestOrderFailedThenSucceededWithAnotherCard(t *testing.T) {
	h := newOrderHarness(t, orderPI)
	failed := piEvent("evt_pi_failed", "payment_intent.payment_failed", 0)
	failed.Status, failed.ChargeID = "requires_payment_method", "ch_declined"
	failed.DeclineCode, failed.FailureCode, failed.FailureMessage = "insufficient_funds", "card_declined", "Your card has insufficient funds."
	h.signal(0, failed)
	var mid workflows.OrderState
	qerr := h.queryAt(10*time.Minute, &mid)
	var midOrder payflow.Order
	h.at(10*time.Minute, func() { midOrder, _ = h.store.order(orderPI) })
	h.signal(20*time.Minute, piEvent("evt_pi_ok", "payment_intent.succeeded", 20*time.Minute))
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, orderInput(orderPI))

	require.NoError(t, *qerr)
	require.Equal(t, workflows.StatusPaymentFailed, mid.Status)
	require.False(t, mid.Done, "a failed card is not final: the customer may retry")
	require.Equal(t, "insufficient_funds: Your card has insufficient funds.", mid.FailureReason)
	require.Equal(t, payflow.OrderFailed, midOrder.Status)

	requireCompleted(t, h)
	require.Equal(t, 20*time.Minute, h.elapsed())
	s := orderResult(t, h)
	require.Equal(t, workflows.StatusFulfilled, s.Status)
	require.Equal(t, payflow.AccessGranted, h.store.access(customer, product))
	require.Equal(t, []string{activities.PurposeReceipt}, h.store.purposes(), "a card failure sends no email; one receipt")
	o, _ := h.store.order(orderPI)
	require.Equal(t, payflow.OrderFulfilled, o.Status)
	requireSA(t, h, workflows.StatusFulfilled)
}

func TestOrderPaymentIntentCanceled(t *testing.T) {
	h := newOrderHarness(t, orderPI)
	ev := piEvent("evt_pi_canceled", "payment_intent.canceled", 0)
	ev.Status = "canceled"
	h.signal(0, ev)
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, orderInput(orderPI))

	requireCompleted(t, h)
	s := orderResult(t, h)
	require.Equal(t, workflows.StatusCanceled, s.Status)
	o, _ := h.store.order(orderPI)
	require.Equal(t, payflow.OrderCanceled, o.Status)
	require.Empty(t, h.store.purposes())
	require.Empty(t, h.store.entitlementLog())
	requireSA(t, h, workflows.StatusCanceled)
}

func TestOrderAbandonedAfterIdleTimeout(t *testing.T) {
	h := newOrderHarness(t, orderPI)
	failed := piEvent("evt_pi_failed", "payment_intent.payment_failed", 0)
	failed.DeclineCode = "generic_decline"
	h.signal(0, failed)
	in := orderInput(orderPI)
	in.IdleTimeout = 6 * time.Hour
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, in)

	requireCompleted(t, h)
	require.Equal(t, 6*time.Hour, h.elapsed())
	s := orderResult(t, h)
	require.Equal(t, workflows.StatusAbandoned, s.Status)
	o, _ := h.store.order(orderPI)
	require.Equal(t, payflow.OrderCanceled, o.Status)
	require.Empty(t, h.store.entitlementLog())
}

func TestOrderFullRefundInNewRun(t *testing.T) {
	h := newOrderHarness(t, orderPI)
	seedFulfilledOrder(h.store)
	h.signal(0, refundEvent("evt_refund", 4200, true))
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, orderInput(orderPI))

	requireCompleted(t, h)
	s := orderResult(t, h)
	require.Equal(t, workflows.StatusRefunded, s.Status)
	require.True(t, s.Loaded)
	require.Equal(t, product, s.ProductID, "the product comes from the stored order")
	require.Equal(t, payflow.AccessRevoked, h.store.access(customer, product))
	require.Empty(t, h.store.access(customer, "default"), "nothing is revoked on a made-up product")
	o, _ := h.store.order(orderPI)
	require.Equal(t, payflow.OrderRefunded, o.Status)
	require.NotNil(t, o.FulfilledAt, "the refund keeps the fulfilment time")

	require.Equal(t, []string{activities.PurposeRefund}, h.store.purposes())
	e, ok := h.store.email("order/pi_1/refund/ch_1")
	require.True(t, ok)
	require.Equal(t, buyerEmail, e.To, "the address comes from the stored order")
	require.Contains(t, e.Body, "42.00 USD")
	requireSA(t, h, workflows.StatusRefunded)
}

func TestOrderPartialRefundKeepsAccess(t *testing.T) {
	h := newOrderHarness(t, orderPI)
	seedFulfilledOrder(h.store)
	h.signal(0, refundEvent("evt_refund_part", 1000, false))
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, orderInput(orderPI))

	requireCompleted(t, h)
	require.Less(t, h.elapsed(), time.Minute, "a partial refund of a fulfilled order closes the run at once")
	s := orderResult(t, h)
	require.Equal(t, workflows.StatusPartRefunded, s.Status)
	require.Equal(t, int64(1000), s.AmountRefunded)
	require.Equal(t, payflow.AccessGranted, h.store.access(customer, product))
	require.Empty(t, h.store.entitlementLog(), "access is not touched")
	require.Empty(t, h.store.purposes(), "no refund email for a partial refund")
	o, _ := h.store.order(orderPI)
	require.Equal(t, payflow.OrderFulfilled, o.Status)
	requireSA(t, h, workflows.StatusPartRefunded)
}

// A payment event applied after the order was fully refunded (Stripe's
// out-of-order delivery, or `payflow reconcile`, which replays newest
// first) must not grant access again.
func TestOrderPaymentEventAfterRefundGrantsNothing(t *testing.T) {
	t.Run("same run", func(t *testing.T) {
		h := newOrderHarness(t, orderPI)
		seedFulfilledOrder(h.store)
		h.signal(0, refundEvent("evt_refund", 4200, true))
		h.signal(0, piEvent("evt_pi_ok", "payment_intent.succeeded", -time.Hour))
		h.env.ExecuteWorkflow(workflows.OrderWorkflow, orderInput(orderPI))

		requireCompleted(t, h)
		require.Equal(t, payflow.AccessRevoked, h.store.access(customer, product))
		require.Equal(t, []string{customer + "/" + product + "=revoked"}, h.store.entitlementLog())
		require.Equal(t, []string{activities.PurposeRefund}, h.store.purposes())
		o, _ := h.store.order(orderPI)
		require.Equal(t, payflow.OrderRefunded, o.Status)
		s := orderResult(t, h)
		require.Equal(t, workflows.StatusRefunded, s.Status)
	})
	t.Run("new run", func(t *testing.T) {
		h := newOrderHarness(t, orderPI)
		seedFulfilledOrder(h.store)
		h.store.putEntitlement(payflow.Entitlement{CustomerID: customer, ProductID: product, Status: payflow.AccessRevoked,
			Source: workflows.OrderID(orderPI)})
		o, _ := h.store.order(orderPI)
		o.Status = payflow.OrderRefunded
		h.store.putOrder(o)
		h.signal(0, checkoutEvent("evt_cs_late", "checkout.session.completed", "paid", -time.Hour))
		h.env.ExecuteWorkflow(workflows.OrderWorkflow, orderInput(orderPI))

		requireCompleted(t, h)
		require.Less(t, h.elapsed(), time.Minute)
		require.Equal(t, payflow.AccessRevoked, h.store.access(customer, product))
		require.Empty(t, h.store.entitlementLog())
		require.Empty(t, h.store.purposes())
		o, _ = h.store.order(orderPI)
		require.Equal(t, payflow.OrderRefunded, o.Status)
	})
}

func TestOrderEventLedgerDedupe(t *testing.T) {
	t.Run("applied by another run: ignored", func(t *testing.T) {
		h := newOrderHarness(t, orderPI)
		seedFulfilledOrder(h.store)
		h.store.putEvent(payflow.AppliedEvent{EventID: "evt_pi_ok", Type: "payment_intent.succeeded", ObjectID: orderPI,
			Owner: "order/pi_1@an-earlier-run"})
		h.signal(0, piEvent("evt_pi_ok", "payment_intent.succeeded", 0))
		in := orderInput(orderPI)
		in.IdleTimeout = time.Hour
		h.env.ExecuteWorkflow(workflows.OrderWorkflow, in)

		requireCompleted(t, h)
		s := orderResult(t, h)
		require.Equal(t, []string{"evt_pi_ok"}, s.Seen)
		for _, st := range s.Steps {
			require.NotContains(t, []string{"payment recorded", "access granted", "receipt sent", "order fulfilled"}, st.What,
				"a duplicate must not run the fulfilment")
		}
		require.Empty(t, h.store.purposes(), "no email")
		require.Empty(t, h.store.entitlementLog(), "no access change")
		require.Empty(t, h.store.orderUpdates(), "no order change")
		o, _ := h.store.order(orderPI)
		require.Equal(t, payflow.OrderFulfilled, o.Status)
		ae, _ := h.store.appliedEvent("evt_pi_ok")
		require.Equal(t, "order/pi_1@an-earlier-run", ae.Owner, "the ledger keeps the first owner")
	})
	t.Run("applied by this run (a retried RecordEvent): applied", func(t *testing.T) {
		h := newOrderHarness(t, orderPI)
		h.store.putEvent(payflow.AppliedEvent{EventID: "evt_pi_ok", Type: "payment_intent.succeeded", ObjectID: orderPI,
			Owner: "order/pi_1@default-test-run-id"})
		h.signal(0, piEvent("evt_pi_ok", "payment_intent.succeeded", 0))
		h.env.ExecuteWorkflow(workflows.OrderWorkflow, orderInput(orderPI))

		requireCompleted(t, h)
		require.Equal(t, workflows.StatusFulfilled, orderResult(t, h).Status)
		require.Equal(t, []string{activities.PurposeReceipt}, h.store.purposes())
	})
}

// runPaidTwice runs an order at rev with a payment and its checkout session
// and returns the local activities and the activity tasks it ran, in order.
func runPaidTwice(t *testing.T, rev int) (h *harness, local, tasks []string) {
	h = newOrderHarness(t, orderPI)
	h.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		local = append(local, info.ActivityType.Name)
	})
	h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		tasks = append(tasks, info.ActivityType.Name)
	})
	h.signal(0, piEvent("evt_pi_ok", "payment_intent.succeeded", 0))
	h.signal(0, checkoutEvent("evt_cs_done", "checkout.session.completed", "paid", 0))
	in := orderInput(orderPI)
	in.Rev = rev
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, in)
	requireCompleted(t, h)
	require.Equal(t, workflows.StatusFulfilled, orderResult(t, h).Status)
	return h, local, tasks
}

// At revision 1 every step runs as a local activity, and a search attribute
// is upserted only when its value changes.
func TestOrderRevision1Steps(t *testing.T) {
	h, local, tasks := runPaidTwice(t, 1)
	require.Equal(t, []string{"RecordEvent", "RecordOrder", "SetAccess", "RecordOrder", "RecordEvent"}, local)
	require.Equal(t, []string{"SendEmail"}, tasks, "the email is an activity task: it heartbeats the provider's acceptance")
	require.Equal(t, []string{workflows.StatusFulfilled}, h.sa.statuses, "only the final status is upserted")
	require.Equal(t, 1, h.sa.upserts, "the customer is upserted once, not again for the second event")
	ae, ok := h.store.appliedEvent("evt_pi_ok")
	require.True(t, ok)
	require.True(t, strings.HasPrefix(ae.Owner, "order/pi_1@"), "a local activity records its run as the owner: %q", ae.Owner)

	// Revision 0, as runs started before revisions keep it: activity tasks
	// only, and the customer upserted for each event.
	h, local, tasks = runPaidTwice(t, 0)
	require.Empty(t, local)
	require.Equal(t, []string{"RecordEvent", "RecordOrder", "SetAccess", "SendEmail", "RecordOrder", "RecordEvent"}, tasks)
	require.Equal(t, 2, h.sa.upserts)
}

// SendGrid refuses the receipt for good (a 400): the order is still
// fulfilled, the ledger says failed, and the workflow does not fail.
func TestOrderRefusedReceiptStillFulfils(t *testing.T) {
	for _, rev := range []int{0, workflows.OrderRevision} {
		t.Run(fmt.Sprintf("rev%d", rev), func(t *testing.T) {
			h := newOrderHarness(t, orderPI)
			sg := sendgridapi.New("SG.test-key")
			url, stop := sg.Start()
			t.Cleanup(stop)
			sg.FailNext(1, http.StatusBadRequest)
			h.acts.Mailer = &activities.SendGrid{APIKey: "SG.test-key", Base: url, From: "shop@example.com"}
			h.signal(0, piEvent("evt_pi_ok", "payment_intent.succeeded", 0))
			in := orderInput(orderPI)
			in.Rev = rev
			h.env.ExecuteWorkflow(workflows.OrderWorkflow, in)

			requireCompleted(t, h)
			require.Equal(t, workflows.StatusFulfilled, orderResult(t, h).Status)
			o, _ := h.store.order(orderPI)
			require.Equal(t, payflow.OrderFulfilled, o.Status)
			require.Equal(t, payflow.AccessGranted, h.store.access(customer, product))
			e, ok := h.store.email("order/pi_1/receipt")
			require.True(t, ok)
			require.Equal(t, payflow.EmailFailed, e.Status)
			require.Equal(t, 1, sg.Attempts(), "a refused email is not sent again")
		})
	}
}

// SendGrid answers 503 five times: the email step retries with back-off
// and the receipt goes out exactly once. Revision 0 only: the test
// environment skips its clock ahead while a local activity waits out a
// back-off in real time, which fails the attempt on a deadline no real
// server imposes. Revision 1 runs this on the real server in integration
// TestReceiptRetriedThroughOutage.
func TestOrderReceiptRetriedUntilSent(t *testing.T) {
	for _, tc := range []struct{ rev, failures int }{{0, 5}, {1, 5}} {
		t.Run(fmt.Sprintf("rev%d", tc.rev), func(t *testing.T) {
			h := newOrderHarness(t, orderPI)
			sg := sendgridapi.New("SG.test-key")
			url, stop := sg.Start()
			t.Cleanup(stop)
			sg.FailNext(tc.failures, http.StatusServiceUnavailable)
			h.acts.Mailer = &activities.SendGrid{APIKey: "SG.test-key", Base: url, From: "shop@example.com"}
			h.signal(0, piEvent("evt_pi_ok", "payment_intent.succeeded", 0))
			in := orderInput(orderPI)
			in.Rev = tc.rev
			h.env.ExecuteWorkflow(workflows.OrderWorkflow, in)

			requireCompleted(t, h)
			require.Equal(t, workflows.StatusFulfilled, orderResult(t, h).Status)
			require.Equal(t, tc.failures+1, sg.Attempts())
			require.Len(t, sg.Messages(), 1)
			e, _ := h.store.email("order/pi_1/receipt")
			require.Equal(t, payflow.EmailSent, e.Status)
		})
	}
}

// A run started at a revision this worker does not know is not executed by
// it: the workflow task fails (and Temporal retries it elsewhere), nothing
// is written.
func TestOrderUnknownRevisionWaitsForNewerWorker(t *testing.T) {
	h := newOrderHarness(t, orderPI)
	h.signal(0, piEvent("evt_pi_ok", "payment_intent.succeeded", 0))
	in := orderInput(orderPI)
	in.Rev = workflows.OrderRevision + 1
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, in)

	err := h.env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "upgrade the workers first")
	_, ok := h.store.order(orderPI)
	require.False(t, ok, "nothing recorded")
	require.Empty(t, h.store.purposes())
}

// A guest payment (no Stripe customer, as Checkout makes them by default
// in payment mode): there is nobody to hold an entitlement, so the order is
// fulfilled with its receipt and no access step, and the workflow does not
// fail.
func TestOrderGuestPaymentFulfilsWithoutAccess(t *testing.T) {
	for _, rev := range []int{0, workflows.OrderRevision} {
		t.Run(fmt.Sprintf("rev%d", rev), func(t *testing.T) {
			h := newOrderHarness(t, orderPI)
			ev := piEvent("evt_pi_guest", "payment_intent.succeeded", 0)
			ev.CustomerID = ""
			h.signal(0, ev)
			in := orderInput(orderPI)
			in.Rev = rev
			h.env.ExecuteWorkflow(workflows.OrderWorkflow, in)

			requireCompleted(t, h)
			s := orderResult(t, h)
			require.Equal(t, workflows.StatusFulfilled, s.Status)
			o, _ := h.store.order(orderPI)
			require.Equal(t, payflow.OrderFulfilled, o.Status)
			require.Empty(t, h.store.entitlementLog())
			var steps []string
			for _, st := range s.Steps {
				steps = append(steps, st.What)
			}
			require.Equal(t, []string{"payment recorded", "guest payment (no Stripe customer): no access to record as granted",
				"receipt sent", "order fulfilled"}, steps)
			e, ok := h.store.email("order/pi_1/receipt")
			require.True(t, ok)
			require.Equal(t, buyerEmail, e.To)
		})
	}
}
