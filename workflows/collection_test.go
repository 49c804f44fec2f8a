package workflows_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/workflows"
)

func (w *world) requestsTo(method, path string) []stripeapi.RecordedRequest {
	var out []stripeapi.RecordedRequest
	for _, r := range w.stripe.Requests() {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// payflow mode, final action unpaid: the campaign takes the invoice over
// (auto_advance=false), so Stripe's own retries never charge it while
// payflow's three retries run; the final action marks it uncollectible and
// pauses collection (mark_uncollectible); the late payment lifts the pause.
func TestSubscriptionTakeoverAndFinalActionUnpaid(t *testing.T) {
	w := newSubscription(t, stripeapi.PayDeclined("insufficient_funds"), stripeapi.PayDeclined("insufficient_funds"),
		stripeapi.PayDeclined("insufficient_funds"))
	// Stripe would retry it itself 20 minutes after the failure.
	w.stripe.PutInvoice(stripeapi.Invoice{ID: failedInv, CustomerID: subCustomer, SubscriptionID: subID, Status: "open",
		AttemptCount: 1, NextPaymentAttempt: t0.Add(30 * time.Minute)})
	w.acts.Policy = testPolicy(billing.FinalUnpaid)
	h := w.run(t, subWorkflowID)
	h.signal(0, snapshot("evt_created", "customer.subscription.created", "active", -time.Hour, "prod_a"))
	h.signal(10*time.Minute, invoiceEvent("evt_failed", "invoice.payment_failed", failedInv, 10*time.Minute, "subscription_cycle", "insufficient_funds"))
	var smart []string
	for _, at := range []time.Duration{30 * time.Minute, 90 * time.Minute, 150 * time.Minute, 200 * time.Minute} {
		h.at(at, func() { smart = append(smart, w.stripe.RunSmartRetries(t0.Add(at))...) })
	}
	var afterFinal stripeapi.Subscription
	var invAfterFinal stripeapi.Invoice
	var access map[string]string
	h.at(4*time.Hour, func() {
		afterFinal, _ = w.stripe.GetSubscription(subID)
		invAfterFinal, _ = w.stripe.GetInvoice(failedInv)
		access = w.access(t, subCustomer)
	})
	uncollectible := invoiceEvent("evt_uncollectible", "invoice.marked_uncollectible", failedInv, 4*time.Hour, "subscription_cycle", "")
	uncollectible.Status = "uncollectible"
	h.signal(4*time.Hour+time.Minute, uncollectible)
	h.signal(5*time.Hour, invoiceEvent("evt_paid", "invoice.paid", failedInv, 5*time.Hour, "subscription_cycle", ""))
	h.signal(6*time.Hour, snapshot("evt_deleted", "customer.subscription.deleted", "canceled", 6*time.Hour, "prod_a"))
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, routing.SubscriptionInput{State: billing.NewSubscription(subID), Linger: time.Hour})
	v := subResult(t, h)

	// Taken over once, with the campaign's key; Stripe never charged it.
	takeovers := w.requestsTo("POST", "/v1/invoices/"+failedInv)
	require.Len(t, takeovers, 1)
	require.Equal(t, []string{"false"}, takeovers[0].Form["auto_advance"])
	require.Equal(t, fmt.Sprintf("%s/%s/takeover-%d", subWorkflowID, failedInv, unix(10*time.Minute)), takeovers[0].IdempotencyKey)
	require.Empty(t, smart, "Stripe's automatic retries charged a taken-over invoice")
	require.Equal(t, 0, w.stripe.SmartRetries(failedInv))
	require.Equal(t, 3, w.stripe.PayAttempts(failedInv), "payflow's three retries")

	// The final action in Stripe, then access revoked.
	require.Equal(t, billing.PauseMarkUncollectible, afterFinal.PauseCollection)
	require.Equal(t, "uncollectible", invAfterFinal.Status)
	require.Equal(t, payflow.AccessRevoked, access["prod_a "+subWorkflowID])
	// marked_uncollectible kept the campaign; the payment recovered it and lifted the pause.
	require.Len(t, w.requestsTo("POST", "/v1/invoices/"+failedInv+"/mark_uncollectible"), 1)
	sub, _ := w.stripe.GetSubscription(subID)
	require.Equal(t, "", sub.PauseCollection, "the late payment resumes collection")
	require.Equal(t, 1, v.Subscription.Recovered)
	require.Equal(t, 1, v.Subscription.Unrecovered)
	require.Empty(t, w.requestsTo("DELETE", "/v1/subscriptions/"+subID), "unpaid does not cancel")
	require.True(t, containsLine(notes(v.Steps), "invoice in_failed taken over"))
	require.True(t, containsLine(notes(v.Steps), "collection resumed"))
}

// A takeover Stripe refuses: the campaign does not retry blindly, it falls
// back to stripe mode and the operator is alerted.
func TestSubscriptionTakeoverRefusedFallsBack(t *testing.T) {
	w := newSubscription(t)
	w.acts.Policy = testPolicy(billing.FinalCancel)
	h := w.run(t, subWorkflowID)
	h.signal(0, snapshot("evt_created", "customer.subscription.created", "active", -time.Hour, "prod_a"))
	// An invoice Stripe does not know (deleted draft, wrong account): 404.
	h.signal(10*time.Minute, invoiceEvent("evt_failed", "invoice.payment_failed", "in_unknown", 10*time.Minute, "subscription_cycle", "insufficient_funds"))
	h.signal(5*time.Hour, snapshot("evt_deleted", "customer.subscription.deleted", "canceled", 5*time.Hour, "prod_a"))
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, routing.SubscriptionInput{State: billing.NewSubscription(subID), Linger: time.Hour})
	v := subResult(t, h)

	require.Empty(t, w.payKeys("in_unknown"), "no payflow retry after a refused takeover")
	require.True(t, containsLine(notes(v.Steps), "ALERT: Stripe refused to take invoice in_unknown over"))
	key := fmt.Sprintf("%s/in_unknown/takeover-refused-%d", subWorkflowID, unix(10*time.Minute))
	require.Equal(t, 1, w.sent()[key], "operator alerted: %v", w.sentKeys())
	require.Contains(t, w.sent(), subWorkflowID+"/in_unknown/suspended", "stripe mode still suspends after grace")
}
