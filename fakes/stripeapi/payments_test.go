package stripeapi_test

import (
	"testing"

	"github.com/stripe/stripe-go/v76"

	"github.com/payflow/payflow/fakes/stripeapi"
)

// A charge and a payment intent name the invoice they paid, as Stripe's
// objects do in API version 2023-10-16; a one-off payment names none.
func TestChargesAndPaymentIntents(t *testing.T) {
	srv, sc, _ := start(t)
	srv.PutInvoice(stripeapi.Invoice{ID: "in_1", CustomerID: "cus_A", SubscriptionID: "sub_1", Status: "paid",
		PaymentIntentID: "pi_inv", ChargeID: "ch_inv", Amount: 1500})
	srv.PutCharge(stripeapi.Charge{ID: "ch_once", CustomerID: "cus_A", PaymentIntentID: "pi_once", Amount: 999})

	ch, err := sc.Charges.Get("ch_inv", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Invoice == nil || ch.Invoice.ID != "in_1" || ch.PaymentIntent == nil || ch.PaymentIntent.ID != "pi_inv" ||
		ch.Customer == nil || ch.Customer.ID != "cus_A" || ch.Amount != 1500 || ch.Status != stripe.ChargeStatusSucceeded {
		t.Errorf("invoice charge = %+v", ch)
	}
	ch, err = sc.Charges.Get("ch_once", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Invoice != nil || ch.PaymentIntent == nil || ch.PaymentIntent.ID != "pi_once" || ch.Amount != 999 {
		t.Errorf("one-off charge = %+v (invoice %v)", ch, ch.Invoice)
	}

	pi, err := sc.PaymentIntents.Get("pi_inv", nil)
	if err != nil {
		t.Fatal(err)
	}
	if pi.Invoice == nil || pi.Invoice.ID != "in_1" || pi.Status != stripe.PaymentIntentStatusSucceeded ||
		pi.LatestCharge == nil || pi.LatestCharge.ID != "ch_inv" {
		t.Errorf("invoice payment intent = %+v", pi)
	}
	pi, err = sc.PaymentIntents.Get("pi_once", nil)
	if err != nil {
		t.Fatal(err)
	}
	if pi.Invoice != nil || pi.Customer == nil || pi.Customer.ID != "cus_A" {
		t.Errorf("one-off payment intent = %+v", pi)
	}

	for _, get := range []func() error{
		func() error { _, err := sc.Charges.Get("ch_missing", nil); return err },
		func() error { _, err := sc.PaymentIntents.Get("pi_missing", nil); return err },
	} {
		se := stripeErr(t, get())
		if se.HTTPStatusCode != 404 || se.Code != stripe.ErrorCodeResourceMissing {
			t.Errorf("missing object: %+v", se)
		}
	}
}
