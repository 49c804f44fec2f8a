package activities_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
)

// Payflow alone charges a taken-over invoice: Stripe's automatic retries
// (the fake's RunSmartRetries) skip it while payflow's retries run, and
// charge it again once it is handed back.
func TestTakeOverInvoiceStopsStripeRetries(t *testing.T) {
	ctx := context.Background()
	srv, api := startStripe(t)
	now := time.Unix(1_700_000_000, 0)
	srv.SetClock(func() time.Time { return now })
	srv.PutSubscription(stripeapi.Subscription{ID: "sub_A", CustomerID: "cus_A", Status: "past_due"})
	srv.PutInvoice(stripeapi.Invoice{ID: "in_A", CustomerID: "cus_A", SubscriptionID: "sub_A", AttemptCount: 1,
		NextPaymentAttempt: now.Add(time.Hour)})
	srv.ScriptPay("in_A", stripeapi.PayDeclined("insufficient_funds"), stripeapi.PayDeclined("insufficient_funds"))
	a := newActivities(newStore(t))
	a.Stripe = api

	req := billing.TakeOverInvoice{SubscriptionID: "sub_A", InvoiceID: "in_A", IdempotencyKey: "subscription/sub_A/in_A/takeover-1"}
	res, err := a.TakeOverInvoice(ctx, req)
	if err != nil || res != (billing.TakeoverResult{InvoiceID: "in_A", TakenOver: true}) {
		t.Fatalf("takeover %+v, %v", res, err)
	}
	if again, err := a.TakeOverInvoice(ctx, req); err != nil || !again.TakenOver {
		t.Fatalf("retried takeover %+v, %v", again, err)
	}
	if inv, _ := srv.GetInvoice("in_A"); !inv.ManualCollection {
		t.Fatalf("fake invoice still collected by Stripe: %+v", inv)
	}

	// Stripe's schedule comes and goes: no Stripe-side charge. payflow's
	// retries charge it.
	for i, at := range []time.Duration{2 * time.Hour, 72 * time.Hour, 200 * time.Hour} {
		if got := srv.RunSmartRetries(now.Add(at)); len(got) != 0 {
			t.Errorf("Stripe charged the taken-over invoice: %v", got)
		}
		if i < 2 {
			key := "subscription/sub_A/in_A/retry-" + string(rune('1'+i))
			if _, err := a.RetryCharge(ctx, billing.RetryCharge{SubscriptionID: "sub_A", InvoiceID: "in_A", Attempt: i + 1, IdempotencyKey: key}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, m := srv.SmartRetries("in_A"), srv.PayAttempts("in_A"); n != 0 || m != 2 {
		t.Errorf("Stripe charged %d times, payflow %d; want 0 and 2", n, m)
	}

	// Handed back: Stripe's automatic collection charges it again.
	if err := a.HandBackInvoice(ctx, billing.HandBackInvoice{SubscriptionID: "sub_A", InvoiceID: "in_A", IdempotencyKey: "subscription/sub_A/in_A/handback-1"}); err != nil {
		t.Fatal(err)
	}
	if got := srv.RunSmartRetries(now.Add(300 * time.Hour)); len(got) != 1 {
		t.Errorf("handed-back invoice not collected by Stripe: %v", got)
	}
	if inv, _ := srv.GetInvoice("in_A"); inv.Status != "paid" {
		t.Errorf("invoice %s after Stripe's retry", inv.Status)
	}
	// A paid invoice needs nothing handed back.
	if err := a.HandBackInvoice(ctx, billing.HandBackInvoice{SubscriptionID: "sub_A", InvoiceID: "in_A", IdempotencyKey: "subscription/sub_A/in_A/handback-2"}); err != nil {
		t.Errorf("hand back of a paid invoice: %v", err)
	}
}

func TestTakeOverInvoiceRefused(t *testing.T) {
	ctx := context.Background()
	srv, api := startStripe(t)
	a := newActivities(newStore(t))
	a.Stripe = api

	// Not open any more: the status comes back for the core to settle.
	srv.PutInvoice(stripeapi.Invoice{ID: "in_P", SubscriptionID: "sub_A", Status: "paid"})
	res, err := a.TakeOverInvoice(ctx, billing.TakeOverInvoice{SubscriptionID: "sub_A", InvoiceID: "in_P", IdempotencyKey: "k1"})
	if err != nil || res.TakenOver || res.InvoiceStatus != billing.InvoicePaid || res.Refused == "" {
		t.Errorf("paid invoice: %+v, %v", res, err)
	}
	// Unknown to Stripe: refused, a result (the campaign falls back), not an error.
	res, err = a.TakeOverInvoice(ctx, billing.TakeOverInvoice{SubscriptionID: "sub_A", InvoiceID: "in_missing", IdempotencyKey: "k2"})
	if err != nil || res.TakenOver || res.InvoiceStatus != "" || !strings.Contains(res.Refused, "No such invoice") {
		t.Errorf("missing invoice: %+v, %v", res, err)
	}
	// Without a Stripe key nothing is asked.
	b := newActivities(newStore(t))
	res, err = b.TakeOverInvoice(ctx, billing.TakeOverInvoice{SubscriptionID: "sub_A", InvoiceID: "in_P", IdempotencyKey: "k3"})
	if err != nil || !res.Skipped || res.TakenOver {
		t.Errorf("without Stripe: %+v, %v", res, err)
	}
	if _, err := a.TakeOverInvoice(ctx, billing.TakeOverInvoice{InvoiceID: "in_P"}); !isNonRetryable(err) {
		t.Errorf("no idempotency key: %v", err)
	}
}

// The final actions' end state in Stripe (the fake), and the pause lifted
// after a late payment.
func TestFinalActionsInStripe(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		action, behavior, invoiceStatus string
	}{
		{billing.FinalUnpaid, billing.PauseMarkUncollectible, "uncollectible"},
		{billing.FinalNone, billing.PauseKeepAsDraft, "open"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			srv, api := startStripe(t)
			srv.PutSubscription(stripeapi.Subscription{ID: "sub_A", CustomerID: "cus_A", Status: "past_due"})
			srv.PutInvoice(stripeapi.Invoice{ID: "in_A", CustomerID: "cus_A", SubscriptionID: "sub_A", AttemptCount: 4})
			a := newActivities(newStore(t))
			a.Stripe = api
			// The core's commands for the final step, run as the workflow would.
			p := billing.DefaultPolicy()
			p.FinalAction = tc.action
			for _, c := range finalStep(t, p) {
				var err error
				switch c := c.(type) {
				case billing.MarkInvoiceUncollectible:
					c.SubscriptionID, c.InvoiceID = "sub_A", "in_A"
					err = a.MarkInvoiceUncollectible(ctx, c)
					if err == nil { // retried activity: harmless
						err = a.MarkInvoiceUncollectible(ctx, c)
					}
				case billing.PauseCollection:
					c.SubscriptionID = "sub_A"
					err = a.PauseCollection(ctx, c)
				case billing.CancelSubscription:
					t.Fatalf("%s cancels", tc.action)
				}
				if err != nil {
					t.Fatalf("%s: %v", c.Name(), err)
				}
			}
			sub, _ := srv.GetSubscription("sub_A")
			inv, _ := srv.GetInvoice("in_A")
			if sub.Status != "past_due" || sub.PauseCollection != tc.behavior || inv.Status != tc.invoiceStatus {
				t.Errorf("Stripe after %s: subscription %s paused %q, invoice %s", tc.action, sub.Status, sub.PauseCollection, inv.Status)
			}
			if err := a.ResumeCollection(ctx, billing.ResumeCollection{SubscriptionID: "sub_A", InvoiceID: "in_A", IdempotencyKey: "subscription/sub_A/in_A/resume"}); err != nil {
				t.Fatal(err)
			}
			if sub, _ := srv.GetSubscription("sub_A"); sub.PauseCollection != "" {
				t.Errorf("still paused after resume: %q", sub.PauseCollection)
			}
		})
	}
	// Marking an invoice paid meanwhile is not an error; pausing a
	// canceled subscription is refused for good.
	srv, api := startStripe(t)
	srv.PutInvoice(stripeapi.Invoice{ID: "in_P", Status: "paid"})
	srv.PutSubscription(stripeapi.Subscription{ID: "sub_C", Status: "canceled"})
	a := newActivities(newStore(t))
	a.Stripe = api
	if err := a.MarkInvoiceUncollectible(ctx, billing.MarkInvoiceUncollectible{InvoiceID: "in_P", IdempotencyKey: "k"}); err != nil {
		t.Errorf("paid invoice: %v", err)
	}
	if err := a.PauseCollection(ctx, billing.PauseCollection{SubscriptionID: "sub_C", Behavior: billing.PauseKeepAsDraft, IdempotencyKey: "k2"}); !isNonRetryable(err) {
		t.Errorf("canceled subscription: %v", err)
	}
	if err := a.ResumeCollection(ctx, billing.ResumeCollection{SubscriptionID: "sub_gone", IdempotencyKey: "k3"}); err != nil {
		t.Errorf("missing subscription: %v", err)
	}
}

// finalStep drives the core to the final action and returns the final
// step's commands.
func finalStep(t *testing.T, p billing.Policy) []billing.Command {
	t.Helper()
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	s := billing.NewSubscription("sub_A")
	s, _ = billing.ApplySubscription(s, billing.Event{ID: "evt_c", Type: "customer.subscription.created", Created: t0.Unix(),
		CustomerID: "cus_A", SubscriptionID: "sub_A", Status: billing.StatusActive}, p, t0)
	s, _ = billing.ApplySubscription(s, billing.Event{ID: "evt_f", Type: "invoice.payment_failed", Created: t0.Unix(),
		CustomerID: "cus_A", SubscriptionID: "sub_A", InvoiceID: "in_A", AmountDue: 2000, Currency: "usd",
		BillingReason: "subscription_cycle", AttemptCount: 1, CollectionMethod: "charge_automatically"}, p, t0)
	s, _ = billing.ApplyTakeover(s, billing.TakeoverResult{InvoiceID: "in_A", TakenOver: true}, t0)
	now := t0
	for range 20 {
		timers := s.Timers()
		if len(timers) == 0 {
			break
		}
		now = timers[0].At
		var cmds []billing.Command
		s, cmds = billing.FireSubscriptionTimer(s, timers[0], now)
		for len(cmds) > 0 {
			c := cmds[0]
			cmds = cmds[1:]
			var more []billing.Command
			switch c := c.(type) {
			case billing.RetryCharge:
				s, more = billing.ApplyChargeResult(s, billing.ChargeResult{InvoiceID: c.InvoiceID, Attempt: c.Attempt, InvoiceStatus: "open"}, now)
			case billing.RecheckInvoice:
				s, more = billing.ApplyRecheck(s, billing.RecheckResult{InvoiceID: c.InvoiceID, Step: c.Step,
					InvoiceStatus: "open", SubscriptionStatus: "past_due"}, now)
				if c.Step == billing.StepFinal {
					return more
				}
			}
			cmds = append(cmds, more...)
		}
	}
	t.Fatal("no final step")
	return nil
}
