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

// A declined attempt on an invoice shows on its payment intent
// (last_payment_error, status requires_payment_method) and its charge
// (failure_code, outcome.reason), never on the invoice: scripted
// (ScriptDecline) or from a declined pay; a later payment clears it.
func TestInvoiceDeclineOnPaymentIntentAndCharge(t *testing.T) {
	srv, sc, _ := start(t)
	srv.PutInvoice(stripeapi.Invoice{ID: "in_1", CustomerID: "cus_A", SubscriptionID: "sub_1", Status: "open"})
	pi, ch := srv.ScriptDecline("in_1", "stolen_card")
	if pi == "" || ch == "" {
		t.Fatalf("ScriptDecline gave %q %q", pi, ch)
	}
	if p, _ := srv.ScriptDecline("in_missing", "lost_card"); p != "" {
		t.Errorf("decline scripted on a missing invoice")
	}
	got, err := sc.PaymentIntents.Get(pi, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := got.LastPaymentError
	if got.Status != stripe.PaymentIntentStatusRequiresPaymentMethod || e == nil || e.DeclineCode != "stolen_card" ||
		e.Code != stripe.ErrorCodeCardDeclined || e.Type != stripe.ErrorTypeCard || e.Msg == "" ||
		got.LatestCharge == nil || got.LatestCharge.ID != ch {
		t.Errorf("payment intent %+v, error %+v", got, e)
	}
	c, err := sc.Charges.Get(ch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != stripe.ChargeStatusFailed || c.FailureCode != "card_declined" || c.Outcome == nil ||
		c.Outcome.Reason != "stolen_card" || c.Outcome.Type != "issuer_declined" {
		t.Errorf("charge %+v, outcome %+v", c, c.Outcome)
	}

	srv.ScriptPay("in_1", stripeapi.PayDeclined("lost_card"), stripeapi.PaySucceeds)
	if _, err := sc.Invoices.Pay("in_1", nil); err == nil {
		t.Fatal("declined pay succeeded")
	}
	if got, _ := sc.PaymentIntents.Get(pi, nil); got.LastPaymentError == nil || got.LastPaymentError.DeclineCode != "lost_card" {
		t.Errorf("after a declined pay: %+v", got.LastPaymentError)
	}
	if _, err := sc.Invoices.Pay("in_1", nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := sc.PaymentIntents.Get(pi, nil); got.LastPaymentError != nil || got.Status != stripe.PaymentIntentStatusSucceeded {
		t.Errorf("after payment: %s %+v", got.Status, got.LastPaymentError)
	}
}
