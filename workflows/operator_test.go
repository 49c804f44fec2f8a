package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/workflows"
)

type updateOutcome struct {
	rejected, accepted bool
	err                error
	result             string
}

// update sends an operator update at t0+delay and records what came back.
func (h *harness) update(delay time.Duration, name string, in routing.OperatorInput) *updateOutcome {
	out := &updateOutcome{}
	h.at(delay, func() {
		h.env.UpdateWorkflow(name, name+"-"+delay.String(), &testsuite.TestUpdateCallback{
			OnReject: func(err error) { out.rejected, out.err = true, err },
			OnAccept: func() { out.accepted = true },
			OnComplete: func(r any, err error) {
				out.err = err
				if s, ok := r.(string); ok {
					out.result = s
				}
			},
		}, in)
	})
	return out
}

// Support staff retry a hard-declined invoice at once from the UI (the
// customer says the bank lifted a block): the charge goes out with the
// next attempt's idempotency key, the invoice recovers, and the timeline
// names who did it. Before there is a campaign the same update is
// rejected with the reason, and leaves nothing behind.
func TestOperatorRetryNowUpdate(t *testing.T) {
	w := newSubscription(t, stripeapi.PaySucceeds)
	h := w.run(t, subWorkflowID)
	h.signal(0, snapshot("evt_created", "customer.subscription.created", "active", -time.Hour, "prod_a"))
	early := h.update(time.Minute, routing.UpdateRetryNow, routing.OperatorInput{By: "ann"})
	h.signal(10*time.Minute, invoiceEvent("evt_failed", "invoice.payment_failed", failedInv, 10*time.Minute, "subscription_cycle", "stolen_card"))
	noBy := h.update(30*time.Minute, routing.UpdateRetryNow, routing.OperatorInput{})
	retry := h.update(40*time.Minute, routing.UpdateRetryNow, routing.OperatorInput{By: "ann", Reason: "bank lifted the block"})
	h.signal(5*time.Hour, snapshot("evt_deleted", "customer.subscription.deleted", "canceled", 5*time.Hour, "prod_a"))
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, routing.SubscriptionInput{State: billing.NewSubscription(subID), Linger: time.Hour})

	v := subResult(t, h)
	require.True(t, early.rejected, "retry with no open invoice must be rejected")
	require.ErrorContains(t, early.err, "no open invoice")
	require.True(t, noBy.rejected)
	require.ErrorContains(t, noBy.err, "say who you are")
	require.True(t, retry.accepted, "retry rejected: %v", retry.err)
	require.NoError(t, retry.err)
	require.Contains(t, retry.result, "invoice "+failedInv+" retried now")
	require.Equal(t, []string{subWorkflowID + "/" + failedInv + "/retry-1"}, w.payKeys(failedInv))
	require.Equal(t, 1, v.Subscription.Recovered)
	require.Contains(t, notes(v.Steps), "operator ann (bank lifted the block): invoice "+failedInv+" retried now (attempt 1)")
}

// Extend grace through the update moves the suspension; the stage and the
// details line show it.
func TestOperatorExtendGraceUpdate(t *testing.T) {
	w := newSubscription(t, stripeapi.PayDeclined("insufficient_funds"))
	h := w.run(t, subWorkflowID)
	h.signal(0, snapshot("evt_created", "customer.subscription.created", "active", -time.Hour, "prod_a"))
	h.signal(10*time.Minute, invoiceEvent("evt_failed", "invoice.payment_failed", failedInv, 10*time.Minute, "subscription_cycle", "insufficient_funds"))
	bad := h.update(20*time.Minute, routing.UpdateExtendGrace, routing.OperatorInput{By: "ann", Extend: "three days"})
	ext := h.update(25*time.Minute, routing.UpdateExtendGrace, routing.OperatorInput{By: "ann", Extend: "10h"})
	var v workflows.SubscriptionView
	qerr := h.queryAt(30*time.Minute, &v)
	h.signal(5*time.Hour, snapshot("evt_deleted", "customer.subscription.deleted", "canceled", 5*time.Hour, "prod_a"))
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, routing.SubscriptionInput{State: billing.NewSubscription(subID), Linger: time.Hour})
	subResult(t, h)
	require.NoError(t, *qerr)
	require.True(t, bad.rejected)
	require.ErrorContains(t, bad.err, "want a duration")
	require.NoError(t, ext.err)
	require.Contains(t, ext.result, "extended by 10h0m0s")
	require.Len(t, v.Subscription.Campaigns, 1)
	c := v.Subscription.Campaigns[0]
	require.Equal(t, c.FailedAt.Add(150*time.Minute+10*time.Hour), c.GraceEndsAt)
}

// Marking a dispute's evidence submitted drops the reminder: the operator
// gets the "opened" and "closed" alerts but no reminder; a second mark is
// rejected with who marked it first.
func TestOperatorEvidenceSubmittedUpdate(t *testing.T) {
	w := newWorld(t)
	w.storedOrder(t)
	h := w.run(t, disputeWorkflowID)
	h.signal(0, disputeEvent("evt_dp_created", "charge.dispute.created", "needs_response", 0))
	mark := h.update(24*time.Hour, routing.UpdateEvidenceSubmitted, routing.OperatorInput{By: "ann", Reason: "uploaded in the Dashboard"})
	again := h.update(25*time.Hour, routing.UpdateEvidenceSubmitted, routing.OperatorInput{By: "bob"})
	h.signal(6*24*time.Hour, disputeEvent("evt_dp_closed", "charge.dispute.closed", "won", 6*24*time.Hour))
	h.env.ExecuteWorkflow(workflows.DisputeWorkflow, routing.DisputeInput{DisputeID: disputeID})

	h.requireCompleted()
	var v workflows.DisputeView
	require.NoError(t, h.env.GetWorkflowResult(&v))
	require.NoError(t, mark.err)
	require.True(t, mark.accepted)
	require.Contains(t, mark.result, "no more reminders")
	require.True(t, again.rejected)
	require.ErrorContains(t, again.err, "already marked submitted by ann")
	require.Equal(t, map[string]int{disputeWorkflowID + "/opened": 1, disputeWorkflowID + "/closed": 1}, w.sent(), "no reminder")
	require.Contains(t, notes(v.Steps), "operator ann (uploaded in the Dashboard): evidence marked submitted: no more reminders")
}
