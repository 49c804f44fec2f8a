package stripeapi_test

import (
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/payflow/payflow/fakes/stripeapi"
)

func TestInvoiceAutoAdvanceUpdate(t *testing.T) {
	srv, sc, _ := start(t)
	now := time.Unix(1_700_000_000, 0)
	srv.SetClock(func() time.Time { return now })
	srv.PutInvoice(stripeapi.Invoice{ID: "in_A", SubscriptionID: "sub_A", AttemptCount: 1, Created: now})

	inv, err := sc.Invoices.Get("in_A", nil)
	if err != nil || !inv.AutoAdvance || inv.NextPaymentAttempt != now.Add(72*time.Hour).Unix() {
		t.Fatalf("seeded invoice: auto_advance %v next_payment_attempt %d err %v", inv.AutoAdvance, inv.NextPaymentAttempt, err)
	}

	p := &stripe.InvoiceParams{AutoAdvance: stripe.Bool(false)}
	p.IdempotencyKey = stripe.String("subscription/sub_A/in_A/takeover-1")
	inv, err = sc.Invoices.Update("in_A", p)
	if err != nil || inv.AutoAdvance || inv.NextPaymentAttempt != 0 || inv.Status != stripe.InvoiceStatusOpen {
		t.Fatalf("after auto_advance=false: %v next %d status %s err %v", inv.AutoAdvance, inv.NextPaymentAttempt, inv.Status, err)
	}
	// The same key and parameters replay; other parameters are refused.
	inv, err = sc.Invoices.Update("in_A", p)
	if err != nil || inv.AutoAdvance || !srv.Requests()[len(srv.Requests())-1].Replayed {
		t.Errorf("replay: %v %v", inv, err)
	}
	p2 := &stripe.InvoiceParams{AutoAdvance: stripe.Bool(true)}
	p2.IdempotencyKey = p.IdempotencyKey
	if _, err := sc.Invoices.Update("in_A", p2); stripeErr(t, err).Type != "idempotency_error" {
		t.Errorf("reused key with other parameters: %v", err)
	}
	if got, _ := srv.GetInvoice("in_A"); !got.ManualCollection {
		t.Errorf("fake state %+v", got)
	}

	// Handing back turns Stripe's schedule on again.
	inv, err = sc.Invoices.Update("in_A", &stripe.InvoiceParams{AutoAdvance: stripe.Bool(true)})
	if err != nil || !inv.AutoAdvance || inv.NextPaymentAttempt == 0 {
		t.Errorf("after auto_advance=true: %v next %d err %v", inv.AutoAdvance, inv.NextPaymentAttempt, err)
	}

	// Paid, void and uncollectible invoices cannot change it.
	srv.PutInvoice(stripeapi.Invoice{ID: "in_P", Status: "paid"})
	_, err = sc.Invoices.Update("in_P", &stripe.InvoiceParams{AutoAdvance: stripe.Bool(false)})
	if se := stripeErr(t, err); se.HTTPStatusCode != 400 || se.Param != "auto_advance" {
		t.Errorf("paid invoice: %+v", se)
	}
	inv, _ = sc.Invoices.Get("in_P", nil)
	if inv.AutoAdvance || inv.NextPaymentAttempt != 0 {
		t.Errorf("paid invoice renders auto_advance %v next %d", inv.AutoAdvance, inv.NextPaymentAttempt)
	}
	if _, err := sc.Invoices.Update("in_missing", &stripe.InvoiceParams{AutoAdvance: stripe.Bool(false)}); stripeErr(t, err).HTTPStatusCode != 404 {
		t.Errorf("missing invoice: %v", err)
	}
}

func TestRunSmartRetries(t *testing.T) {
	srv, sc, _ := start(t)
	now := time.Unix(1_700_000_000, 0)
	srv.SetClock(func() time.Time { return now })
	srv.PutSubscription(stripeapi.Subscription{ID: "sub_A", Status: "past_due"})
	srv.PutInvoice(stripeapi.Invoice{ID: "in_auto", SubscriptionID: "sub_A", AttemptCount: 1, NextPaymentAttempt: now.Add(time.Hour)})
	srv.PutInvoice(stripeapi.Invoice{ID: "in_taken", SubscriptionID: "sub_B", AttemptCount: 1, NextPaymentAttempt: now.Add(time.Hour)})
	srv.PutInvoice(stripeapi.Invoice{ID: "in_paid", Status: "paid", AttemptCount: 1})
	if _, err := sc.Invoices.Update("in_taken", &stripe.InvoiceParams{AutoAdvance: stripe.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	srv.ScriptPay("in_auto", stripeapi.PayDeclined("insufficient_funds"))

	if got := srv.RunSmartRetries(now); len(got) != 0 {
		t.Errorf("charged before next_payment_attempt: %v", got)
	}
	if got := srv.RunSmartRetries(now.Add(2 * time.Hour)); len(got) != 1 || got[0] != "in_auto" {
		t.Fatalf("first run charged %v", got)
	}
	inv, _ := sc.Invoices.Get("in_auto", nil)
	if inv.Status != stripe.InvoiceStatusOpen || inv.AttemptCount != 2 || inv.NextPaymentAttempt != now.Add(74*time.Hour).Unix() {
		t.Errorf("after a declined smart retry: %s attempt %d next %d", inv.Status, inv.AttemptCount, inv.NextPaymentAttempt)
	}
	if got := srv.RunSmartRetries(now.Add(80 * time.Hour)); len(got) != 1 || got[0] != "in_auto" {
		t.Fatalf("second run charged %v", got)
	}
	if got, _ := srv.GetInvoice("in_auto"); got.Status != "paid" || srv.SmartRetries("in_auto") != 2 {
		t.Errorf("after a successful smart retry: %+v, %d retries", got, srv.SmartRetries("in_auto"))
	}
	if sub, _ := srv.GetSubscription("sub_A"); sub.Status != "active" {
		t.Errorf("subscription %s after payment", sub.Status)
	}
	if n := srv.SmartRetries("in_taken"); n != 0 || srv.PayAttempts("in_taken") != 0 {
		t.Errorf("taken-over invoice charged by Stripe %d times", n)
	}
	if got, _ := srv.GetInvoice("in_taken"); got.Status != "open" || got.AttemptCount != 1 {
		t.Errorf("taken-over invoice %+v", got)
	}
}

func TestPauseAndResumeCollection(t *testing.T) {
	srv, sc, _ := start(t)
	srv.PutSubscription(stripeapi.Subscription{ID: "sub_A", Status: "past_due"})
	p := &stripe.SubscriptionParams{PauseCollection: &stripe.SubscriptionPauseCollectionParams{Behavior: stripe.String("keep_as_draft")}}
	sub, err := sc.Subscriptions.Update("sub_A", p)
	if err != nil || sub.PauseCollection == nil || sub.PauseCollection.Behavior != "keep_as_draft" || sub.Status != "past_due" {
		t.Fatalf("pause: %+v %v", sub, err)
	}
	r := &stripe.SubscriptionParams{}
	r.AddExtra("pause_collection", "")
	sub, err = sc.Subscriptions.Update("sub_A", r)
	if err != nil || sub.PauseCollection != nil {
		t.Fatalf("resume: %+v %v", sub.PauseCollection, err)
	}
}
