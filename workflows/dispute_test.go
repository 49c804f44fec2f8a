package workflows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/workflows"
)

const disputeID = "dp_1"

// evidenceDue is a week after the dispute opens; the operator is reminded
// a day before.
const (
	evidenceDue  = 7 * 24 * time.Hour
	remindBefore = 24 * time.Hour
	remindAt     = evidenceDue - remindBefore
)

func disputeEvent(id, typ, status string, d time.Duration) payflow.Event {
	// A dispute names its charge; the order is found through it.
	return payflow.Event{ID: id, Type: typ, Created: unix(d), ObjectType: "dispute", ObjectID: disputeID,
		DisputeID: disputeID, ChargeID: orderCh, Amount: 4200, Currency: "usd", Status: status,
		DisputeReason: "fraudulent", EvidenceDueBy: unix(evidenceDue)}
}

func disputeInput() workflows.DisputeInput {
	return workflows.DisputeInput{DisputeID: disputeID, RemindBefore: remindBefore}
}

func newDisputeHarness(t *testing.T) *harness {
	h := newHarness(t, workflows.DisputeID(disputeID))
	seedFulfilledOrder(h.store)
	return h
}

func disputeResult(t *testing.T, h *harness) workflows.DisputeState {
	t.Helper()
	var s workflows.DisputeState
	require.NoError(t, h.env.GetWorkflowResult(&s))
	return s
}

func TestDisputeOpenedRemindedWon(t *testing.T) {
	h := newDisputeHarness(t)
	h.signal(0, disputeEvent("evt_dp_created", "charge.dispute.created", "needs_response", 0))
	var opened workflows.DisputeState
	qerr := h.queryAt(time.Minute, &opened)
	var accessOpen, saOpen string
	var mailsBefore []string
	h.at(time.Minute, func() {
		accessOpen = h.store.access(customer, product)
		saOpen, _ = h.sa.current()
	})
	h.at(remindAt-time.Minute, func() { mailsBefore = h.store.purposes() })
	var reminded workflows.DisputeState
	qerr2 := h.queryAt(remindAt+time.Minute, &reminded)
	h.signal(evidenceDue+24*time.Hour, disputeEvent("evt_dp_closed", "charge.dispute.closed", "won", evidenceDue+24*time.Hour))
	h.env.ExecuteWorkflow(workflows.DisputeWorkflow, disputeInput())

	require.NoError(t, *qerr)
	require.Equal(t, workflows.DisputeNeedsResponse, opened.Status)
	require.Equal(t, workflows.DisputeNeedsResponse, saOpen, "PayflowStatus follows the state")
	require.Equal(t, orderPI, opened.OrderID, "the order is found by its charge")
	require.Equal(t, customer, opened.CustomerID)
	require.Equal(t, product, opened.ProductID)
	require.True(t, opened.AccessAffected)
	require.Equal(t, payflow.AccessSuspended, accessOpen)
	alert, ok := h.store.email("dispute/dp_1/opened")
	require.True(t, ok)
	require.Equal(t, alertEmail, alert.To)
	require.Equal(t, activities.PurposeDisputeAlert, alert.Purpose)
	require.Contains(t, alert.Body, "suspended until the dispute closes")
	require.Contains(t, alert.Subject, "42.00 USD (fraudulent)")

	require.Equal(t, []string{activities.PurposeDisputeAlert}, mailsBefore, "no reminder before its time")
	require.NoError(t, *qerr2)
	require.True(t, reminded.Reminded)
	rem, ok := h.store.email("dispute/dp_1/reminder")
	require.True(t, ok)
	require.Equal(t, alertEmail, rem.To)
	require.Contains(t, rem.Subject, "is due "+fmtAt(evidenceDue))

	requireCompleted(t, h)
	require.Equal(t, evidenceDue+24*time.Hour, h.elapsed())
	s := disputeResult(t, h)
	require.Equal(t, workflows.DisputeWon, s.Status)
	require.True(t, s.Done)
	require.Equal(t, payflow.AccessGranted, h.store.access(customer, product), "access restored")
	require.Equal(t, []string{activities.PurposeDisputeAlert, activities.PurposeDisputeReminder, activities.PurposeDisputeClosed}, h.store.purposes())
	o, _ := h.store.order(orderPI)
	require.Equal(t, payflow.OrderFulfilled, o.Status, "a won dispute leaves the order alone")
	d, ok := h.store.dispute(disputeID)
	require.True(t, ok)
	require.Equal(t, "won", d.Status)
	require.Equal(t, orderCh, d.ChargeID)
	requireSA(t, h, workflows.DisputeWon)
}

func TestDisputeUnderReviewNoReminderLost(t *testing.T) {
	h := newDisputeHarness(t)
	h.signal(0, disputeEvent("evt_dp_created", "charge.dispute.created", "needs_response", 0))
	h.signal(time.Hour, disputeEvent("evt_dp_updated", "charge.dispute.updated", "under_review", time.Hour))
	var review workflows.DisputeState
	qerr := h.queryAt(2*time.Hour, &review)
	closeAt := 30 * 24 * time.Hour
	h.signal(closeAt, disputeEvent("evt_dp_closed", "charge.dispute.closed", "lost", closeAt))
	h.env.ExecuteWorkflow(workflows.DisputeWorkflow, disputeInput())

	require.NoError(t, *qerr)
	require.Equal(t, workflows.DisputeUnderReview, review.Status)

	requireCompleted(t, h)
	require.Equal(t, closeAt, h.elapsed())
	s := disputeResult(t, h)
	require.False(t, s.Reminded)
	require.Equal(t, workflows.DisputeLost, s.Status)
	require.Equal(t, []string{activities.PurposeDisputeAlert, activities.PurposeDisputeClosed}, h.store.purposes(),
		"evidence was submitted: no reminder")
	require.Equal(t, payflow.AccessRevoked, h.store.access(customer, product))
	require.Equal(t, []string{customer + "/" + product + "=suspended", customer + "/" + product + "=revoked"}, h.store.entitlementLog())
	o, _ := h.store.order(orderPI)
	require.Equal(t, payflow.OrderDisputed, o.Status)
	require.Equal(t, []string{workflows.DisputeNeedsResponse, workflows.DisputeUnderReview, workflows.DisputeLost}, h.sa.statuses)
}

func TestDisputeClosedBeforeReminder(t *testing.T) {
	h := newDisputeHarness(t)
	h.signal(0, disputeEvent("evt_dp_created", "charge.dispute.created", "needs_response", 0))
	h.signal(48*time.Hour, disputeEvent("evt_dp_closed", "charge.dispute.closed", "won", 48*time.Hour))
	h.env.ExecuteWorkflow(workflows.DisputeWorkflow, disputeInput())

	requireCompleted(t, h)
	require.Equal(t, 48*time.Hour, h.elapsed(), "the run ends at the close, not at the reminder")
	s := disputeResult(t, h)
	require.False(t, s.Reminded)
	require.Equal(t, workflows.DisputeWon, s.Status)
	require.Equal(t, []string{activities.PurposeDisputeAlert, activities.PurposeDisputeClosed}, h.store.purposes())
	require.Equal(t, payflow.AccessGranted, h.store.access(customer, product))
}

func TestDisputeWithoutOrderTouchesNoAccess(t *testing.T) {
	h := newHarness(t, workflows.DisputeID(disputeID)) // no order for ch_1
	h.signal(0, disputeEvent("evt_dp_created", "charge.dispute.created", "needs_response", 0))
	h.signal(time.Hour, disputeEvent("evt_dp_closed", "charge.dispute.closed", "lost", time.Hour))
	h.env.ExecuteWorkflow(workflows.DisputeWorkflow, disputeInput())

	requireCompleted(t, h)
	s := disputeResult(t, h)
	require.Empty(t, s.OrderID)
	require.False(t, s.AccessAffected)
	require.Empty(t, h.store.entitlementLog())
	alert, _ := h.store.email("dispute/dp_1/opened")
	require.Contains(t, alert.Body, "none found")
	_, ok := h.store.order(orderPI)
	require.False(t, ok, "no order is made up")
}

// The merchant refunds the disputed order while the dispute runs; the bank
// then decides for the merchant. Winning must not give back the access the
// refund took away.
func TestDisputeWonAfterRefundKeepsAccessRevoked(t *testing.T) {
	h := newDisputeHarness(t)
	h.signal(0, disputeEvent("evt_dp_created", "charge.dispute.created", "needs_response", 0))
	h.at(time.Hour, func() {
		o, _ := h.store.order(orderPI)
		o.Status = payflow.OrderRefunded
		h.store.putOrder(o)
		h.store.putEntitlement(payflow.Entitlement{CustomerID: customer, ProductID: product, Status: payflow.AccessRevoked,
			Source: workflows.OrderID(orderPI)})
	})
	h.signal(2*time.Hour, disputeEvent("evt_dp_closed", "charge.dispute.closed", "won", 2*time.Hour))
	h.env.ExecuteWorkflow(workflows.DisputeWorkflow, disputeInput())

	requireCompleted(t, h)
	s := disputeResult(t, h)
	require.Equal(t, workflows.DisputeWon, s.Status)
	require.Equal(t, payflow.AccessRevoked, h.store.access(customer, product))
	require.NotContains(t, h.store.entitlementLog(), customer+"/"+product+"=granted")
	var notes []string
	for _, st := range s.Steps {
		notes = append(notes, st.What)
	}
	require.Contains(t, strings.Join(notes, "\n"), "refunded meanwhile")
}
