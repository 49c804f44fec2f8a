package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/workflows"
)

// pmAttached is payment_method.attached as customer/<cus> forwards it.
func pmAttached(at time.Duration) billing.Event {
	return billing.FromPayflow(payflow.Event{ID: "evt_pm", Type: "payment_method.attached", Created: unix(at),
		ObjectType: "payment_method", ObjectID: "pm_new", CustomerID: subCustomer, PaymentMethod: "pm_new"})
}

// A hard decline stops the retries and suspends access after grace; the
// customer attaches a new card and the campaign retries at once, whatever
// the schedule says: the charge (the fake's scripted success) recovers the
// invoice, access is granted again, one "payment recovered" email.
func TestSubscriptionPaymentMethodUpdateRetriesAHardDecline(t *testing.T) {
	w := newSubscription(t, stripeapi.PaySucceeds)
	h := w.run(t, subWorkflowID)
	h.signal(0, snapshot("evt_created", "customer.subscription.created", "active", -time.Hour, "prod_a"))
	h.signal(0, invoiceEvent("evt_first_paid", "invoice.paid", "in_first", -time.Hour, "subscription_create", ""))
	h.signal(10*time.Minute, invoiceEvent("evt_failed", "invoice.payment_failed", failedInv, 10*time.Minute, "subscription_cycle", "stolen_card"))
	var before workflows.SubscriptionView
	qerr := h.queryAt(170*time.Minute, &before)
	var keysBefore []string
	var accessBefore map[string]string
	h.at(170*time.Minute, func() { keysBefore, accessBefore = w.payKeys(failedInv), w.access(t, subCustomer) })
	h.forward(175*time.Minute, pmAttached(175*time.Minute))
	h.forward(176*time.Minute, pmAttached(175*time.Minute)) // forwarded twice: charges nothing more
	h.signal(5*time.Hour, snapshot("evt_deleted", "customer.subscription.deleted", "canceled", 5*time.Hour, "prod_a"))
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, routing.SubscriptionInput{State: billing.NewSubscription(subID), Linger: time.Hour})

	v := subResult(t, h)
	require.NoError(t, *qerr)
	require.Empty(t, keysBefore, "no retry after a hard decline")
	require.Equal(t, billing.StageSuspended, before.DunningStage, "grace ended (2.5h) before the card was updated")
	require.Equal(t, map[string]string{"prod_a " + subWorkflowID: payflow.AccessSuspended}, accessBefore)

	require.Equal(t, []string{subWorkflowID + "/" + failedInv + "/retry-1"}, w.payKeys(failedInv),
		"one retry, at once, with a fresh idempotency key")
	require.Equal(t, 1, v.Subscription.Recovered)
	require.Empty(t, v.Subscription.Campaigns)
	sent := w.sent()
	require.Equal(t, 1, sent[subWorkflowID+"/"+failedInv+"/recovered"], "one payment recovered email")
	require.Zero(t, sent[subWorkflowID+"/invoice/"+failedInv+"/receipt"], "recovery replaces the receipt")
	stored, err := w.db.GetInvoice(context.Background(), failedInv)
	require.NoError(t, err)
	require.Equal(t, "paid", stored.Status)
	require.Contains(t, notes(v.Steps), "payment method pm_new (payment_method.attached): invoice in_failed retried now")
}

// customer/<cus> hands a new payment method to each of the customer's
// subscriptions in dunning that is running, records the event once, and
// ends; an update that changes no payment method is handed to nobody.
func TestCustomerWorkflowFansOutToSubscriptionsInDunning(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	for _, s := range []payflow.Subscription{
		{ID: "sub_dun", CustomerID: subCustomer, Status: billing.StatusPastDue, DunningStage: billing.StageAwaitingCustomer},
		{ID: "sub_ok", CustomerID: subCustomer, Status: billing.StatusActive, DunningStage: billing.StageNone},
		{ID: "sub_gone", CustomerID: subCustomer, Status: billing.StatusPastDue, DunningStage: billing.StageSuspended},
		{ID: "sub_other", CustomerID: "cus_other", Status: billing.StatusPastDue, DunningStage: billing.StageRetrying},
	} {
		_, err := w.db.UpsertSubscription(ctx, s)
		require.NoError(t, err)
	}
	h := w.run(t, routing.CustomerID(subCustomer))
	var signalled []billing.NotifyOwner
	h.env.OnActivity(w.acts.NotifyRunning, mock.Anything, mock.Anything).Return(func(_ context.Context, n billing.NotifyOwner) (bool, error) {
		signalled = append(signalled, n)
		return n.WorkflowID != "subscription/sub_gone", nil
	})
	ev := payflow.Event{ID: "evt_cu", Type: "customer.updated", Created: unix(0), ObjectType: "customer", ObjectID: subCustomer,
		CustomerID: subCustomer, PaymentMethod: "pm_new"}
	h.signal(0, ev)
	h.signal(0, ev) // a redelivery in the same run
	h.signal(0, payflow.Event{ID: "evt_cu_email", Type: "customer.updated", Created: unix(0), ObjectType: "customer",
		ObjectID: subCustomer, CustomerID: subCustomer})
	h.env.ExecuteWorkflow(workflows.CustomerWorkflow, routing.CustomerInput{CustomerID: subCustomer})

	h.requireCompleted()
	var v workflows.CustomerView
	require.NoError(t, h.env.GetWorkflowResult(&v))
	require.Equal(t, 3, v.Events)
	require.Len(t, signalled, 2, "each subscription in dunning once; the redelivery and the email change hand nothing")
	require.ElementsMatch(t, []string{"subscription/sub_dun", "subscription/sub_gone"}, []string{signalled[0].WorkflowID, signalled[1].WorkflowID})
	for _, n := range signalled {
		require.Equal(t, "evt_cu", n.Event.ID)
		require.Equal(t, "pm_new", n.Event.PaymentMethod)
		require.True(t, billing.IsPaymentMethodUpdate(n.Event))
	}
	require.Equal(t, []string{"subscription/sub_dun"}, v.Notified, "only running workflows count")
	applied, err := w.db.EventApplied(ctx, "evt_cu")
	require.NoError(t, err)
	require.True(t, applied, "recorded in the event ledger")
}
