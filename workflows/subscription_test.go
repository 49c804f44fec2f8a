package workflows_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/workflows"
)

const (
	subID     = "sub_1"
	subWF     = "subscription/sub_1"
	firstInv  = "in_0"
	failedInv = "in_1"
	subEmail  = "subscriber@example.com"
)

// failAt is when the dunning tests' renewal fails: a day after the
// subscription started.
const failAt = 24 * time.Hour

var periodEnd = unix(30 * 24 * time.Hour)

func subEvent(id, typ string, d time.Duration, status string) payflow.Event {
	return payflow.Event{ID: id, Type: typ, Created: unix(d), ObjectType: "subscription", ObjectID: subID,
		CustomerID: customer, SubscriptionID: subID, ProductID: product, Status: status, CurrentPeriodEnd: periodEnd}
}

func invoiceEvent(id, typ, invoiceID string, d time.Duration, attempt int64, decline string) payflow.Event {
	ev := payflow.Event{ID: id, Type: typ, Created: unix(d), ObjectType: "invoice", ObjectID: invoiceID,
		CustomerID: customer, Email: subEmail, InvoiceID: invoiceID, SubscriptionID: subID, ProductID: product,
		Amount: 2000, Currency: "usd", AttemptCount: attempt, DeclineCode: decline,
		HostedInvoiceURL: "https://invoice.stripe.com/i/" + invoiceID, BillingReason: "subscription_cycle"}
	switch typ {
	case "invoice.paid", "invoice.payment_succeeded":
		ev.Status = "paid"
		ev.CurrentPeriodEnd = periodEnd
	default:
		ev.Status = "open"
	}
	return ev
}

func subInput() workflows.SubscriptionInput {
	return workflows.SubscriptionInput{State: workflows.SubscriptionState{SubscriptionID: subID, CustomerID: customer}}
}

func newSubHarness(t *testing.T, final string) *harness {
	h := newHarness(t, subWF)
	h.acts.Policy = testPolicy(final)
	return h
}

// startActive delivers what a new, paid subscription sends: access is
// granted and the first receipt goes out.
func startActive(h *harness) {
	h.signal(0, subEvent("evt_sub_created", "customer.subscription.created", 0, "active"))
	h.signal(0, invoiceEvent("evt_in0_paid", "invoice.paid", firstInv, 0, 1, ""))
}

// failRenewal delivers the renewal's failure at failAt.
func failRenewal(h *harness, decline string) {
	h.signal(failAt, invoiceEvent("evt_in1_failed", "invoice.payment_failed", failedInv, failAt, 1, decline))
}

func subResult(t *testing.T, h *harness) workflows.SubscriptionState {
	t.Helper()
	var s workflows.SubscriptionState
	require.NoError(t, h.env.GetWorkflowResult(&s))
	return s
}

// runUntil runs a workflow that does not end by itself for d of mock time
// and returns its state at the end.
func runUntil(t *testing.T, h *harness, d time.Duration, in workflows.SubscriptionInput) workflows.SubscriptionState {
	t.Helper()
	var s workflows.SubscriptionState
	qerr := h.queryAt(d-time.Second, &s)
	h.env.SetWorkflowRunTimeout(d)
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, in)
	require.NoError(t, *qerr)
	require.True(t, h.env.IsWorkflowCompleted())
	err := h.env.GetWorkflowError()
	require.Error(t, err, "the workflow should still have been running")
	require.Contains(t, err.Error(), "deadline exceeded")
	return s
}

func fmtAt(d time.Duration) string { return t0.Add(d).Format("2006-01-02 15:04") }

func keys(pays []payCall) []string {
	var out []string
	for _, p := range pays {
		out = append(out, p.Key)
	}
	return out
}

func retryKey(n int) string { return fmt.Sprintf("subscription/sub_1/in_1/retry-%d", n) }

func TestSubscriptionRecoveredByRetry(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pay       []activities.PayResult
		wantPays  []payCall
		wantMails []string
	}{
		{"after retry 1", []activities.PayResult{paid},
			[]payCall{{retryKey(1), failAt + time.Hour}},
			[]string{activities.PurposeInvoiceReceipt, activities.PurposeDunningFirst, activities.PurposeRecovered}},
		{"after retry 2", []activities.PayResult{declined("insufficient_funds"), paid},
			[]payCall{{retryKey(1), failAt + time.Hour}, {retryKey(2), failAt + 2*time.Hour}},
			[]string{activities.PurposeInvoiceReceipt, activities.PurposeDunningFirst, activities.PurposeDunningReminder, activities.PurposeRecovered}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newSubHarness(t, activities.FinalCancel)
			stripe := h.scriptStripe(tc.pay...)
			startActive(h)
			failRenewal(h, "insufficient_funds")
			var campaign workflows.SubscriptionState
			qerr := h.queryAt(failAt+time.Minute, &campaign)
			// Stripe confirms the payment our retry made.
			h.signal(failAt+3*time.Hour+time.Minute, invoiceEvent("evt_in1_paid", "invoice.paid", failedInv, failAt+3*time.Hour, 2, ""))
			h.signal(failAt+3*time.Hour+time.Minute, invoiceEvent("evt_in1_succeeded", "invoice.payment_succeeded", failedInv, failAt+3*time.Hour, 2, ""))
			s := runUntil(t, h, 10*24*time.Hour, subInput())

			require.NoError(t, *qerr)
			require.NotNil(t, campaign.Campaign)
			require.Equal(t, workflows.SubPastDue, campaign.Status)
			require.Equal(t, workflows.StageRetrying, campaign.Campaign.Stage)
			require.Equal(t, fmt.Sprintf("sub_1: past_due; payment failed %s; retry 1 of 3 on %s; access suspended from %s; final action (cancel) on %s",
				fmtAt(failAt), fmtAt(failAt+time.Hour), fmtAt(failAt+150*time.Minute), fmtAt(failAt+3*time.Hour)), campaign.Details)

			require.Equal(t, tc.wantPays, stripe.pays())
			require.Empty(t, stripe.billings(), "recovered before grace: nothing to re-check")
			require.Empty(t, stripe.cancels())
			require.Equal(t, tc.wantMails, h.store.purposes())
			require.Nil(t, s.Campaign)
			require.Equal(t, workflows.SubActive, s.Status)
			require.Equal(t, 1, s.Recovered)
			require.Equal(t, 0, s.Unrecovered)
			require.Equal(t, payflow.AccessGranted, h.store.access(customer, product))
			require.NotContains(t, h.store.entitlementLog(), customer+"/"+product+"=suspended")
			require.Equal(t, []string{firstInv, failedInv}, s.PaidInvoices)
			inv, _ := h.store.invoice(failedInv)
			require.Equal(t, "paid", inv.Status, "Stripe's invoice.paid still updates the invoice row")
			row, _ := h.store.subscription(subID)
			require.Equal(t, workflows.SubActive, row.Status)
			require.Equal(t, workflows.SubActive, s.Status)
			requireSA(t, h, workflows.SubActive)
			require.True(t, strings.HasPrefix(s.Details, "sub_1: active; renews "), s.Details)
		})
	}
}

func TestSubscriptionCustomerPaysMidCampaign(t *testing.T) {
	h := newSubHarness(t, activities.FinalCancel)
	stripe := h.scriptStripe() // every retry declines
	startActive(h)
	failRenewal(h, "insufficient_funds")
	// The customer pays on the hosted page between retry 1 and retry 2.
	h.signal(failAt+90*time.Minute, invoiceEvent("evt_in1_paid", "invoice.paid", failedInv, failAt+90*time.Minute, 2, ""))
	s := runUntil(t, h, 10*24*time.Hour, subInput())

	require.Equal(t, []payCall{{retryKey(1), failAt + time.Hour}}, stripe.pays(), "no retry after the payment")
	require.Empty(t, stripe.billings())
	require.Empty(t, stripe.cancels())
	require.Equal(t, []string{activities.PurposeInvoiceReceipt, activities.PurposeDunningFirst,
		activities.PurposeDunningReminder, activities.PurposeRecovered}, h.store.purposes(), "no email after the recovery")
	require.Nil(t, s.Campaign)
	require.Equal(t, 1, s.Recovered)
	require.Equal(t, workflows.SubActive, s.Status)
	require.Equal(t, payflow.AccessGranted, h.store.access(customer, product))
	inv, _ := h.store.invoice(failedInv)
	require.Equal(t, "paid", inv.Status)
}

func TestSubscriptionNeverRecovered(t *testing.T) {
	for _, tc := range []struct {
		final      string
		wantAccess string
		wantStatus string
		ended      bool
	}{
		{activities.FinalCancel, payflow.AccessRevoked, workflows.SubCanceled, true},
		{activities.FinalUnpaid, payflow.AccessRevoked, workflows.SubUnpaid, false},
		{activities.FinalNone, payflow.AccessSuspended, workflows.SubSuspended, false},
	} {
		t.Run(tc.final, func(t *testing.T) {
			h := newSubHarness(t, tc.final)
			stripe := h.scriptStripe()
			startActive(h)
			failRenewal(h, "insufficient_funds")
			var s workflows.SubscriptionState
			if tc.ended {
				h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, subInput())
				requireCompleted(t, h)
				require.Equal(t, failAt+3*time.Hour, h.elapsed(), "the final action runs with the last retry")
				s = subResult(t, h)
			} else {
				s = runUntil(t, h, 10*24*time.Hour, subInput())
			}

			require.Equal(t, []payCall{{retryKey(1), failAt + time.Hour}, {retryKey(2), failAt + 2*time.Hour},
				{retryKey(3), failAt + 3*time.Hour}}, stripe.pays())
			require.Equal(t, []time.Duration{failAt + 150*time.Minute, failAt + 3*time.Hour}, stripe.billings(),
				"Stripe is re-read before suspending and before the final action")
			require.Equal(t, []string{activities.PurposeInvoiceReceipt, activities.PurposeDunningFirst,
				activities.PurposeDunningReminder, activities.PurposeDunningReminder, activities.PurposeSuspended,
				activities.PurposeDunningFinal}, h.store.purposes())
			for _, k := range []string{"invoice/in_0/receipt", "in_1/first-failure", "in_1/reminder-1", "in_1/reminder-2", "in_1/suspended", "in_1/final"} {
				_, ok := h.store.email("subscription/sub_1/" + k)
				require.True(t, ok, "email %s", k)
			}
			final, _ := h.store.email("subscription/sub_1/in_1/final")
			require.Equal(t, subEmail, final.To)

			require.Equal(t, tc.wantAccess, h.store.access(customer, product))
			require.Equal(t, tc.wantStatus, s.Status)
			requireSA(t, h, tc.wantStatus)
			require.Equal(t, tc.ended, s.Ended)
			require.Equal(t, 1, s.Unrecovered)
			require.Equal(t, 0, s.Recovered)
			if tc.final == activities.FinalCancel {
				require.Equal(t, []activities.CancelRequest{{SubscriptionID: subID, IdempotencyKey: "subscription/sub_1/in_1/cancel"}}, stripe.cancels())
				require.Nil(t, s.Campaign)
				require.Equal(t, []string{customer + "/" + product + "=granted", customer + "/" + product + "=suspended",
					customer + "/" + product + "=revoked"}, h.store.entitlementLog())
			} else {
				require.Empty(t, stripe.cancels())
				require.NotNil(t, s.Campaign, "the campaign is kept so a late payment still counts")
				require.Equal(t, workflows.StageFinal, s.Campaign.Stage)
				require.Nil(t, s.Campaign.FinalAt)
				require.Nil(t, s.Campaign.NextRetryAt)
			}
			row, _ := h.store.subscription(subID)
			require.Equal(t, tc.wantStatus, row.Status)
			require.Equal(t, workflows.StageFinal, row.DunningStage)
		})
	}
}

func TestSubscriptionRecheckBeforeSuspend(t *testing.T) {
	h := newSubHarness(t, activities.FinalCancel)
	stripe := h.scriptStripe() // retries 1 and 2 decline
	startActive(h)
	failRenewal(h, "insufficient_funds")
	// Paid in Stripe (say by bank transfer) without an event reaching us.
	h.at(failAt+140*time.Minute, func() {
		stripe.setBilling(activities.Billing{SubscriptionStatus: "active", InvoiceStatus: "paid", InvoicePaid: true})
	})
	s := runUntil(t, h, 10*24*time.Hour, subInput())

	require.Equal(t, []payCall{{retryKey(1), failAt + time.Hour}, {retryKey(2), failAt + 2*time.Hour}}, stripe.pays())
	require.Equal(t, []time.Duration{failAt + 150*time.Minute}, stripe.billings())
	require.NotContains(t, h.store.purposes(), activities.PurposeSuspended)
	require.Equal(t, activities.PurposeRecovered, h.store.purposes()[len(h.store.purposes())-1])
	require.NotContains(t, h.store.entitlementLog(), customer+"/"+product+"=suspended")
	require.Equal(t, payflow.AccessGranted, h.store.access(customer, product))
	require.Nil(t, s.Campaign)
	require.Equal(t, 1, s.Recovered)
	require.Equal(t, workflows.SubActive, s.Status)
	require.Contains(t, s.PaidInvoices, failedInv)
}

func TestSubscriptionHardDecline(t *testing.T) {
	t.Run("on the failure event", func(t *testing.T) {
		h := newSubHarness(t, activities.FinalCancel)
		stripe := h.scriptStripe()
		startActive(h)
		failRenewal(h, "stolen_card")
		var mid workflows.SubscriptionState
		qerr := h.queryAt(failAt+time.Minute, &mid)
		h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, subInput())

		require.NoError(t, *qerr)
		require.NotNil(t, mid.Campaign)
		require.True(t, mid.Campaign.HardDecline)
		require.Equal(t, workflows.StageAwaitCustomer, mid.Campaign.Stage)
		require.Nil(t, mid.Campaign.NextRetryAt)
		require.Contains(t, mid.Details, "hard decline (stolen_card): waiting for a new card")

		require.Empty(t, stripe.pays(), "retrying a stolen card is futile")
		purposes := h.store.purposes()
		require.Equal(t, activities.PurposeDunningHardDecline, purposes[1])
		require.NotContains(t, purposes, activities.PurposeDunningFirst)
		require.NotContains(t, purposes, activities.PurposeDunningReminder)
		e, _ := h.store.email("subscription/sub_1/in_1/hard-decline")
		require.Contains(t, e.Body, "stolen_card")
		require.Contains(t, e.Body, "https://invoice.stripe.com/i/in_1")
		// Nobody updated the card: the campaign still ends on schedule.
		requireCompleted(t, h)
		require.Len(t, stripe.cancels(), 1)
		require.Equal(t, workflows.SubCanceled, subResult(t, h).Status)
	})
	t.Run("on a retry", func(t *testing.T) {
		h := newSubHarness(t, activities.FinalCancel)
		stripe := h.scriptStripe(declined("expired_card"))
		startActive(h)
		failRenewal(h, "insufficient_funds")
		var mid workflows.SubscriptionState
		qerr := h.queryAt(failAt+time.Hour+time.Minute, &mid)
		h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, subInput())

		require.NoError(t, *qerr)
		require.True(t, mid.Campaign.HardDecline)
		require.Equal(t, "expired_card", mid.Campaign.DeclineCode)
		require.Equal(t, []payCall{{retryKey(1), failAt + time.Hour}}, stripe.pays(), "no retry after a hard decline")
		require.Equal(t, []string{activities.PurposeInvoiceReceipt, activities.PurposeDunningFirst,
			activities.PurposeDunningHardDecline, activities.PurposeSuspended, activities.PurposeDunningFinal}, h.store.purposes())
	})
}

func TestSubscriptionActionRequired(t *testing.T) {
	h := newSubHarness(t, activities.FinalCancel)
	stripe := h.scriptStripe()
	startActive(h)
	h.signal(failAt, invoiceEvent("evt_in1_action", "invoice.payment_action_required", failedInv, failAt, 1, ""))
	// Stripe sends the failure too; it must not start retries.
	h.signal(failAt+time.Second, invoiceEvent("evt_in1_failed", "invoice.payment_failed", failedInv, failAt, 1, "authentication_required"))
	var mid workflows.SubscriptionState
	qerr := h.queryAt(failAt+time.Minute, &mid)
	// The customer authenticates two hours later.
	h.signal(failAt+2*time.Hour, invoiceEvent("evt_in1_paid", "invoice.paid", failedInv, failAt+2*time.Hour, 1, ""))
	s := runUntil(t, h, 10*24*time.Hour, subInput())

	require.NoError(t, *qerr)
	require.True(t, mid.Campaign.ActionRequired)
	require.Nil(t, mid.Campaign.NextRetryAt)
	require.Equal(t, workflows.StageAwaitCustomer, mid.Campaign.Stage)
	require.Contains(t, mid.Details, "waiting for the customer to authenticate")

	require.Empty(t, stripe.pays(), "only the customer can complete 3-D Secure")
	require.Equal(t, []string{activities.PurposeInvoiceReceipt, activities.PurposeActionRequired, activities.PurposeRecovered}, h.store.purposes())
	e, _ := h.store.email("subscription/sub_1/in_1/action-required")
	require.Contains(t, e.Body, "https://invoice.stripe.com/i/in_1")
	require.Nil(t, s.Campaign)
	require.Equal(t, workflows.SubActive, s.Status)
}

func TestSubscriptionDeletedMidCampaign(t *testing.T) {
	h := newSubHarness(t, activities.FinalCancel)
	stripe := h.scriptStripe()
	startActive(h)
	failRenewal(h, "insufficient_funds")
	h.signal(failAt+90*time.Minute, subEvent("evt_sub_deleted", "customer.subscription.deleted", failAt+90*time.Minute, "canceled"))
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, subInput())

	requireCompleted(t, h)
	require.Equal(t, failAt+90*time.Minute, h.elapsed(), "the run ends with the deletion")
	s := subResult(t, h)
	require.True(t, s.Ended)
	require.Nil(t, s.Campaign)
	require.Equal(t, workflows.SubCanceled, s.Status)
	require.Equal(t, []payCall{{retryKey(1), failAt + time.Hour}}, stripe.pays())
	require.Empty(t, stripe.cancels(), "Stripe already canceled it")
	require.Equal(t, []string{activities.PurposeInvoiceReceipt, activities.PurposeDunningFirst, activities.PurposeDunningReminder},
		h.store.purposes(), "no email after the deletion")
	require.Equal(t, payflow.AccessRevoked, h.store.access(customer, product))
	row, _ := h.store.subscription(subID)
	require.Equal(t, workflows.SubCanceled, row.Status)
	requireSA(t, h, workflows.SubCanceled)
}

func TestSubscriptionDuplicateEventsOneReceipt(t *testing.T) {
	h := newSubHarness(t, activities.FinalCancel)
	h.scriptStripe()
	paidEv := invoiceEvent("evt_in0_paid", "invoice.paid", firstInv, 0, 1, "")
	h.signal(0, paidEv)
	h.signal(time.Minute, paidEv)
	h.signal(2*time.Minute, invoiceEvent("evt_in0_succeeded", "invoice.payment_succeeded", firstInv, 0, 1, ""))
	h.signal(3*time.Minute, paidEv)
	s := runUntil(t, h, time.Hour, subInput())

	require.Equal(t, []string{activities.PurposeInvoiceReceipt}, h.store.purposes())
	require.Equal(t, []string{"evt_in0_paid", "evt_in0_succeeded"}, s.Seen)
	require.Equal(t, []string{firstInv}, s.PaidInvoices)
	require.Equal(t, workflows.SubActive, s.Status)
	require.Equal(t, []string{customer + "/" + product + "=granted"}, h.store.entitlementLog())
	e, _ := h.store.email("subscription/sub_1/invoice/in_0/receipt")
	require.Equal(t, subEmail, e.To)
	require.Contains(t, e.Body, "20.00 USD")
}

func TestSubscriptionFailureBeforeCreated(t *testing.T) {
	h := newSubHarness(t, activities.FinalCancel)
	stripe := h.scriptStripe(paid)
	h.signal(0, invoiceEvent("evt_in1_failed", "invoice.payment_failed", failedInv, 0, 1, "insufficient_funds"))
	// customer.subscription.created is older but arrives later.
	h.signal(time.Minute, subEvent("evt_sub_created", "customer.subscription.created", -time.Hour, "active"))
	var mid workflows.SubscriptionState
	qerr := h.queryAt(2*time.Minute, &mid)
	s := runUntil(t, h, 24*time.Hour, subInput())

	require.NoError(t, *qerr)
	require.NotNil(t, mid.Campaign, "the snapshot does not end the campaign")
	require.Equal(t, workflows.SubPastDue, mid.Status)
	require.Equal(t, unix(-time.Hour), mid.SnapshotCreated)
	require.Equal(t, periodEnd, mid.CurrentPeriodEnd)
	row, ok := h.store.subscription(subID)
	require.True(t, ok)
	require.Equal(t, customer, row.CustomerID)

	require.Equal(t, []payCall{{retryKey(1), time.Hour}}, stripe.pays(), "the campaign kept its schedule")
	require.Equal(t, []string{activities.PurposeDunningFirst, activities.PurposeRecovered}, h.store.purposes())
	require.Nil(t, s.Campaign)
	require.Equal(t, workflows.SubActive, s.Status)
	require.Equal(t, payflow.AccessGranted, h.store.access(customer, product))
}

func TestSubscriptionStaleSnapshotIgnored(t *testing.T) {
	h := newSubHarness(t, activities.FinalCancel)
	h.scriptStripe()
	newer := subEvent("evt_sub_upd_new", "customer.subscription.updated", 10*time.Minute, "active")
	newer.CancelAtPeriodEnd = true
	older := subEvent("evt_sub_upd_old", "customer.subscription.updated", 5*time.Minute, "unpaid")
	older.CurrentPeriodEnd = unix(time.Hour)
	h.signal(0, newer)
	h.signal(time.Minute, older)
	s := runUntil(t, h, time.Hour, subInput())

	require.Equal(t, workflows.SubActive, s.Status)
	require.Equal(t, "active", s.StripeStatus)
	require.Equal(t, periodEnd, s.CurrentPeriodEnd)
	require.True(t, s.CancelAtPeriodEnd)
	require.Equal(t, newer.Created, s.SnapshotCreated)
	require.Empty(t, h.store.entitlementLog(), "the stale 'unpaid' revoked nothing")
	require.Equal(t, "stale customer.subscription.updated ignored", s.Steps[len(s.Steps)-1].What)
	row, _ := h.store.subscription(subID)
	require.Equal(t, workflows.SubActive, row.Status)
	require.True(t, row.CancelAtPeriodEnd)
	require.Equal(t, newer.Created, row.StripeCreated)
	require.Contains(t, s.Details, "ends "+time.Unix(periodEnd, 0).UTC().Format("2006-01-02 15:04"))
}

func TestSubscriptionContinueAsNewMidCampaign(t *testing.T) {
	h := newSubHarness(t, activities.FinalCancel)
	stripe := h.scriptStripe()
	failed := invoiceEvent("evt_in1_failed", "invoice.payment_failed", failedInv, 0, 1, "insufficient_funds")
	h.signal(0, failed)
	in := subInput()
	in.MaxEventsPerRun = 2
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, in)

	// One event and one timer (retry 1) make two: the run continues as new.
	require.True(t, h.env.IsWorkflowCompleted())
	err := h.env.GetWorkflowError()
	require.Error(t, err)
	require.True(t, workflow.IsContinueAsNewError(err), "got %v", err)
	require.Equal(t, time.Hour, h.elapsed())
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(err, &can))
	require.Equal(t, workflows.SubscriptionWorkflowName, can.WorkflowType.Name)
	var next workflows.SubscriptionInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.Equal(t, 2, next.MaxEventsPerRun)
	st := next.State
	require.Equal(t, 1, st.Runs)
	require.Equal(t, []string{"evt_in1_failed"}, st.Seen)
	require.Equal(t, workflows.SubPastDue, st.Status)
	require.NotNil(t, st.Campaign)
	c := st.Campaign
	require.Equal(t, failedInv, c.InvoiceID)
	require.Equal(t, 1, c.Attempts)
	require.True(t, c.FailedAt.Equal(t0))
	require.NotNil(t, c.NextRetryAt)
	require.True(t, c.NextRetryAt.Equal(t0.Add(2*time.Hour)), "next retry %v", c.NextRetryAt)
	require.True(t, c.GraceEndsAt.Equal(t0.Add(150*time.Minute)))
	require.Equal(t, testPolicy(activities.FinalCancel), c.Policy)
	require.Equal(t, []payCall{{retryKey(1), time.Hour}}, stripe.pays())

	// The next run picks up at the same absolute times, with the same
	// memory of events.
	h2 := newSubHarness(t, activities.FinalCancel)
	h2.acts.Store = h.store
	h2.env.SetStartTime(t0.Add(time.Hour))
	stripe2 := h2.scriptStripe(paid)
	h2.signal(0, failed) // a redelivery of an event the first run applied
	var resumed workflows.SubscriptionState
	qerr := h2.queryAt(time.Minute, &resumed)
	h2.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, next)

	require.NoError(t, *qerr)
	require.Equal(t, 1, resumed.Runs)
	require.Contains(t, resumed.Details, "retry 2 of 3 on "+fmtAt(2*time.Hour))
	require.Equal(t, []payCall{{retryKey(2), 2 * time.Hour}}, stripe2.pays(), "retry 2 at failure+2h, not restart+2h")
	require.Equal(t, []string{activities.PurposeDunningFirst, activities.PurposeDunningReminder, activities.PurposeRecovered},
		h.store.purposes(), "the redelivered failure sent nothing")
	err = h2.env.GetWorkflowError()
	require.True(t, workflow.IsContinueAsNewError(err), "got %v", err)
	require.True(t, errors.As(err, &can))
	var third workflows.SubscriptionInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &third))
	require.Nil(t, third.State.Campaign)
	require.Equal(t, 1, third.State.Recovered)
	require.Equal(t, 2, third.State.Runs)
}

func TestSubscriptionStripeMode(t *testing.T) {
	h := newSubHarness(t, activities.FinalCancel)
	h.acts.Policy = activities.DunningPolicy{Mode: activities.ModeStripe, Grace: 150 * time.Minute, FinalAction: activities.FinalCancel}
	stripe := h.scriptStripe()
	h.signal(0, invoiceEvent("evt_fail_1", "invoice.payment_failed", failedInv, 0, 1, "insufficient_funds"))
	var mid workflows.SubscriptionState
	qerr := h.queryAt(time.Minute, &mid)
	h.signal(time.Hour, invoiceEvent("evt_fail_2", "invoice.payment_failed", failedInv, time.Hour, 2, "insufficient_funds"))
	h.signal(time.Hour+5*time.Minute, invoiceEvent("evt_fail_2b", "invoice.payment_failed", failedInv, time.Hour, 2, "insufficient_funds"))
	h.signal(2*time.Hour, invoiceEvent("evt_fail_3", "invoice.payment_failed", failedInv, 2*time.Hour, 3, "insufficient_funds"))
	var afterGrace workflows.SubscriptionState
	qerr2 := h.queryAt(150*time.Minute+time.Minute, &afterGrace)
	h.signal(5*time.Hour, subEvent("evt_sub_deleted", "customer.subscription.deleted", 5*time.Hour, "canceled"))
	h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, subInput())

	require.NoError(t, *qerr)
	require.Equal(t, workflows.StageStripeRetrying, mid.Campaign.Stage)
	require.Nil(t, mid.Campaign.NextRetryAt)
	require.Nil(t, mid.Campaign.FinalAt, "Stripe decides the end")
	require.Contains(t, mid.Details, "Stripe is retrying")
	require.NoError(t, *qerr2)
	require.Equal(t, workflows.SubSuspended, afterGrace.Status)
	require.True(t, afterGrace.Campaign.Suspended)
	require.Equal(t, 2, afterGrace.Campaign.Attempts)

	requireCompleted(t, h)
	require.Empty(t, stripe.pays(), "Stripe charges in stripe mode")
	require.Equal(t, []time.Duration{150 * time.Minute}, stripe.billings())
	require.Empty(t, stripe.cancels())
	require.Equal(t, []string{activities.PurposeDunningFirst, activities.PurposeDunningReminder, activities.PurposeDunningReminder,
		activities.PurposeSuspended}, h.store.purposes())
	for _, k := range []string{"in_1/first-failure", "in_1/stripe-attempt-2", "in_1/stripe-attempt-3", "in_1/suspended"} {
		_, ok := h.store.email("subscription/sub_1/" + k)
		require.True(t, ok, "email %s", k)
	}
	require.Equal(t, []string{customer + "/" + product + "=suspended", customer + "/" + product + "=revoked"}, h.store.entitlementLog())
	require.Equal(t, workflows.SubCanceled, subResult(t, h).Status)
}

func TestSubscriptionTrialWillEnd(t *testing.T) {
	h := newSubHarness(t, activities.FinalCancel)
	h.scriptStripe()
	trialEnd := unix(3 * 24 * time.Hour)
	ev := subEvent("evt_trial", "customer.subscription.trial_will_end", 0, "trialing")
	ev.TrialEnd = trialEnd
	h.signal(0, subEvent("evt_sub_created", "customer.subscription.created", -time.Hour, "trialing"))
	h.signal(time.Minute, ev)
	h.signal(2*time.Minute, ev) // redelivered
	again := ev
	again.ID = "evt_trial_again" // same trial end, another event
	h.signal(3*time.Minute, again)
	s := runUntil(t, h, time.Hour, subInput())

	require.Equal(t, []string{activities.PurposeTrialEnding}, h.store.purposes())
	e, ok := h.store.email(fmt.Sprintf("subscription/sub_1/trial-%d", trialEnd))
	require.True(t, ok)
	require.Equal(t, "Your trial ends on 2024-03-04 12:00", e.Subject)
	require.Equal(t, workflows.SubTrialing, s.Status)
	requireSA(t, h, workflows.SubTrialing)
}

// With a grace period longer than the retries, final action "none" is what
// suspends access; the status must follow.
func TestSubscriptionFinalNoneBeforeGraceEnds(t *testing.T) {
	h := newSubHarness(t, activities.FinalNone)
	h.acts.Policy.Grace = 4 * time.Hour
	stripe := h.scriptStripe()
	startActive(h)
	failRenewal(h, "insufficient_funds")
	s := runUntil(t, h, 10*24*time.Hour, subInput())

	require.Len(t, stripe.pays(), 3)
	require.Equal(t, []time.Duration{failAt + 3*time.Hour}, stripe.billings(), "no suspension step after the final action")
	require.Equal(t, payflow.AccessSuspended, h.store.access(customer, product))
	require.Equal(t, workflows.SubSuspended, s.Status)
	requireSA(t, h, workflows.SubSuspended)
	require.True(t, s.Campaign.Suspended)
	require.Equal(t, activities.PurposeDunningFinal, h.store.purposes()[len(h.store.purposes())-1])
	require.NotContains(t, h.store.purposes(), activities.PurposeSuspended)
}

// A campaign that ended with "unpaid" is kept, so a late payment still
// restores access and counts as a recovery.
func TestSubscriptionLatePaymentAfterFinalUnpaid(t *testing.T) {
	h := newSubHarness(t, activities.FinalUnpaid)
	stripe := h.scriptStripe()
	startActive(h)
	failRenewal(h, "insufficient_funds")
	h.signal(5*24*time.Hour, invoiceEvent("evt_in1_paid", "invoice.paid", failedInv, 5*24*time.Hour, 4, ""))
	s := runUntil(t, h, 10*24*time.Hour, subInput())

	require.Len(t, stripe.pays(), 3)
	require.Nil(t, s.Campaign)
	require.Equal(t, 1, s.Unrecovered)
	require.Equal(t, 1, s.Recovered)
	require.Equal(t, workflows.SubActive, s.Status)
	require.Equal(t, payflow.AccessGranted, h.store.access(customer, product))
	require.Equal(t, activities.PurposeRecovered, h.store.purposes()[len(h.store.purposes())-1])
	row, _ := h.store.subscription(subID)
	require.Equal(t, workflows.SubActive, row.Status)
}

func TestSubscriptionIncompleteShowsInStatus(t *testing.T) {
	h := newSubHarness(t, activities.FinalCancel)
	h.scriptStripe()
	h.signal(0, subEvent("evt_sub_incomplete", "customer.subscription.created", time.Minute, "incomplete"))
	s := runUntil(t, h, time.Hour, subInput())
	require.Equal(t, workflows.SubIncomplete, s.Status)
}

// A one-off invoice is paid (no collection attempt) while the renewal's
// campaign runs: it gets its receipt, and the campaign, the status and the
// suspension it leads to are unchanged.
func TestSubscriptionOtherInvoicePaidMidCampaign(t *testing.T) {
	h := newSubHarness(t, activities.FinalCancel)
	h.scriptStripe() // every retry declines
	startActive(h)
	failRenewal(h, "insufficient_funds")
	oneOff := invoiceEvent("evt_in9_paid", "invoice.paid", "in_9", failAt+30*time.Minute, 0, "")
	oneOff.BillingReason = "manual"
	h.signal(failAt+30*time.Minute, oneOff)
	var mid workflows.SubscriptionState
	qerr := h.queryAt(failAt+45*time.Minute, &mid)
	var accessMid string
	h.at(failAt+45*time.Minute, func() { accessMid = h.store.access(customer, product) })
	runUntil(t, h, failAt+160*time.Minute, subInput())

	require.NoError(t, *qerr)
	require.NotNil(t, mid.Campaign, "the campaign goes on")
	require.Equal(t, failedInv, mid.Campaign.InvoiceID)
	require.Equal(t, workflows.SubPastDue, mid.Status)
	require.Equal(t, payflow.AccessGranted, accessMid, "access is untouched until grace ends")
	_, ok := h.store.email("subscription/sub_1/invoice/in_9/receipt")
	require.True(t, ok, "the one-off invoice has its receipt")
	// Grace (150 minutes) ended: suspended as if the one-off never came.
	require.Equal(t, payflow.AccessSuspended, h.store.access(customer, product))
	require.Contains(t, h.store.purposes(), activities.PurposeSuspended)
}
