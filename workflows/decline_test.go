package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/webhook"
	"github.com/payflow/payflow/workflows"
)

// failedEvent is Stripe's invoice.payment_failed for failedInv (2023-10-16,
// built by fixtures and decoded by the receiver): it names the invoice's
// payment intent and charge but carries no decline code.
func failedEvent(t *testing.T, w *world, at time.Duration) payflow.Event {
	t.Helper()
	inv, ok := w.stripe.GetInvoice(failedInv)
	require.True(t, ok)
	raw, err := fixtures.Build("invoice.payment_failed", fixtures.Options{EventID: "evt_failed", InvoiceID: failedInv,
		SubscriptionID: subID, CustomerID: subCustomer, Email: subEmail, PaymentIntentID: inv.PaymentIntentID,
		ChargeID: inv.ChargeID, Amount: 2000, BillingReason: "subscription_cycle", AttemptCount: 1,
		Created: t0.Add(at), ProductID: "prod_a"})
	require.NoError(t, err)
	ev, err := webhook.Decode(raw)
	require.NoError(t, err)
	require.Empty(t, ev.DeclineCode, "invoice events carry no decline")
	return ev
}

// A stolen card: the invoice event says nothing of the decline, the
// workflow reads it from the invoice's payment intent in Stripe, stops
// retrying (the fake sees no pay call, ever) and asks for another card,
// saying why in words that do not tell a card thief the card is flagged.
func TestSubscriptionHardDeclineFromStripeNeverRetries(t *testing.T) {
	w := newSubscription(t)
	w.stripe.ScriptDecline(failedInv, "stolen_card")
	h := w.run(t, subWorkflowID)
	h.signal(0, snapshot("evt_created", "customer.subscription.created", "active", -time.Hour, "prod_a"))
	h.signal(10*time.Minute, failedEvent(t, w, 10*time.Minute))
	h.signal(11*time.Minute, snapshot("evt_past_due", "customer.subscription.updated", "past_due", 11*time.Minute, "prod_a"))
	var mid workflows.SubscriptionView
	qerr := h.queryAt(100*time.Minute, &mid)
	h.signal(5*time.Hour, snapshot("evt_deleted", "customer.subscription.deleted", "canceled", 5*time.Hour, "prod_a"))
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, routing.SubscriptionInput{State: billing.NewSubscription(subID), Linger: time.Hour})

	subResult(t, h)
	require.NoError(t, *qerr)
	require.Equal(t, billing.StageAwaitingCustomer, mid.DunningStage)
	require.Zero(t, w.stripe.PayAttempts(failedInv), "a stolen card is never charged again")
	require.Empty(t, w.payKeys(failedInv))
	require.Len(t, w.requestsTo("GET", "/v1/payment_intents/"+mustInvoice(t, w).PaymentIntentID), 1, "the decline is read once")

	key := subWorkflowID + "/" + failedInv + "/"
	sent := w.sent()
	require.Equal(t, 1, sent[key+"hard-decline"], "keys %v", w.sentKeys())
	require.Zero(t, sent[key+"first-failure"])
	require.Zero(t, sent[key+"reminder-1"])
	for _, m := range w.mail.Messages() {
		if m.CustomArgs["payflow_dedupe_key"] == key+"hard-decline" {
			// The reason in words; a code that hints at fraud reads as a
			// plain decline (Stripe's advice), in both parts.
			require.Contains(t, m.Text, "Your bank declined the payment.")
			require.NotContains(t, m.Text+m.HTML, "stolen")
		}
	}
	require.True(t, containsLine(notes(mid.Steps), "Stripe says invoice "+failedInv+" was declined: stolen_card"), "%v", notes(mid.Steps))
}

// A soft decline read the same way is retried on schedule.
func TestSubscriptionSoftDeclineFromStripeRetries(t *testing.T) {
	w := newSubscription(t, stripeapi.PaySucceeds)
	w.stripe.ScriptDecline(failedInv, "insufficient_funds")
	h := w.run(t, subWorkflowID)
	h.signal(0, snapshot("evt_created", "customer.subscription.created", "active", -time.Hour, "prod_a"))
	h.signal(10*time.Minute, failedEvent(t, w, 10*time.Minute))
	h.signal(5*time.Hour, snapshot("evt_deleted", "customer.subscription.deleted", "canceled", 5*time.Hour, "prod_a"))
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, routing.SubscriptionInput{State: billing.NewSubscription(subID), Linger: time.Hour})

	v := subResult(t, h)
	require.Equal(t, 1, w.stripe.PayAttempts(failedInv), "retried an hour after the failure, and paid")
	key := subWorkflowID + "/" + failedInv + "/"
	require.Equal(t, 1, w.sent()[key+"first-failure"], "keys %v", w.sentKeys())
	require.Zero(t, w.sent()[key+"hard-decline"])
	require.Equal(t, 1, v.Subscription.Recovered)
}

func mustInvoice(t *testing.T, w *world) stripeapi.Invoice {
	t.Helper()
	inv, ok := w.stripe.GetInvoice(failedInv)
	require.True(t, ok)
	return inv
}
