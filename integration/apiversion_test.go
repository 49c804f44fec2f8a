package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
)

// An account on API 2025-03-31.basil: its payment intents no longer name
// the invoice they paid. A renewal's payment intent is never fulfilled as
// a one-off order (the order run asks Stripe first and finds the
// invoice), while a one-off payment is fulfilled once; the subscription's
// own basil invoice events still drive it (access granted).
func TestBasilPaymentIntentsEndToEnd(t *testing.T) {
	t.Parallel()
	const basil = "2025-03-31.basil"
	cus, sub, inv, prod := "cus_basil", "sub_basil", "in_basil", "prod_basil"
	piRenewal, piOneOff := "pi_basil_renewal", "pi_basil_oneoff"
	sys.stripe.PutSubscription(stripeapi.Subscription{ID: sub, CustomerID: cus, Status: "active"})
	sinv := stripeInvoice(inv, cus, sub)
	sinv.PaymentIntentID, sinv.ChargeID, sinv.Status = piRenewal, "ch_basil_renewal", "paid"
	sys.stripe.PutInvoice(sinv)
	sys.stripe.PutCharge(stripeapi.Charge{ID: "ch_basil_oneoff", CustomerID: cus, PaymentIntentID: piOneOff, Amount: 4900})

	mustDeliver(t, build(t, "customer.subscription.created", fixtures.Options{APIVersion: basil, CustomerID: cus, SubscriptionID: sub,
		ProductID: prod, Created: time.Now().Add(-time.Minute)}))
	mustDeliver(t, build(t, "invoice.paid", fixtures.Options{APIVersion: basil, CustomerID: cus, SubscriptionID: sub, InvoiceID: inv, ProductID: prod}))
	waitAccess(t, cus, prod, payflow.AccessGranted)

	// The renewal's payment intent, as basil sends it: no invoice.
	mustDeliver(t, build(t, "payment_intent.succeeded", fixtures.Options{APIVersion: basil, CustomerID: cus, PaymentIntentID: piRenewal,
		ChargeID: "ch_basil_renewal", Amount: 2000, ProductID: prod}))
	waitStatus(t, routing.OrderID(piRenewal), billing.OrderInvoicePayment)
	waitCompleted(t, routing.OrderID(piRenewal))

	// A one-off payment on the same account.
	mustDeliver(t, build(t, "payment_intent.succeeded", fixtures.Options{APIVersion: basil, CustomerID: cus, PaymentIntentID: piOneOff,
		ChargeID: "ch_basil_oneoff", Amount: 4900, ProductID: "prod_basil_oneoff"}))
	waitCompleted(t, routing.OrderID(piOneOff))
	waitFor(t, 20*time.Second, "the one-off receipt", func() (bool, string) {
		got := sentWith("order/" + piOneOff + "/")
		return got["order/"+piOneOff+"/receipt"] == 1, fmt.Sprint(got)
	})

	s := summary(t, cus)
	if len(s.Orders) != 1 || s.Orders[0].ID != piOneOff || s.Orders[0].Status != payflow.OrderFulfilled {
		t.Fatalf("orders %+v: want only the one-off payment fulfilled", s.Orders)
	}
	if got := sentWith("order/" + piRenewal); len(got) != 0 {
		t.Fatalf("emails for the renewal's payment intent: %v", got)
	}
	src := sourceAccess(t, cus)
	if src[prod+" order/"+piRenewal] != "" || src[prod+" subscription/"+sub] != payflow.AccessGranted ||
		src["prod_basil_oneoff order/"+piOneOff] != payflow.AccessGranted {
		t.Fatalf("access by source %v", src)
	}
}
