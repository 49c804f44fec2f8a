package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/workflows"
)

func stripeInvoice(id, cus, sub string) stripeapi.Invoice {
	return stripeapi.Invoice{ID: id, CustomerID: cus, SubscriptionID: sub, Amount: 2000, Currency: "usd", Status: "open",
		BillingReason: "subscription_cycle", AttemptCount: 1}
}

// Dunning through HTTP on the real dev server, with the policy in
// seconds and the Stripe fake answering the invoice-pay calls. Stripe's
// own snapshots set the status; the campaign sets the dunning stage.
func TestDunningEndToEnd(t *testing.T) {
	t.Run("recovered after two failed retries", func(t *testing.T) {
		t.Parallel()
		cus, sub, inv, prod := "cus_dun_rec", "sub_dun_rec", "in_dun_rec", "prod_dun_rec"
		id := routing.SubscriptionID(sub)
		key := "subscription/" + sub + "/" + inv + "/"
		sys.stripe.PutSubscription(stripeapi.Subscription{ID: sub, CustomerID: cus, Status: "past_due"})
		sys.stripe.PutInvoice(stripeInvoice(inv, cus, sub))
		sys.stripe.ScriptPay(inv, stripeapi.PayDeclined("insufficient_funds"), stripeapi.PayDeclined("insufficient_funds"))

		mustDeliver(t, build(t, "customer.subscription.created", fixtures.Options{CustomerID: cus, SubscriptionID: sub, ProductID: prod, Created: time.Now().Add(-time.Minute)}))
		mustDeliver(t, build(t, "invoice.paid", fixtures.Options{CustomerID: cus, SubscriptionID: sub, InvoiceID: "in_dun_rec_first", ProductID: prod}))
		waitAccess(t, cus, prod, payflow.AccessGranted)
		mustDeliver(t, build(t, "invoice.payment_failed", fixtures.Options{CustomerID: cus, SubscriptionID: sub, InvoiceID: inv, ProductID: prod}))
		mustDeliver(t, build(t, "customer.subscription.updated", fixtures.Options{CustomerID: cus, SubscriptionID: sub, ProductID: prod, Status: "past_due"}))
		waitStatus(t, id, "past_due")
		waitAttr(t, id, routing.DunningStageKey.GetName(), billing.StageRetrying)
		waitFor(t, 30*time.Second, "two retries and two reminders", func() (bool, string) {
			got := sentWith(key)
			return sys.stripe.PayAttempts(inv) == 2 && got[key+"reminder-2"] == 1, fmt.Sprintf("attempts %d, emails %v", sys.stripe.PayAttempts(inv), got)
		})
		var st workflows.SubscriptionView
		query(t, id, &st)
		if c := st.Subscription.Campaigns; len(c) != 1 || c[0].Attempts != 2 || !strings.Contains(st.Details, "retry 3 of 3") || st.DunningStage != billing.StageRetrying {
			t.Fatalf("state mid-campaign: %+v", st)
		}
		// The one line the Temporal UI shows as the workflow's current details.
		v, err := sys.temporal.QueryWorkflow(context.Background(), id, "", "__temporal_workflow_metadata")
		if err != nil {
			t.Fatal(err)
		}
		var md sdkpb.WorkflowMetadata
		if err := v.Get(&md); err != nil {
			t.Fatal(err)
		}
		if d := md.GetCurrentDetails(); !strings.Contains(d, sub+": past_due; invoice "+inv+" failed") || !strings.Contains(d, "retry 3 of 3 on") || !strings.Contains(d, "access suspended from") {
			t.Fatalf("current details %q", d)
		}
		// The customer pays; Stripe then reports the subscription active.
		mustDeliver(t, build(t, "invoice.paid", fixtures.Options{CustomerID: cus, SubscriptionID: sub, InvoiceID: inv, ProductID: prod, BillingReason: "subscription_cycle"}))
		waitAttr(t, id, routing.DunningStageKey.GetName(), billing.StageNone)
		mustDeliver(t, build(t, "customer.subscription.updated", fixtures.Options{CustomerID: cus, SubscriptionID: sub, ProductID: prod, Status: "active", Created: time.Now().Add(time.Second)}))
		waitStatus(t, id, "active")
		waitFor(t, 20*time.Second, "recovered email", func() (bool, string) {
			got := sentWith(key)
			return got[key+"recovered"] == 1, fmt.Sprint(got)
		})
		got := sentWith(key)
		want := map[string]int{key + "first-failure": 1, key + "reminder-1": 1, key + "reminder-2": 1, key + "recovered": 1}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("emails %v, want %v", got, want)
		}
		if a := effectiveAccess(t, cus); a[prod] != payflow.AccessGranted {
			t.Fatalf("access after recovery: %v", a)
		}
		time.Sleep(2 * time.Second)
		if n := sys.stripe.PayAttempts(inv); n != 2 {
			t.Fatalf("%d charge attempts; the recovery should have cancelled the rest", n)
		}
	})
	t.Run("never recovered: suspended, then canceled", func(t *testing.T) {
		t.Parallel()
		cus, sub, inv, prod := "cus_dun_lost", "sub_dun_lost", "in_dun_lost", "prod_dun_lost"
		id := routing.SubscriptionID(sub)
		key := "subscription/" + sub + "/" + inv + "/"
		sys.stripe.PutSubscription(stripeapi.Subscription{ID: sub, CustomerID: cus, Status: "past_due"})
		sys.stripe.PutInvoice(stripeInvoice(inv, cus, sub))
		d := stripeapi.PayDeclined("insufficient_funds")
		sys.stripe.ScriptPay(inv, d, d, d)
		mustDeliver(t, build(t, "customer.subscription.created", fixtures.Options{CustomerID: cus, SubscriptionID: sub, ProductID: prod, Created: time.Now().Add(-time.Minute)}))
		mustDeliver(t, build(t, "invoice.paid", fixtures.Options{CustomerID: cus, SubscriptionID: sub, InvoiceID: "in_dun_lost_first", ProductID: prod}))
		waitAccess(t, cus, prod, payflow.AccessGranted)
		mustDeliver(t, build(t, "invoice.payment_failed", fixtures.Options{CustomerID: cus, SubscriptionID: sub, InvoiceID: inv, ProductID: prod}))
		mustDeliver(t, build(t, "customer.subscription.updated", fixtures.Options{CustomerID: cus, SubscriptionID: sub, ProductID: prod, Status: "past_due"}))
		waitStatus(t, id, "past_due")
		waitAccess(t, cus, prod, payflow.AccessSuspended) // grace: 30 s
		// PayflowStatus stays Stripe's word; the stage says how far dunning
		// went: one filter lists every customer in dunning, the stage
		// narrows it to those whose access is suspended.
		waitFor(t, 8*time.Second, "the suspended subscription in a visibility search", func() (bool, string) {
			resp, err := sys.temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default",
				Query: fmt.Sprintf(`PayflowStatus = "past_due" AND PayflowDunningStage = "%s" AND StripeCustomerID = "%s"`, billing.StageSuspended, cus)})
			if err != nil {
				return false, err.Error()
			}
			var ids []string
			for _, e := range resp.Executions {
				ids = append(ids, e.Execution.WorkflowId)
			}
			return len(ids) == 1 && ids[0] == id, fmt.Sprint(ids)
		})
		waitAttr(t, id, routing.DunningStageKey.GetName(), billing.StageFinal) // last retry at 40 s fails → cancel in Stripe
		waitAccess(t, cus, prod, payflow.AccessRevoked)
		if s, ok := sys.stripe.GetSubscription(sub); !ok || s.Status != "canceled" {
			t.Fatalf("Stripe subscription %+v, want canceled", s)
		}
		// Stripe's customer.subscription.deleted follows the cancel.
		mustDeliver(t, build(t, "customer.subscription.deleted", fixtures.Options{CustomerID: cus, SubscriptionID: sub, ProductID: prod}))
		waitStatus(t, id, "canceled")
		waitAttr(t, id, routing.DunningStageKey.GetName(), billing.StageNone)
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

// An upgrade from basic to pro grants pro and revokes basic for
// this subscription, as `payflow inspect -json` shows.
func TestUpgradeEndToEnd(t *testing.T) {
	cus, sub := "cus_upgrade", "sub_upgrade"
	id := routing.SubscriptionID(sub)
	mustDeliver(t, build(t, "customer.subscription.created", fixtures.Options{CustomerID: cus, SubscriptionID: sub, ProductID: "prod_basic", Created: time.Now().Add(-time.Minute)}))
	waitAccess(t, cus, "prod_basic", payflow.AccessGranted)
	mustDeliver(t, build(t, "customer.subscription.updated", fixtures.Options{CustomerID: cus, SubscriptionID: sub, ProductID: "prod_pro", Status: "active"}))
	waitAccess(t, cus, "prod_pro", payflow.AccessGranted)
	waitAccess(t, cus, "prod_basic", payflow.AccessRevoked)
	got := map[string]string{}
	for _, a := range inspect(t, cus).Access {
		got[a.ProductID] = a.Status
		for _, s := range a.Sources {
			got[a.ProductID+" "+s.Source] = s.Status
		}
	}
	want := map[string]string{"prod_basic": "revoked", "prod_basic " + id: "revoked", "prod_pro": "granted", "prod_pro " + id: "granted"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("inspect access %v, want %v", got, want)
	}
	var st workflows.SubscriptionView
	query(t, id, &st)
	if st.Status != "active" || len(st.Subscription.Items) != 1 || st.Subscription.Items[0].ProductID != "prod_pro" {
		t.Fatalf("state %+v", st)
	}
}

// A full refund of a one-off order for a product revokes what the
// order granted, for its own source only: a subscription granting the same
// product keeps the customer's access granted.
func TestRefundKeepsSubscriptionAccessEndToEnd(t *testing.T) {
	cus, sub, pi, prod := "cus_refund_mix", "sub_refund_mix", "pi_refund_mix", "prod_shared"
	mustDeliver(t, build(t, "customer.subscription.created", fixtures.Options{CustomerID: cus, SubscriptionID: sub, ProductID: prod, Created: time.Now().Add(-time.Minute)}))
	o := fixtures.Options{CustomerID: cus, PaymentIntentID: pi, ChargeID: "ch_refund_mix", ProductID: prod, Amount: 1500}
	mustDeliver(t, build(t, "payment_intent.succeeded", o))
	waitFor(t, 60*time.Second, "both sources grant", func() (bool, string) {
		got := sourceAccess(t, cus)
		return got[prod+" order/"+pi] == payflow.AccessGranted && got[prod+" subscription/"+sub] == payflow.AccessGranted, fmt.Sprint(got)
	})
	o.AmountRefunded = 1500
	mustDeliver(t, build(t, "charge.refunded", o))
	waitFor(t, 60*time.Second, "the order's source revoked", func() (bool, string) {
		got := sourceAccess(t, cus)
		return got[prod+" order/"+pi] == payflow.AccessRevoked, fmt.Sprint(got)
	})
	waitCompleted(t, routing.OrderID(pi))
	v := inspect(t, cus)
	if len(v.Access) != 1 || v.Access[0].ProductID != prod || v.Access[0].Status != payflow.AccessGranted || len(v.Access[0].Sources) != 2 {
		t.Fatalf("inspect access %+v, want %s granted through the subscription", v.Access, prod)
	}
	if got := sentWith("order/" + pi + "/"); got["order/"+pi+"/refund"] != 1 {
		t.Fatalf("emails %v, want the refund confirmation", got)
	}
	if o, err := sys.db.GetOrder(context.Background(), pi); err != nil || o.Status != payflow.OrderRefunded {
		t.Fatalf("order %+v, %v", o, err)
	}
}

// Async checkout, a full refund after fulfilment, a dispute lost.
func TestPaymentLifecycleEndToEnd(t *testing.T) {
	t.Run("async checkout succeeded", func(t *testing.T) {
		t.Parallel()
		o := fixtures.Options{CustomerID: "cus_async_ok", PaymentIntentID: "pi_async_ok", CheckoutSessionID: "cs_test_async_ok", Mode: "payment", PaymentStatus: "unpaid", ProductID: "prod_async"}
		mustDeliver(t, build(t, "checkout.session.completed", o))
		waitStatus(t, routing.OrderID(o.PaymentIntentID), billing.OrderAwaitingPayment)
		if s := summary(t, o.CustomerID); len(s.Access) != 0 {
			t.Fatalf("access granted before the payment arrived: %+v", s.Access)
		}
		o.PaymentStatus = "paid"
		mustDeliver(t, build(t, "checkout.session.async_payment_succeeded", o))
		waitCompleted(t, routing.OrderID(o.PaymentIntentID))
		waitAccess(t, o.CustomerID, "prod_async", payflow.AccessGranted)
		if got := sentWith("order/pi_async_ok/"); got["order/pi_async_ok/receipt"] != 1 {
			t.Fatalf("emails %v", got)
		}
	})
	t.Run("async checkout failed", func(t *testing.T) {
		t.Parallel()
		o := fixtures.Options{CustomerID: "cus_async_ko", PaymentIntentID: "pi_async_ko", CheckoutSessionID: "cs_test_async_ko", Mode: "payment", PaymentStatus: "unpaid"}
		mustDeliver(t, build(t, "checkout.session.completed", o))
		waitStatus(t, routing.OrderID(o.PaymentIntentID), billing.OrderAwaitingPayment)
		mustDeliver(t, build(t, "checkout.session.async_payment_failed", o))
		waitCompleted(t, routing.OrderID(o.PaymentIntentID))
		s := summary(t, o.CustomerID)
		if len(s.Access) != 0 || len(s.Orders) != 1 || s.Orders[0].Status != payflow.OrderAsyncFailed {
			t.Fatalf("orders %+v access %+v", s.Orders, s.Access)
		}
		if got := sentWith("order/pi_async_ko/"); len(got) != 1 || got["order/pi_async_ko/payment-failed"] != 1 {
			t.Fatalf("emails %v", got)
		}
	})
	t.Run("full refund after fulfilment", func(t *testing.T) {
		t.Parallel()
		o := fixtures.Options{CustomerID: "cus_refund", PaymentIntentID: "pi_refund", ChargeID: "ch_refund", Amount: 3000, ProductID: "prod_refund"}
		mustDeliver(t, build(t, "payment_intent.succeeded", o))
		waitCompleted(t, routing.OrderID(o.PaymentIntentID))
		waitAccess(t, o.CustomerID, "prod_refund", payflow.AccessGranted)
		o.AmountRefunded = 3000
		mustDeliver(t, build(t, "charge.refunded", o)) // a new run of the closed order
		waitAccess(t, o.CustomerID, "prod_refund", payflow.AccessRevoked)
		waitCompleted(t, routing.OrderID(o.PaymentIntentID))
		s := summary(t, o.CustomerID)
		if len(s.Orders) != 1 || s.Orders[0].Status != payflow.OrderRefunded {
			t.Fatalf("orders %+v", s.Orders)
		}
		if got := sentWith("order/pi_refund/"); got["order/pi_refund/receipt"] != 1 || got["order/pi_refund/refund"] != 1 {
			t.Fatalf("emails %v", got)
		}
	})
	t.Run("dispute created then lost", func(t *testing.T) {
		t.Parallel()
		o := fixtures.Options{CustomerID: "cus_dispute", PaymentIntentID: "pi_dispute", ChargeID: "ch_dispute", DisputeID: "dp_lost", ProductID: "prod_dispute"}
		mustDeliver(t, build(t, "payment_intent.succeeded", o))
		waitCompleted(t, routing.OrderID(o.PaymentIntentID))
		mustDeliver(t, build(t, "charge.dispute.created", o))
		waitFor(t, 30*time.Second, "dispute alert", func() (bool, string) {
			got := sentWith("dispute/dp_lost/")
			return got["dispute/dp_lost/opened"] == 1, fmt.Sprint(got)
		})
		// The dispute hands the event to the order (a new run, from the
		// stored order), which suspends what it granted.
		waitAccess(t, o.CustomerID, "prod_dispute", payflow.AccessSuspended)
		waitStatus(t, routing.DisputeID("dp_lost"), billing.DisputeNeedsResponse)
		o.DisputeStatus = "lost"
		mustDeliver(t, build(t, "charge.dispute.closed", o))
		waitCompleted(t, routing.DisputeID("dp_lost"))
		waitAccess(t, o.CustomerID, "prod_dispute", payflow.AccessRevoked)
		waitCompleted(t, routing.OrderID(o.PaymentIntentID))
		_, attrs := describe(t, routing.DisputeID("dp_lost"))
		if attrs["PayflowStatus"] != billing.DisputeLost || attrs["StripeCustomerID"] != o.CustomerID {
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
