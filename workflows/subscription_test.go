package workflows_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/workflows"
)

const (
	subCustomer = "cus_sub"
	subEmail    = "subscriber@example.com"
	subID       = "sub_1"
	failedInv   = "in_failed"
)

var subWorkflowID = routing.SubscriptionID(subID)

// snapshot is a customer.subscription.* event as the receiver decodes it.
func snapshot(id, typ, status string, at time.Duration, products ...string) payflow.Event {
	ev := payflow.Event{ID: id, Type: typ, Created: unix(at), ObjectType: "subscription", ObjectID: subID,
		CustomerID: subCustomer, SubscriptionID: subID, Status: status, CollectionMethod: "charge_automatically",
		CurrentPeriodStart: unix(at - time.Hour), CurrentPeriodEnd: unix(30 * 24 * time.Hour)}
	for i, p := range products {
		ev.Items = append(ev.Items, payflow.Item{ID: "si_" + p, PriceID: "price_" + p, ProductID: p, Quantity: int64(i + 1)})
	}
	return ev
}

// invoiceEvent is an invoice.* event as the receiver decodes it.
func invoiceEvent(id, typ, invoice string, at time.Duration, reason, decline string) payflow.Event {
	ev := payflow.Event{ID: id, Type: typ, Created: unix(at), ObjectType: "invoice", ObjectID: invoice,
		CustomerID: subCustomer, Email: subEmail, InvoiceID: invoice, SubscriptionID: subID, AmountDue: 2000,
		Currency: "usd", BillingReason: reason, CollectionMethod: "charge_automatically", AttemptCount: 1,
		HostedInvoiceURL: "https://invoice.stripe.com/i/" + invoice, DeclineCode: decline, PeriodEnd: unix(30 * 24 * time.Hour)}
	if typ == "invoice.paid" || typ == "invoice.payment_succeeded" {
		ev.AmountPaid, ev.Status = 2000, "paid"
	} else {
		ev.Status = "open"
	}
	return ev
}

// newSubscription seeds Stripe's side: the subscription past due and its
// open invoice, with the outcomes of the charge attempts.
func newSubscription(t *testing.T, pay ...stripeapi.PayOutcome) *world {
	t.Helper()
	w := newWorld(t)
	w.stripe.PutCustomer(subCustomer, subEmail)
	w.stripe.PutSubscription(stripeapi.Subscription{ID: subID, CustomerID: subCustomer, Status: "past_due", LatestInvoiceID: failedInv})
	w.stripe.PutInvoice(stripeapi.Invoice{ID: failedInv, CustomerID: subCustomer, SubscriptionID: subID, Status: "open", AttemptCount: 1})
	w.stripe.ScriptPay(failedInv, pay...)
	return w
}

func subResult(t *testing.T, h *harness) workflows.SubscriptionView {
	t.Helper()
	h.requireCompleted()
	var v workflows.SubscriptionView
	require.NoError(t, h.env.GetWorkflowResult(&v))
	return v
}

func (w *world) payKeys(invoice string) []string {
	var keys []string
	for _, r := range w.stripe.Requests() {
		if r.Method == "POST" && r.Path == "/v1/invoices/"+invoice+"/pay" {
			keys = append(keys, r.IdempotencyKey)
		}
	}
	return keys
}

// A failed renewal: the loop waits for the core's retry timer, charges
// through Stripe (the fake), feeds the decline back (a reminder), and the
// second retry's payment recovers the campaign. The status stays Stripe's;
// the dunning stage is its own search attribute. The subscription then
// ends, and the run completes after lingering.
func TestSubscriptionDunningRecoveredByRetry(t *testing.T) {
	w := newSubscription(t, stripeapi.PayDeclined("insufficient_funds"), stripeapi.PaySucceeds)
	cs := newCounters()
	w.metrics = cs
	h := w.run(t, subWorkflowID)
	h.signal(0, snapshot("evt_created", "customer.subscription.created", "active", -time.Hour, "prod_a"))
	h.signal(0, invoiceEvent("evt_first_paid", "invoice.paid", "in_first", -time.Hour, "subscription_create", ""))
	h.signal(10*time.Minute, invoiceEvent("evt_failed", "invoice.payment_failed", failedInv, 10*time.Minute, "subscription_cycle", "insufficient_funds"))
	h.signal(11*time.Minute, snapshot("evt_past_due", "customer.subscription.updated", "past_due", 11*time.Minute, "prod_a"))
	var mid workflows.SubscriptionView
	qerr := h.queryAt(100*time.Minute, &mid)
	h.signal(5*time.Hour, snapshot("evt_deleted", "customer.subscription.deleted", "canceled", 5*time.Hour, "prod_a"))
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, routing.SubscriptionInput{State: billing.NewSubscription(subID), Linger: time.Hour})

	v := subResult(t, h)
	require.Equal(t, 6*time.Hour, h.elapsed(), "deleted at 5h, then an hour of lingering")
	require.NoError(t, *qerr)
	require.Equal(t, billing.StatusPastDue, mid.Status)
	require.Equal(t, billing.StageRetrying, mid.DunningStage)
	require.Contains(t, mid.Details, "retry 2 of 3 on 2024-03-01 14:10")
	require.NotEmpty(t, mid.Timers)

	require.Equal(t, []string{routing.SubscriptionID(subID) + "/" + failedInv + "/retry-1", routing.SubscriptionID(subID) + "/" + failedInv + "/retry-2"},
		w.payKeys(failedInv), "retries at 1h and 2h after the failure, with their idempotency keys")
	key := subWorkflowID + "/"
	require.Equal(t, []string{key + "in_failed/first-failure", key + "in_failed/recovered", key + "in_failed/reminder-1",
		key + "invoice/in_first/receipt"}, w.sentKeys())
	require.Equal(t, billing.StatusCanceled, v.Status)
	require.Equal(t, 1, v.Subscription.Recovered)
	require.Equal(t, int64(2000), cs.counted("payflow_dunning_recovered_amount", "currency=usd"), "minor units")
	require.Equal(t, int64(1), cs.counted("payflow_dunning_time_to_recover", "category=insufficient_funds"), "one time recorded")
	require.Equal(t, int64(1), cs.counted("payflow_dunning_campaigns_recovered", "category=insufficient_funds", "attempt=2"),
		"recovered by the second retry: two failed attempts before (the first failure, retry 1)")
	require.Equal(t, int64(0), cs.counted("payflow_dunning_campaigns_unrecovered"))
	require.Equal(t, int64(1), cs.counted("payflow_dunning_campaigns_started"))
	require.Equal(t, map[string]string{"prod_a " + subWorkflowID: payflow.AccessRevoked}, w.access(t, subCustomer))
	upserts := h.sa.upserts()
	require.Equal(t, []string{
		"StripeCustomerID=cus_sub,PayflowStatus=active,PayflowDunningStage=none",
		"PayflowDunningStage=retrying",
		"PayflowStatus=past_due",
		"PayflowDunningStage=none",
		"PayflowStatus=canceled",
	}, upserts)
	s, err := w.db.GetSubscription(context.Background(), subID)
	require.NoError(t, err)
	require.Equal(t, billing.StatusCanceled, s.Status)
	require.Equal(t, billing.StageNone, s.DunningStage)
}

// Never recovered: suspended after grace (after re-reading Stripe), then
// the final action cancels in Stripe once the last retry failed; access is
// revoked. The status stays past_due until Stripe says canceled.
func TestSubscriptionDunningFinalCancel(t *testing.T) {
	d := stripeapi.PayDeclined("insufficient_funds")
	w := newSubscription(t, d, d, d)
	cs := newCounters()
	w.metrics = cs
	h := w.run(t, subWorkflowID)
	h.signal(0, snapshot("evt_created", "customer.subscription.created", "active", -time.Hour, "prod_a"))
	h.signal(0, invoiceEvent("evt_failed", "invoice.payment_failed", failedInv, 0, "subscription_cycle", "insufficient_funds"))
	h.signal(time.Minute, snapshot("evt_past_due", "customer.subscription.updated", "past_due", time.Minute, "prod_a"))
	var atGrace, atFinal map[string]string
	var stageAtGrace string
	h.at(150*time.Minute+time.Second, func() {
		atGrace, stageAtGrace = w.access(t, subCustomer), h.sa.get("PayflowDunningStage")
	})
	h.at(3*time.Hour+time.Second, func() { atFinal = w.access(t, subCustomer) })
	// Stripe's event for the cancel payflow asked for.
	h.signal(4*time.Hour, snapshot("evt_deleted", "customer.subscription.deleted", "canceled", 4*time.Hour, "prod_a"))
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, routing.SubscriptionInput{State: billing.NewSubscription(subID), Linger: time.Hour})

	v := subResult(t, h)
	require.Equal(t, 5*time.Hour, h.elapsed())
	require.Equal(t, map[string]string{"prod_a " + subWorkflowID: payflow.AccessSuspended}, atGrace, "suspended when grace ends")
	require.Equal(t, billing.StageSuspended, stageAtGrace)
	require.Equal(t, map[string]string{"prod_a " + subWorkflowID: payflow.AccessRevoked}, atFinal, "revoked by the final action")
	require.Len(t, w.payKeys(failedInv), 3)
	sub, ok := w.stripe.GetSubscription(subID)
	require.True(t, ok)
	require.Equal(t, "canceled", sub.Status)
	key := subWorkflowID + "/in_failed/"
	require.Equal(t, []string{key + "final", key + "first-failure", key + "reminder-1", key + "reminder-2", key + "suspended"}, w.sentKeys())
	require.Equal(t, billing.StatusCanceled, v.Status)
	require.Equal(t, 1, v.Subscription.Unrecovered)
	require.Equal(t, int64(1), cs.counted("payflow_dunning_campaigns_unrecovered", "category=insufficient_funds"))
	require.Equal(t, int64(0), cs.counted("payflow_dunning_campaigns_recovered"))
	var statuses, stages []string
	for _, u := range h.sa.upserts() {
		for _, kv := range splitKV(u) {
			switch kv[0] {
			case "PayflowStatus":
				statuses = append(statuses, kv[1])
			case "PayflowDunningStage":
				stages = append(stages, kv[1])
			}
		}
	}
	require.Equal(t, []string{"active", "past_due", "canceled"}, statuses, "Stripe's statuses only")
	require.Equal(t, []string{"none", "retrying", "suspended", "final", "none"}, stages)
	lines := notes(v.Steps)
	require.True(t, containsLine(lines, "grace period over for invoice in_failed: access suspended"), lines)
	require.True(t, containsLine(lines, "final action cancel"), lines)
}

// Continue-as-new hands the whole state to the next run, seen event IDs,
// campaign, timeline and all: the campaign's timer fires in the next run,
// and a redelivery of the failure there is recognised without the ledger.
func TestSubscriptionContinueAsNewCarriesState(t *testing.T) {
	w := newSubscription(t, stripeapi.PaySucceeds)
	h := w.run(t, subWorkflowID)
	h.signal(0, snapshot("evt_created", "customer.subscription.created", "active", -time.Hour, "prod_a"))
	h.signal(0, invoiceEvent("evt_failed", "invoice.payment_failed", failedInv, 0, "subscription_cycle", "insufficient_funds"))
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, routing.SubscriptionInput{State: billing.NewSubscription(subID), MaxEventsPerRun: 2})

	next := continuedAs(t, h)
	require.Equal(t, time.Duration(0), h.elapsed(), "two events make two: the run continues as new after draining")
	require.Equal(t, 1, next.Runs)
	require.Equal(t, 2, next.MaxEventsPerRun)
	require.Equal(t, []string{"evt_created", "evt_failed"}, next.State.Seen)
	require.Len(t, next.State.Campaigns, 1)
	require.NotEmpty(t, next.Timeline)

	h2 := w.run(t, subWorkflowID)
	h2.signal(0, invoiceEvent("evt_failed", "invoice.payment_failed", failedInv, 0, "subscription_cycle", "insufficient_funds"))
	h2.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, next)

	third := continuedAs(t, h2)
	require.Equal(t, time.Hour, h2.elapsed(), "the retry timer of the first run fired in the second")
	require.Equal(t, 2, third.Runs)
	require.Empty(t, third.State.Campaigns)
	require.Equal(t, 1, third.State.Recovered)
	require.Greater(t, len(third.Timeline), len(next.Timeline))
	key := subWorkflowID + "/in_failed/"
	require.Equal(t, []string{key + "first-failure", key + "recovered"}, w.sentKeys(), "the redelivered failure sent nothing")
}

// An upgrade from basic to pro: pro granted, basic revoked for this
// subscription's source only.
func TestSubscriptionUpgradeRevokesTheDroppedProduct(t *testing.T) {
	w := newWorld(t)
	h := w.run(t, subWorkflowID)
	h.signal(0, snapshot("evt_created", "customer.subscription.created", "active", -time.Hour, "prod_basic"))
	h.signal(time.Minute, snapshot("evt_upgraded", "customer.subscription.updated", "active", time.Minute, "prod_pro"))
	var afterUpgrade map[string]string
	h.at(2*time.Minute, func() { afterUpgrade = w.access(t, subCustomer) })
	h.signal(time.Hour, snapshot("evt_deleted", "customer.subscription.deleted", "canceled", time.Hour, "prod_pro"))
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, routing.SubscriptionInput{State: billing.NewSubscription(subID), Linger: time.Minute})

	subResult(t, h)
	require.Equal(t, map[string]string{"prod_basic " + subWorkflowID: payflow.AccessRevoked, "prod_pro " + subWorkflowID: payflow.AccessGranted}, afterUpgrade)
}

// A subscription workflow that only ever saw a forwarded dispute (its
// earlier run closed) records it and completes after lingering.
func TestSubscriptionForwardedDisputeOnly(t *testing.T) {
	w := newWorld(t)
	h := w.run(t, subWorkflowID)
	h.forward(0, billing.Event{ID: "evt_dp", Type: "charge.dispute.created", Created: unix(0), DisputeID: "dp_1", ChargeID: "ch_1",
		InvoiceID: "in_1", SubscriptionID: subID, CustomerID: subCustomer, Amount: 2000, Currency: "usd", Status: "needs_response"})
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, routing.SubscriptionInput{State: billing.NewSubscription(subID), Linger: time.Hour})

	v := subResult(t, h)
	require.Equal(t, time.Hour, h.elapsed())
	inv, ok := v.Subscription.Invoice("in_1")
	require.True(t, ok)
	require.NotNil(t, inv.Dispute)
	require.Equal(t, "needs_response", inv.Dispute.Status)
	stored, err := w.db.GetInvoice(context.Background(), "in_1")
	require.NoError(t, err)
	require.Equal(t, "dp_1", stored.DisputeID)
}

func continuedAs(t *testing.T, h *harness) routing.SubscriptionInput {
	t.Helper()
	require.True(t, h.env.IsWorkflowCompleted())
	err := h.env.GetWorkflowError()
	require.True(t, workflow.IsContinueAsNewError(err), "got %v", err)
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(err, &can))
	require.Equal(t, routing.SubscriptionWorkflowName, can.WorkflowType.Name)
	var next routing.SubscriptionInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	return next
}

func splitKV(upsert string) [][2]string {
	var out [][2]string
	for _, part := range strings.Split(upsert, ",") {
		if k, v, ok := strings.Cut(part, "="); ok {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}
