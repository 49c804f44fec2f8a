package workflows_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/workflows"
)

// These tests run dunning through the real StripeAPI (stripe-go) against
// the in-repo fake of Stripe's REST API, so charge attempts, re-reads and
// the cancel go over HTTP with their idempotency keys.

const fakeKey = "sk_test_payflow_workflows"

func newStripeFake(t *testing.T, h *harness) *stripeapi.Server {
	t.Helper()
	fake := stripeapi.New(fakeKey)
	url, stop := fake.Start()
	t.Cleanup(stop)
	fake.PutCustomer(customer, subEmail)
	fake.PutSubscription(stripeapi.Subscription{ID: subID, CustomerID: customer, Status: "past_due",
		LatestInvoiceID: failedInv, ProductID: product, Created: t0.Add(-30 * 24 * time.Hour)})
	fake.PutInvoice(stripeapi.Invoice{ID: failedInv, CustomerID: customer, SubscriptionID: subID, Status: "open",
		AttemptCount: 1, ProductID: product, Created: t0})
	h.acts.Stripe = activities.NewStripeAPI(fakeKey, url)
	return fake
}

// failedNoEmail is the renewal failure without an address: the email
// activity looks the customer up in Stripe.
func failedNoEmail() payflow.Event {
	ev := invoiceEvent("evt_in1_failed", "invoice.payment_failed", failedInv, 0, 1, "insufficient_funds")
	ev.Email = ""
	return ev
}

func requestsTo(fake *stripeapi.Server, method, path string) []stripeapi.RecordedRequest {
	var out []stripeapi.RecordedRequest
	for _, r := range fake.Requests() {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func TestStripeFakeRecoveredOnSecondRetry(t *testing.T) {
	h := newSubHarness(t, activities.FinalCancel)
	fake := newStripeFake(t, h)
	fake.ScriptPay(failedInv, stripeapi.PayDeclined("insufficient_funds")) // then the next attempt succeeds
	h.signal(0, failedNoEmail())
	s := runUntil(t, h, 5*24*time.Hour, subInput())

	require.Equal(t, 2, fake.PayAttempts(failedInv))
	pays := requestsTo(fake, http.MethodPost, "/v1/invoices/in_1/pay")
	require.Len(t, pays, 2)
	require.Equal(t, retryKey(1), pays[0].IdempotencyKey)
	require.Equal(t, retryKey(2), pays[1].IdempotencyKey)
	inv, _ := fake.GetInvoice(failedInv)
	require.Equal(t, "paid", inv.Status)
	require.Nil(t, s.Campaign)
	require.Equal(t, workflows.SubActive, s.Status)
	require.Equal(t, payflow.AccessGranted, h.store.access(customer, product))
	require.Equal(t, []string{activities.PurposeDunningFirst, activities.PurposeDunningReminder, activities.PurposeRecovered}, h.store.purposes())
	first, _ := h.store.email("subscription/sub_1/in_1/first-failure")
	require.Equal(t, subEmail, first.To, "the address comes from Stripe's customer")
	require.Equal(t, payflow.EmailOutbox, first.Status)
	reminder, _ := h.store.email("subscription/sub_1/in_1/reminder-1")
	require.Contains(t, reminder.Body, "Attempt 1 to charge invoice in_1 failed")
	require.Empty(t, requestsTo(fake, http.MethodDelete, "/v1/subscriptions/sub_1"))
}

func TestStripeFakeNeverRecoveredCancels(t *testing.T) {
	h := newSubHarness(t, activities.FinalCancel)
	fake := newStripeFake(t, h)
	fake.ScriptPay(failedInv, stripeapi.PayDeclined("insufficient_funds"), stripeapi.PayDeclined("insufficient_funds"),
		stripeapi.PayDeclined("insufficient_funds"))
	h.signal(0, failedNoEmail())
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, subInput())

	requireCompleted(t, h)
	require.Equal(t, 3*time.Hour, h.elapsed())
	require.Equal(t, 3, fake.PayAttempts(failedInv))
	require.Len(t, requestsTo(fake, http.MethodGet, "/v1/subscriptions/sub_1"), 2, "re-read before suspending and before canceling")
	cancels := requestsTo(fake, http.MethodDelete, "/v1/subscriptions/sub_1")
	require.Len(t, cancels, 1)
	require.Equal(t, "subscription/sub_1/in_1/cancel", cancels[0].IdempotencyKey)
	sub, _ := fake.GetSubscription(subID)
	require.Equal(t, "canceled", sub.Status)
	s := subResult(t, h)
	require.Equal(t, workflows.SubCanceled, s.Status)
	require.Equal(t, payflow.AccessRevoked, h.store.access(customer, product))
	require.Equal(t, []string{activities.PurposeDunningFirst, activities.PurposeDunningReminder, activities.PurposeDunningReminder,
		activities.PurposeSuspended, activities.PurposeDunningFinal}, h.store.purposes())
}

func TestStripeFakePaidElsewhereBeforeSuspension(t *testing.T) {
	h := newSubHarness(t, activities.FinalCancel)
	fake := newStripeFake(t, h)
	fake.ScriptPay(failedInv, stripeapi.PayDeclined("insufficient_funds"), stripeapi.PayDeclined("insufficient_funds"))
	h.signal(0, failedNoEmail())
	// Paid out of band (say by bank transfer) after retry 2, before grace ends.
	h.at(140*time.Minute, func() {
		inv, _ := fake.GetInvoice(failedInv)
		inv.Status = "paid"
		fake.PutInvoice(inv)
	})
	s := runUntil(t, h, 5*24*time.Hour, subInput())

	require.Equal(t, 2, fake.PayAttempts(failedInv))
	require.Nil(t, s.Campaign)
	require.Equal(t, 1, s.Recovered)
	require.NotContains(t, h.store.purposes(), activities.PurposeSuspended)
	require.NotContains(t, h.store.entitlementLog(), customer+"/"+product+"=suspended")
	require.Empty(t, requestsTo(fake, http.MethodDelete, "/v1/subscriptions/sub_1"))
}

func TestStripeFakeHardDeclineOnRetry(t *testing.T) {
	h := newSubHarness(t, activities.FinalUnpaid)
	fake := newStripeFake(t, h)
	fake.ScriptPay(failedInv, stripeapi.PayDeclined("lost_card"))
	h.signal(0, failedNoEmail())
	var mid workflows.SubscriptionState
	qerr := h.queryAt(time.Hour+time.Minute, &mid)
	s := runUntil(t, h, 5*24*time.Hour, subInput())

	require.NoError(t, *qerr)
	require.True(t, mid.Campaign.HardDecline)
	require.Equal(t, "lost_card", mid.Campaign.DeclineCode)
	require.Equal(t, 1, fake.PayAttempts(failedInv), "no retry after the card was reported lost")
	e, ok := h.store.email("subscription/sub_1/in_1/hard-decline")
	require.True(t, ok)
	require.Contains(t, e.Body, "lost_card")
	require.Equal(t, workflows.SubUnpaid, s.Status)
	require.Equal(t, payflow.AccessRevoked, h.store.access(customer, product))
	require.Empty(t, requestsTo(fake, http.MethodDelete, "/v1/subscriptions/sub_1"), "final action unpaid cancels nothing")
}

// voidedAt runs a campaign whose first two retries decline and whose
// invoice the merchant voids at the given time.
func voidedAt(t *testing.T, at time.Duration) (*harness, *stripeapi.Server, workflows.SubscriptionState) {
	h := newSubHarness(t, activities.FinalCancel)
	fake := newStripeFake(t, h)
	fake.ScriptPay(failedInv, stripeapi.PayDeclined("insufficient_funds"), stripeapi.PayDeclined("insufficient_funds"))
	h.signal(0, failedNoEmail())
	h.at(at, func() {
		inv, _ := fake.GetInvoice(failedInv)
		inv.Status = "void"
		fake.PutInvoice(inv)
	})
	return h, fake, runUntil(t, h, 5*24*time.Hour, subInput())
}

// The merchant voids the invoice between retry 2 and the end of grace: the
// re-read before suspending sees it, and the campaign ends without
// suspending, charging again or canceling.
func TestStripeFakeVoidedBeforeSuspension(t *testing.T) {
	h, fake, s := voidedAt(t, 140*time.Minute)

	require.Equal(t, 2, fake.PayAttempts(failedInv))
	require.Nil(t, s.Campaign)
	require.Equal(t, workflows.SubActive, s.Status)
	require.Zero(t, s.Recovered, "a void invoice is not a recovered payment")
	require.NotContains(t, h.store.purposes(), activities.PurposeSuspended)
	require.NotContains(t, h.store.purposes(), activities.PurposeRecovered)
	require.NotContains(t, h.store.entitlementLog(), customer+"/"+product+"=suspended")
	require.Empty(t, requestsTo(fake, http.MethodDelete, "/v1/subscriptions/sub_1"))
	require.Contains(t, s.Steps[len(s.Steps)-1].What, "void")
}

// Voided after the suspension: retry 3 gets Stripe's refusal to pay a void
// invoice, which ends the campaign (it used to fail the workflow) and gives
// access back.
func TestStripeFakeVoidedAfterSuspension(t *testing.T) {
	h, fake, s := voidedAt(t, 170*time.Minute)

	require.Len(t, requestsTo(fake, http.MethodPost, "/v1/invoices/in_1/pay"), 3)
	require.Nil(t, s.Campaign)
	require.Equal(t, workflows.SubActive, s.Status)
	require.Contains(t, h.store.purposes(), activities.PurposeSuspended)
	log := h.store.entitlementLog()
	require.Equal(t, customer+"/"+product+"=granted", log[len(log)-1], "access restored: %v", log)
	require.Equal(t, payflow.AccessGranted, h.store.access(customer, product))
	require.Empty(t, requestsTo(fake, http.MethodDelete, "/v1/subscriptions/sub_1"))
}
