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

const disputeID = "dp_1"

var disputeWorkflowID = routing.DisputeID(disputeID)

func disputeEvent(id, typ, status string, at time.Duration) payflow.Event {
	return payflow.Event{ID: id, Type: typ, Created: unix(at), ObjectType: "dispute", ObjectID: disputeID, DisputeID: disputeID,
		ChargeID: "ch_order1", PaymentIntent: orderPI, Amount: 4900, Currency: "usd", Status: status,
		DisputeReason: "fraudulent", EvidenceDueBy: unix(7 * 24 * time.Hour)}
}

// storedOrder records a fulfilled order as an earlier order run would.
func (w *world) storedOrder(t *testing.T) {
	t.Helper()
	require.NoError(t, w.acts.RecordOrder(context.Background(), billing.RecordOrder{OrderID: orderPI, CustomerID: orderCustomer,
		Email: orderEmail, PaymentIntent: orderPI, ChargeID: "ch_order1", Products: []string{orderProduct}, Amount: 4900,
		Currency: "usd", Status: billing.OrderFulfilled}))
}

// A dispute asks the database who owns the disputed charge, hands every
// event to that order (NotifyOwner), alerts the operator, reminds them 48 h
// before the evidence deadline, and ends when Stripe closes it. A
// duplicate delivery changes nothing.
func TestDisputeFindsTheOwnerAndForwards(t *testing.T) {
	w := newWorld(t)
	w.storedOrder(t)
	h := w.run(t, disputeWorkflowID)
	h.signal(0, disputeEvent("evt_dp_created", "charge.dispute.created", "needs_response", 0))
	h.signal(time.Hour, disputeEvent("evt_dp_created", "charge.dispute.created", "needs_response", 0))
	h.signal(6*24*time.Hour, disputeEvent("evt_dp_closed", "charge.dispute.closed", "lost", 6*24*time.Hour))
	var reminded bool
	h.at(5*24*time.Hour+time.Minute, func() { reminded = w.sent()[disputeWorkflowID+"/reminder"] == 1 })
	h.env.ExecuteWorkflow(workflows.DisputeWorkflow, routing.DisputeInput{DisputeID: disputeID})

	h.requireCompleted()
	var v workflows.DisputeView
	require.NoError(t, h.env.GetWorkflowResult(&v))
	require.Equal(t, 6*24*time.Hour, h.elapsed())
	require.True(t, reminded, "the evidence reminder goes out 48 h before the deadline")
	require.Equal(t, billing.DisputeLost, v.Status)
	require.Equal(t, orderID, v.Dispute.Owner)
	require.Equal(t, []string{"evt_dp_created", "evt_dp_closed"}, v.Dispute.Seen)

	var forwarded []string
	for _, n := range h.notifications() {
		require.Equal(t, orderID, n.WorkflowID)
		forwarded = append(forwarded, n.Event.ID+" "+n.Event.Type)
	}
	require.Equal(t, []string{"evt_dp_created charge.dispute.created", "evt_dp_closed charge.dispute.closed"}, forwarded)
	require.Equal(t, map[string]int{disputeWorkflowID + "/opened": 1, disputeWorkflowID + "/reminder": 1, disputeWorkflowID + "/closed": 1}, w.sent())
	for _, m := range w.mail.Messages() {
		require.Equal(t, []string{alertEmail}, m.To)
	}
	d, err := w.db.GetDispute(context.Background(), disputeID)
	require.NoError(t, err)
	require.Equal(t, "lost", d.Status)
	require.Equal(t, orderID, d.Owner)
	require.Equal(t, billing.DisputeLost, h.sa.get("PayflowStatus"))
	require.Equal(t, orderCustomer, h.sa.get("StripeCustomerID"), "the customer comes with the owner")
	require.Empty(t, h.sa.get("PayflowDunningStage"))
}

// A run started by a duplicate whose first run Temporal no longer keeps
// holds nothing: it ends at once, without effects.
func TestDisputeRunOfALateDuplicateEnds(t *testing.T) {
	w := newWorld(t)
	ev := disputeEvent("evt_dp_closed", "charge.dispute.closed", "won", 0)
	fresh, err := w.acts.RecordEvent(context.Background(), ev)
	require.NoError(t, err)
	require.True(t, fresh)
	h := w.run(t, disputeWorkflowID)
	h.signal(0, ev)
	h.env.ExecuteWorkflow(workflows.DisputeWorkflow, routing.DisputeInput{DisputeID: disputeID})

	h.requireCompleted()
	require.Equal(t, time.Duration(0), h.elapsed())
	require.Empty(t, w.sent())
	require.Empty(t, h.notifications())
}
