package activities_test

import (
	"context"
	"testing"

	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
)

// The decline of an invoice's failed payment is read from its payment
// intent (2023-10-16: the invoice carries none), else from its charge.
func TestFetchDecline(t *testing.T) {
	ctx := context.Background()
	srv, api := startStripe(t)
	a := newActivities(newStore(t))
	a.Stripe = api
	srv.PutSubscription(stripeapi.Subscription{ID: "sub_A", CustomerID: "cus_A", Status: "past_due"})
	for _, id := range []string{"in_stolen", "in_retry", "in_none", "in_charge"} {
		srv.PutInvoice(stripeapi.Invoice{ID: id, CustomerID: "cus_A", SubscriptionID: "sub_A", Status: "open"})
	}
	// Stripe's own attempt was declined before the event.
	srv.ScriptDecline("in_stolen", "stolen_card")
	// payflow's retry was declined.
	srv.ScriptPay("in_retry", stripeapi.PayDeclined("lost_card"))
	if res, err := a.RetryCharge(ctx, billing.RetryCharge{SubscriptionID: "sub_A", InvoiceID: "in_retry", Attempt: 1,
		IdempotencyKey: "subscription/sub_A/in_retry/retry-1"}); err != nil || res.DeclineCode != "lost_card" {
		t.Fatalf("retry %+v %v", res, err)
	}
	// A failed charge the intent does not describe.
	srv.PutCharge(stripeapi.Charge{ID: "ch_failed", CustomerID: "cus_A", InvoiceID: "in_charge", PaymentIntentID: "pi_other",
		Status: "failed", DeclineCode: "expired_card"})

	cases := []struct {
		name, invoice, charge string
		want                  billing.DeclineResult
	}{
		{"payment intent", "in_stolen", "", billing.DeclineResult{InvoiceID: "in_stolen", DeclineCode: "stolen_card",
			Code: "card_declined", Message: "Your card was declined."}},
		{"after a declined retry", "in_retry", "", billing.DeclineResult{InvoiceID: "in_retry", DeclineCode: "lost_card",
			Code: "card_declined", Message: "Your card was declined."}},
		{"nothing recorded", "in_none", "", billing.DeclineResult{InvoiceID: "in_none"}},
		{"charge", "in_charge", "ch_failed", billing.DeclineResult{InvoiceID: "in_charge", DeclineCode: "expired_card"}},
		{"invoice unknown to Stripe", "in_missing", "", billing.DeclineResult{InvoiceID: "in_missing", Skipped: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := a.FetchDecline(ctx, billing.FetchDecline{SubscriptionID: "sub_A", InvoiceID: tc.invoice, ChargeID: tc.charge})
			if err != nil {
				t.Fatalf("err %v", err)
			}
			if tc.name == "charge" {
				got.Code, got.Message = "", "" // the fixture's failure_code for the decline
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if n := srv.PayAttempts("in_stolen"); n != 0 {
		t.Errorf("reading the decline charged %d times", n)
	}
}

func TestFetchDeclineWithoutStripe(t *testing.T) {
	a := newActivities(newStore(t))
	got, err := a.FetchDecline(context.Background(), billing.FetchDecline{SubscriptionID: "sub_A", InvoiceID: "in_A"})
	if err != nil || !got.Skipped || got.DeclineCode != "" || got.InvoiceID != "in_A" {
		t.Errorf("got %+v %v, want skipped", got, err)
	}
	if _, err := a.FetchDecline(context.Background(), billing.FetchDecline{}); err == nil || !isNonRetryable(err) {
		t.Errorf("no invoice: %v", err)
	}
}
