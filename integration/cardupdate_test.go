package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
)

// "Retry when the customer fixes the card", over HTTP on the real
// dev server (retries 3 s, 6 s, 40 s; grace 30 s): Stripe's attempt fails
// with a hard decline → no payflow retry → the customer attaches a new card
// (payment_method.attached, keyed by customer: customer/<cus> hands it to
// the subscription in dunning) → an immediate retry succeeds → access
// restored, one "payment recovered" email, no second receipt.
func TestPaymentMethodUpdateRetriesAtOnceEndToEnd(t *testing.T) {
	t.Parallel()
	cus, sub, inv, prod := "cus_pm_upd", "sub_pm_upd", "in_pm_upd", "prod_pm_upd"
	id := routing.SubscriptionID(sub)
	key := "subscription/" + sub + "/" + inv + "/"
	sys.stripe.PutSubscription(stripeapi.Subscription{ID: sub, CustomerID: cus, Status: "past_due"})
	sys.stripe.PutInvoice(stripeInvoice(inv, cus, sub))
	pi, ch := sys.stripe.ScriptDecline(inv, "stolen_card")

	mustDeliver(t, build(t, "customer.subscription.created", fixtures.Options{CustomerID: cus, SubscriptionID: sub, ProductID: prod, Created: time.Now().Add(-time.Minute)}))
	mustDeliver(t, build(t, "invoice.paid", fixtures.Options{CustomerID: cus, SubscriptionID: sub, InvoiceID: inv + "_first", ProductID: prod}))
	waitAccess(t, cus, prod, payflow.AccessGranted)
	mustDeliver(t, build(t, "invoice.payment_failed", fixtures.Options{CustomerID: cus, SubscriptionID: sub, InvoiceID: inv, ProductID: prod,
		PaymentIntentID: pi, ChargeID: ch, DeclineCode: "stolen_card"}))
	waitAttr(t, id, routing.DunningStageKey.GetName(), billing.StageAwaitingCustomer)
	waitFor(t, 20*time.Second, "the hard-decline email", func() (bool, string) {
		got := sentWith(key)
		return got[key+"hard-decline"] == 1, fmt.Sprint(got)
	})
	// Support staff see the same timeline as the UI: what happened, what
	// comes next.
	out, err := runPayflow(t, []string{"DATABASE_URL=" + sys.dbURL, "TEMPORAL_ADDRESS=" + sys.temporalAdr}, "inspect", "customer", cus)
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	for _, want := range []string{"DUNNING (1, from the subscription workflows at " + sys.temporalAdr, "  " + sub + "  awaiting_customer",
		"invoice " + inv, "hard: stolen_card", "waiting for a new card", "next: final for invoice " + inv} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect lacks %q:\n%s", want, out)
		}
	}
	time.Sleep(4 * time.Second) // the first scheduled retry would have run at 3 s
	if n := sys.stripe.PayAttempts(inv); n != 0 {
		t.Fatalf("%d charge attempts after a hard decline", n)
	}

	sys.stripe.ScriptPay(inv, stripeapi.PaySucceeds)
	body := mustDeliver(t, build(t, "payment_method.attached", fixtures.Options{CustomerID: cus}))
	if body["workflow_id"] != nil && body["workflow_id"] != routing.CustomerID(cus) {
		t.Fatalf("payment_method.attached routed to %v", body["workflow_id"])
	}
	waitFor(t, 15*time.Second, "the immediate retry", func() (bool, string) {
		return sys.stripe.PayAttempts(inv) == 1, fmt.Sprintf("attempts %d", sys.stripe.PayAttempts(inv))
	})
	waitAttr(t, id, routing.DunningStageKey.GetName(), billing.StageNone)
	waitAccess(t, cus, prod, payflow.AccessGranted)
	waitFor(t, 20*time.Second, "recovered email", func() (bool, string) {
		got := sentWith(key)
		return got[key+"recovered"] == 1, fmt.Sprint(got)
	})
	// An unrelated change of the customer (no new default payment method)
	// retries nothing.
	mustDeliver(t, build(t, "setup_intent.succeeded", fixtures.Options{CustomerID: cus, SetupUsage: "on_session"}))
	time.Sleep(2 * time.Second)
	got := sentWith(key)
	want := map[string]int{key + "hard-decline": 1, key + "recovered": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("emails %v, want %v", got, want)
	}
	if n := sentWith("subscription/" + sub + "/invoice/" + inv + "/receipt")["subscription/"+sub+"/invoice/"+inv+"/receipt"]; n != 0 {
		t.Fatalf("%d receipts for the recovered invoice; recovery sends its own email", n)
	}
	if n := sys.stripe.PayAttempts(inv); n != 1 {
		t.Fatalf("%d charge attempts, want exactly the one retry", n)
	}
	if a := effectiveAccess(t, cus); a[prod] != payflow.AccessGranted {
		t.Fatalf("access after recovery: %v", a)
	}
}
