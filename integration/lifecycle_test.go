package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	sdkpb "go.temporal.io/api/sdk/v1"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/workflows"
)

func stripeInvoice(id, cus, sub string) stripeapi.Invoice {
	return stripeapi.Invoice{ID: id, CustomerID: cus, SubscriptionID: sub, Amount: 2000, Currency: "usd", Status: "open",
		BillingReason: "subscription_cycle", AttemptCount: 1}
}

func entitlement(t testing.TB, cus string) payflow.Entitlement {
	t.Helper()
	s := summary(t, cus)
	if len(s.Entitlements) != 1 {
		t.Fatalf("%s has %d entitlements: %+v", cus, len(s.Entitlements), s.Entitlements)
	}
	return s.Entitlements[0]
}

func waitAccess(t testing.TB, cus, want string) {
	t.Helper()
	waitFor(t, 60*time.Second, cus+" access "+want, func() (bool, string) {
		s := summary(t, cus)
		if len(s.Entitlements) != 1 {
			return false, fmt.Sprintf("%d entitlements", len(s.Entitlements))
		}
		return s.Entitlements[0].Status == want, s.Entitlements[0].Status
	})
}

// Issue 5: dunning through HTTP on the real dev server, with the policy in
// seconds and the Stripe fake answering the invoice-pay calls.
func TestDunningEndToEnd(t *testing.T) {
	t.Run("recovered after two failed retries", func(t *testing.T) {
		t.Parallel()
		cus, sub, inv := "cus_dun_rec", "sub_dun_rec", "in_dun_rec"
		key := "subscription/" + sub + "/" + inv + "/"
		sys.stripe.PutSubscription(stripeapi.Subscription{ID: sub, CustomerID: cus, Status: "past_due"})
		sys.stripe.PutInvoice(stripeInvoice(inv, cus, sub))
		sys.stripe.ScriptPay(inv, stripeapi.PayDeclined("insufficient_funds"), stripeapi.PayDeclined("insufficient_funds"))

		mustDeliver(t, build(t, "customer.subscription.created", fixtures.Options{CustomerID: cus, SubscriptionID: sub, Created: time.Now().Add(-time.Minute)}))
		mustDeliver(t, build(t, "invoice.paid", fixtures.Options{CustomerID: cus, SubscriptionID: sub, InvoiceID: "in_dun_rec_first"}))
		waitAccess(t, cus, payflow.AccessGranted)
		mustDeliver(t, build(t, "invoice.payment_failed", fixtures.Options{CustomerID: cus, SubscriptionID: sub, InvoiceID: inv}))
		waitStatus(t, workflows.SubscriptionID(sub), workflows.SubPastDue)
		waitFor(t, 30*time.Second, "two retries and two reminders", func() (bool, string) {
			got := sentWith(key)
			return sys.stripe.PayAttempts(inv) == 2 && got[key+"reminder-2"] == 1, fmt.Sprintf("attempts %d, emails %v", sys.stripe.PayAttempts(inv), got)
		})
		var st workflows.SubscriptionState
		query(t, workflows.SubscriptionID(sub), &st)
		if st.Campaign == nil || st.Campaign.Attempts != 2 || !strings.Contains(st.Details, "retry 3 of 3") {
			t.Fatalf("state mid-campaign: %+v", st)
		}
		// The one line the Temporal UI shows as the workflow's current details.
		v, err := sys.temporal.QueryWorkflow(context.Background(), workflows.SubscriptionID(sub), "", "__temporal_workflow_metadata")
		if err != nil {
			t.Fatal(err)
		}
		var md sdkpb.WorkflowMetadata
		if err := v.Get(&md); err != nil {
			t.Fatal(err)
		}
		if d := md.GetCurrentDetails(); !strings.Contains(d, "past_due; payment failed") || !strings.Contains(d, "retry 3 of 3 on") || !strings.Contains(d, "access suspended from") {
			t.Fatalf("current details %q", d)
		}
		// The customer pays.
		mustDeliver(t, build(t, "invoice.paid", fixtures.Options{CustomerID: cus, SubscriptionID: sub, InvoiceID: inv}))
		waitStatus(t, workflows.SubscriptionID(sub), workflows.SubActive)
		waitFor(t, 20*time.Second, "recovered email", func() (bool, string) {
			got := sentWith(key)
			return got[key+"recovered"] == 1, fmt.Sprint(got)
		})
		got := sentWith(key)
		want := map[string]int{key + "first-failure": 1, key + "reminder-1": 1, key + "reminder-2": 1, key + "recovered": 1}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("emails %v, want %v", got, want)
		}
		if e := entitlement(t, cus); e.Status != payflow.AccessGranted {
			t.Fatalf("access after recovery: %+v", e)
		}
		time.Sleep(2 * time.Second)
		if n := sys.stripe.PayAttempts(inv); n != 2 {
			t.Fatalf("%d charge attempts; the recovery should have cancelled the rest", n)
		}
	})
	t.Run("never recovered: suspended, then canceled", func(t *testing.T) {
		t.Parallel()
		cus, sub, inv := "cus_dun_lost", "sub_dun_lost", "in_dun_lost"
		key := "subscription/" + sub + "/" + inv + "/"
		sys.stripe.PutSubscription(stripeapi.Subscription{ID: sub, CustomerID: cus, Status: "past_due"})
		sys.stripe.PutInvoice(stripeInvoice(inv, cus, sub))
		d := stripeapi.PayDeclined("insufficient_funds")
		sys.stripe.ScriptPay(inv, d, d, d)
		mustDeliver(t, build(t, "invoice.paid", fixtures.Options{CustomerID: cus, SubscriptionID: sub, InvoiceID: "in_dun_lost_first"}))
		waitAccess(t, cus, payflow.AccessGranted)
		mustDeliver(t, build(t, "invoice.payment_failed", fixtures.Options{CustomerID: cus, SubscriptionID: sub, InvoiceID: inv}))
		waitStatus(t, workflows.SubscriptionID(sub), workflows.SubPastDue)
		waitAccess(t, cus, payflow.AccessSuspended) // grace: 30 s
		waitStatus(t, workflows.SubscriptionID(sub), workflows.SubSuspended)
		waitCompleted(t, workflows.SubscriptionID(sub)) // last retry at 40 s fails → cancel
		if e := entitlement(t, cus); e.Status != payflow.AccessRevoked {
			t.Fatalf("access after cancellation: %+v", e)
		}
		if s, ok := sys.stripe.GetSubscription(sub); !ok || s.Status != "canceled" {
			t.Fatalf("Stripe subscription %+v, want canceled", s)
		}
		got := sentWith(key)
		want := map[string]int{key + "first-failure": 1, key + "reminder-1": 1, key + "reminder-2": 1, key + "suspended": 1, key + "final": 1}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("emails %v, want %v", got, want)
		}
		if n := sys.stripe.PayAttempts(inv); n != 3 {
			t.Fatalf("%d charge attempts, want 3", n)
		}
	})
}

// Issue 6: async checkout, a full refund after fulfilment, a dispute lost.
func TestPaymentLifecycleEndToEnd(t *testing.T) {
	t.Run("async checkout succeeded", func(t *testing.T) {
		t.Parallel()
		o := fixtures.Options{CustomerID: "cus_async_ok", PaymentIntentID: "pi_async_ok", CheckoutSessionID: "cs_test_async_ok", Mode: "payment", PaymentStatus: "unpaid"}
		mustDeliver(t, build(t, "checkout.session.completed", o))
		waitStatus(t, workflows.OrderID(o.PaymentIntentID), workflows.StatusAwaitingPay)
		if s := summary(t, o.CustomerID); len(s.Entitlements) != 0 {
			t.Fatalf("access granted before the payment arrived: %+v", s.Entitlements)
		}
		o.PaymentStatus = "paid"
		mustDeliver(t, build(t, "checkout.session.async_payment_succeeded", o))
		waitCompleted(t, workflows.OrderID(o.PaymentIntentID))
		waitAccess(t, o.CustomerID, payflow.AccessGranted)
		if got := sentWith("order/pi_async_ok/"); got["order/pi_async_ok/receipt"] != 1 {
			t.Fatalf("emails %v", got)
		}
	})
	t.Run("async checkout failed", func(t *testing.T) {
		t.Parallel()
		o := fixtures.Options{CustomerID: "cus_async_ko", PaymentIntentID: "pi_async_ko", CheckoutSessionID: "cs_test_async_ko", Mode: "payment", PaymentStatus: "unpaid"}
		mustDeliver(t, build(t, "checkout.session.completed", o))
		waitStatus(t, workflows.OrderID(o.PaymentIntentID), workflows.StatusAwaitingPay)
		mustDeliver(t, build(t, "checkout.session.async_payment_failed", o))
		waitCompleted(t, workflows.OrderID(o.PaymentIntentID))
		s := summary(t, o.CustomerID)
		if len(s.Entitlements) != 0 || len(s.Orders) != 1 || s.Orders[0].Status != payflow.OrderFailed {
			t.Fatalf("orders %+v entitlements %+v", s.Orders, s.Entitlements)
		}
		if got := sentWith("order/pi_async_ko/"); len(got) != 1 || got["order/pi_async_ko/payment-failed"] != 1 {
			t.Fatalf("emails %v", got)
		}
	})
	t.Run("full refund after fulfilment", func(t *testing.T) {
		t.Parallel()
		o := fixtures.Options{CustomerID: "cus_refund", PaymentIntentID: "pi_refund", ChargeID: "ch_refund", Amount: 3000}
		mustDeliver(t, build(t, "payment_intent.succeeded", o))
		waitCompleted(t, workflows.OrderID(o.PaymentIntentID))
		waitAccess(t, o.CustomerID, payflow.AccessGranted)
		o.AmountRefunded = 3000
		mustDeliver(t, build(t, "charge.refunded", o)) // a new run of the closed order
		waitAccess(t, o.CustomerID, payflow.AccessRevoked)
		waitCompleted(t, workflows.OrderID(o.PaymentIntentID))
		s := summary(t, o.CustomerID)
		if len(s.Orders) != 1 || s.Orders[0].Status != payflow.OrderRefunded {
			t.Fatalf("orders %+v", s.Orders)
		}
		if got := sentWith("order/pi_refund/"); got["order/pi_refund/receipt"] != 1 || got["order/pi_refund/refund/ch_refund"] != 1 {
			t.Fatalf("emails %v", got)
		}
	})
	t.Run("dispute created then lost", func(t *testing.T) {
		t.Parallel()
		o := fixtures.Options{CustomerID: "cus_dispute", PaymentIntentID: "pi_dispute", ChargeID: "ch_dispute", DisputeID: "dp_lost"}
		mustDeliver(t, build(t, "payment_intent.succeeded", o))
		waitCompleted(t, workflows.OrderID(o.PaymentIntentID))
		mustDeliver(t, build(t, "charge.dispute.created", o))
		waitFor(t, 30*time.Second, "dispute alert", func() (bool, string) {
			got := sentWith("dispute/dp_lost/")
			return got["dispute/dp_lost/opened"] == 1, fmt.Sprint(got)
		})
		waitAccess(t, o.CustomerID, payflow.AccessSuspended)
		waitStatus(t, workflows.DisputeID("dp_lost"), workflows.DisputeNeedsResponse)
		o.DisputeStatus = "lost"
		mustDeliver(t, build(t, "charge.dispute.closed", o))
		waitCompleted(t, workflows.DisputeID("dp_lost"))
		waitAccess(t, o.CustomerID, payflow.AccessRevoked)
		_, attrs := describe(t, workflows.DisputeID("dp_lost"))
		if attrs["PayflowStatus"] != workflows.DisputeLost || attrs["StripeCustomerID"] != o.CustomerID {
			t.Fatalf("search attributes %v", attrs)
		}
		s := summary(t, o.CustomerID)
		if len(s.Orders) != 1 || s.Orders[0].Status != payflow.OrderDisputed {
			t.Fatalf("orders %+v", s.Orders)
		}
		got := sentWith("dispute/dp_lost/")
		if got["dispute/dp_lost/opened"] != 1 || got["dispute/dp_lost/closed"] != 1 {
			t.Fatalf("operator emails %v", got)
		}
		for _, m := range sys.sendgrid.Messages() {
			if strings.HasPrefix(m.CustomArgs["payflow_dedupe_key"], "dispute/dp_lost/") && (len(m.To) != 1 || m.To[0] != alertEmail) {
				t.Errorf("dispute email went to %v, want %s", m.To, alertEmail)
			}
		}
	})
}
