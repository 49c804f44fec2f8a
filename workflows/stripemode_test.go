package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/workflows"
)

// stripe mode: Stripe retries (payflow charges nothing), the first email
// says when, and Stripe's own end of the retries — the subscription
// unpaid, then canceled — ends the campaign: one final notice, counted
// unrecovered, stage final, access revoked, no timers left.
func TestSubscriptionStripeModeEndsWithStripe(t *testing.T) {
	w := newSubscription(t)
	p := testPolicy(billing.FinalCancel)
	p.Mode, p.RetryDelays = billing.ModeStripe, nil
	w.acts.Policy = p
	h := w.run(t, subWorkflowID)
	h.signal(0, snapshot("evt_created", "customer.subscription.created", "active", -time.Hour, "prod_a"))
	failed := invoiceEvent("evt_failed", "invoice.payment_failed", failedInv, 0, "subscription_cycle", "insufficient_funds")
	failed.NextPaymentAttempt = unix(72 * time.Hour)
	h.signal(0, failed)
	h.signal(time.Minute, snapshot("evt_past_due", "customer.subscription.updated", "past_due", time.Minute, "prod_a"))
	var atUnpaid workflows.SubscriptionView
	qerr := h.queryAt(5*time.Hour+time.Minute, &atUnpaid)
	h.signal(5*time.Hour, snapshot("evt_unpaid", "customer.subscription.updated", "unpaid", 5*time.Hour, "prod_a"))
	h.signal(6*time.Hour, snapshot("evt_deleted", "customer.subscription.deleted", "canceled", 6*time.Hour, "prod_a"))
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, routing.SubscriptionInput{State: billing.NewSubscription(subID), Linger: time.Hour})

	v := subResult(t, h)
	require.Equal(t, 7*time.Hour, h.elapsed())
	require.NoError(t, *qerr)
	require.Equal(t, billing.StageFinal, atUnpaid.DunningStage)
	require.Empty(t, atUnpaid.Timers)
	require.Empty(t, w.payKeys(failedInv), "Stripe retries in stripe mode")
	key := subWorkflowID + "/in_failed/"
	require.Equal(t, []string{key + "final", key + "first-failure", key + "suspended"}, w.sentKeys())
	for _, m := range w.mail.Messages() {
		if m.CustomArgs["payflow_dedupe_key"] == key+"first-failure" {
			require.Contains(t, m.Text, "We will try again on 4 March 2024, 12:00 UTC.")
		}
		if m.CustomArgs["payflow_dedupe_key"] == key+"final" {
			require.Contains(t, m.Text, "Your access has ended until the invoice is paid.")
		}
	}
	require.Equal(t, 1, v.Subscription.Unrecovered)
	require.Equal(t, map[string]string{"prod_a " + subWorkflowID: payflow.AccessRevoked}, w.access(t, subCustomer))
	var stages []string
	for _, u := range h.sa.upserts() {
		for _, kv := range splitKV(u) {
			if kv[0] == "PayflowDunningStage" {
				stages = append(stages, kv[1])
			}
		}
	}
	require.Equal(t, []string{"none", "retrying", "suspended", "final", "none"}, stages)
}
