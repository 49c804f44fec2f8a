package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/webhook"
	"github.com/payflow/payflow/workflows"
)

// In API version 2023-10-16, charge.refunded of a subscription
// invoice's charge names the invoice (an ID) and the payment intent, not
// the subscription. It reaches order/<payment_intent>, which is no order:
// the run finds the invoice's subscription (the database, or Stripe's
// charge → invoice → subscription when the invoice is not stored yet) and
// hands it the refund. The subscription records it on the invoice once and
// confirms it once; no order row, no order access, the subscription's
// access unchanged; a redelivery changes nothing.
func TestInvoiceRefundReachesSubscriptionEndToEnd(t *testing.T) {
	t.Run("the database knows the invoice", func(t *testing.T) {
		t.Parallel()
		invoiceRefundEndToEnd(t, "db", true)
	})
	t.Run("only Stripe knows it", func(t *testing.T) {
		t.Parallel()
		invoiceRefundEndToEnd(t, "api", false)
	})
}

func invoiceRefundEndToEnd(t *testing.T, tag string, invoicePaidDelivered bool) {
	cus, sub, inv, pi, ch, prod := "cus_invref_"+tag, "sub_invref_"+tag, "in_invref_"+tag, "pi_invref_"+tag, "ch_invref_"+tag, "prod_invref_"+tag
	orderID, subID := routing.OrderID(pi), routing.SubscriptionID(sub)
	email := "invref-" + tag + "@example.com"
	// Stripe's side: the subscription, its paid first invoice and the
	// charge that paid it (the fake serves GET /v1/charges/ch_… from it).
	sys.stripe.PutCustomer(cus, email)
	sys.stripe.PutSubscription(stripeapi.Subscription{ID: sub, CustomerID: cus, Status: "active", LatestInvoiceID: inv})
	sys.stripe.PutInvoice(stripeapi.Invoice{ID: inv, CustomerID: cus, CustomerEmail: email, SubscriptionID: sub, Amount: 2000,
		Currency: "usd", Status: "paid", BillingReason: "subscription_create", AttemptCount: 1, ChargeID: ch, PaymentIntentID: pi, ProductID: prod})

	o := fixtures.Options{CustomerID: cus, Email: email, SubscriptionID: sub, InvoiceID: inv, PaymentIntentID: pi, ChargeID: ch,
		ProductID: prod, Amount: 2000, BillingReason: "subscription_create"}
	created := o
	created.Created = time.Now().Add(-time.Minute)
	mustDeliver(t, build(t, "customer.subscription.created", created))
	waitAccess(t, cus, prod, payflow.AccessGranted)
	if invoicePaidDelivered {
		mustDeliver(t, build(t, "invoice.paid", o))
		waitFor(t, 60*time.Second, "invoice "+inv+" stored with its charge", func() (bool, string) {
			got, err := sys.db.GetInvoice(context.Background(), inv)
			return err == nil && got.Status == "paid" && got.ChargeID == ch, fmt.Sprintf("%+v %v", got, err)
		})
	}

	refund := o
	refund.InvoicePayment, refund.AmountRefunded = true, 2000
	payload := build(t, "charge.refunded", refund)
	if ev, err := webhook.Decode(payload); err != nil || ev.InvoiceID != inv || ev.SubscriptionID != "" || ev.PaymentIntent != pi {
		t.Fatalf("the refund should name the invoice and the payment intent, not the subscription: %+v, %v", ev, err)
	}
	if body := mustDeliver(t, payload); body["received"] != true || body["ignored"] != nil {
		t.Fatalf("refund answered %v, want received", body)
	}
	waitCompleted(t, orderID)
	var ov workflows.OrderView
	if err := sys.temporal.GetWorkflow(context.Background(), orderID, "").Get(context.Background(), &ov); err != nil {
		t.Fatal(err)
	}
	if ov.Status != billing.OrderInvoicePayment || !strings.Contains(ov.Details, "refund of invoice "+inv+" forwarded to "+subID) {
		t.Fatalf("order run: status %q, details %q", ov.Status, ov.Details)
	}
	waitStatus(t, orderID, billing.OrderInvoicePayment)

	// The subscription recorded the refund on the invoice and confirmed it.
	refundKey := subID + "/invoice/" + inv + "/refund"
	waitFor(t, 60*time.Second, "the refund recorded against "+subID, func() (bool, string) {
		rs := summary(t, cus).Refunds
		return len(rs) == 1 && rs[0].Source == subID && rs[0].InvoiceID == inv && rs[0].AmountRefunded == 2000 && rs[0].Full &&
			sentWith(refundKey)[refundKey] == 1, fmt.Sprintf("refunds %+v, emails %v", rs, sentWith(subID))
	})
	var sv workflows.SubscriptionView
	query(t, subID, &sv)
	if i, ok := sv.Subscription.Invoice(inv); !ok || i.AmountRefunded != 2000 || !i.FullyRefunded || sv.Status != billing.StatusActive {
		t.Fatalf("subscription %s, invoice %+v (found %v)", sv.Status, i, ok)
	}

	// Redelivered: a new run of the order finds the event applied and ends.
	mustDeliver(t, payload)
	waitCompleted(t, orderID)
	if err := sys.temporal.GetWorkflow(context.Background(), orderID, "").Get(context.Background(), &ov); err != nil {
		t.Fatal(err)
	}
	if !containsStep(ov.Steps, "already applied by an earlier run") {
		t.Fatalf("second run of %s: %+v", orderID, ov.Steps)
	}
	time.Sleep(time.Second)
	query(t, subID, &sv)
	if n := countSteps(sv.Steps, "invoice "+inv+" refunded"); n != 1 {
		t.Fatalf("the subscription applied the refund %d times: %+v", n, sv.Steps)
	}
	if got := sentWith(refundKey); got[refundKey] != 1 {
		t.Fatalf("refund confirmations %v", got)
	}

	// Not an order: no row, no access for order/<pi>, no order email; the
	// subscription's access is unchanged.
	if _, err := sys.db.GetOrder(context.Background(), pi); !errors.Is(err, payflow.ErrNotFound) {
		t.Fatalf("an order row for %s: %v", pi, err)
	}
	if got := sentWith(orderID + "/"); len(got) != 0 {
		t.Fatalf("order emails %v", got)
	}
	if got := sourceAccess(t, cus); fmt.Sprint(got) != fmt.Sprint(map[string]string{prod + " " + subID: payflow.AccessGranted}) {
		t.Fatalf("access by source %v", got)
	}
	if v := inspect(t, cus); len(v.Access) != 1 || v.Access[0].Status != payflow.AccessGranted || len(v.Access[0].Sources) != 1 {
		t.Fatalf("inspect access %+v", v.Access)
	}
	asked := false
	for _, r := range sys.stripe.Requests() {
		asked = asked || r.Path == "/v1/charges/"+ch
	}
	if asked == invoicePaidDelivered {
		t.Fatalf("Stripe asked for the charge: %v; want it only when the database does not know the invoice", asked)
	}
}

func containsStep(steps []routing.Step, part string) bool { return countSteps(steps, part) > 0 }

func countSteps(steps []routing.Step, part string) int {
	n := 0
	for _, s := range steps {
		if strings.Contains(s.What, part) {
			n++
		}
	}
	return n
}
