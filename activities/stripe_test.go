package activities_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/fixtures"
)

func TestRetryCharge(t *testing.T) {
	cases := []struct {
		name       string
		script     []stripeapi.PayOutcome
		want       billing.ChargeResult
		wantStatus string // the fake's invoice status afterwards
	}{
		{"success", nil, billing.ChargeResult{InvoiceID: "in_A", Attempt: 1, Paid: true, InvoiceStatus: "paid"}, "paid"},
		{"insufficient funds", []stripeapi.PayOutcome{stripeapi.PayDeclined("insufficient_funds")},
			billing.ChargeResult{InvoiceID: "in_A", Attempt: 1, InvoiceStatus: "open", DeclineCode: "insufficient_funds"}, "open"},
		{"hard decline", []stripeapi.PayOutcome{stripeapi.PayDeclined("stolen_card")},
			billing.ChargeResult{InvoiceID: "in_A", Attempt: 1, InvoiceStatus: "open", DeclineCode: "stolen_card"}, "open"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			srv, api := startStripe(t)
			srv.PutSubscription(stripeapi.Subscription{ID: "sub_A", CustomerID: "cus_A", Status: "past_due"})
			srv.PutInvoice(stripeapi.Invoice{ID: "in_A", CustomerID: "cus_A", SubscriptionID: "sub_A"})
			srv.ScriptPay("in_A", tc.script...)
			a := newActivities(newStore(t))
			a.Stripe = api

			req := billing.RetryCharge{SubscriptionID: "sub_A", InvoiceID: "in_A", Attempt: 1, IdempotencyKey: "subscription/sub_A/in_A/retry-1"}
			res, err := a.RetryCharge(ctx, req)
			if err != nil {
				t.Fatalf("err %v: a decline is a result, not an error", err)
			}
			if res != tc.want {
				t.Errorf("result %+v, want %+v", res, tc.want)
			}
			if inv, _ := srv.GetInvoice("in_A"); inv.Status != tc.wantStatus {
				t.Errorf("invoice status %q, want %q", inv.Status, tc.wantStatus)
			}

			// The retried activity replays Stripe's first answer.
			again, err := a.RetryCharge(ctx, req)
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			if again != tc.want {
				t.Errorf("retry result %+v, want %+v", again, tc.want)
			}
			if n := srv.PayAttempts("in_A"); n != 1 {
				t.Errorf("%d charge attempts, want 1", n)
			}
			var replayed, keyed int
			for _, r := range srv.Requests() {
				if r.Path == "/v1/invoices/in_A/pay" {
					if r.IdempotencyKey == req.IdempotencyKey {
						keyed++
					}
					if r.Replayed {
						replayed++
					}
				}
			}
			if keyed != 2 || replayed != 1 {
				t.Errorf("pay requests with the key: %d, replayed: %d; want 2 and 1", keyed, replayed)
			}
		})
	}
}

// The core reads the result: a hard decline stops retries, a soft one
// plans the next; RetryCharge hands it exactly what it needs.
func TestRetryChargeFeedsTheCore(t *testing.T) {
	p := billing.DefaultPolicy()
	for code, hard := range map[string]bool{"stolen_card": true, "insufficient_funds": false} {
		if p.IsHardDecline(code) != hard {
			t.Errorf("%s: hard %v", code, !hard)
		}
	}
	ctx := context.Background()
	srv, api := startStripe(t)
	srv.PutInvoice(stripeapi.Invoice{ID: "in_C"})
	srv.ScriptPay("in_C", stripeapi.PayDeclined("stolen_card"))
	a := newActivities(newStore(t))
	a.Stripe = api
	res, err := a.RetryCharge(ctx, billing.RetryCharge{InvoiceID: "in_C", Attempt: 2, IdempotencyKey: "k/in_C/retry-2"})
	if err != nil || res.Attempt != 2 || res.InvoiceID != "in_C" || !p.IsHardDecline(res.DeclineCode) {
		t.Errorf("result %+v, %v; want attempt 2 of in_C with a hard decline", res, err)
	}
}

func TestRetryChargeNextKeyChargesAgain(t *testing.T) {
	ctx := context.Background()
	srv, api := startStripe(t)
	srv.PutInvoice(stripeapi.Invoice{ID: "in_B"})
	srv.ScriptPay("in_B", stripeapi.PayDeclined("insufficient_funds"))
	a := newActivities(newStore(t))
	a.Stripe = api

	first, err := a.RetryCharge(ctx, billing.RetryCharge{InvoiceID: "in_B", Attempt: 1, IdempotencyKey: "wf/in_B/retry-1"})
	if err != nil || first.Paid {
		t.Fatalf("first retry: %+v, %v", first, err)
	}
	second, err := a.RetryCharge(ctx, billing.RetryCharge{InvoiceID: "in_B", Attempt: 2, IdempotencyKey: "wf/in_B/retry-2"})
	if err != nil || !second.Paid || second.InvoiceStatus != "paid" || second.Attempt != 2 {
		t.Fatalf("second retry: %+v, %v", second, err)
	}
	if n := srv.PayAttempts("in_B"); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
}

// TestRetryChargeAlreadyPaid is a dunning retry that fires after the
// customer paid on the hosted invoice page (or Stripe collected it) but
// before invoice.paid reached the workflow: Stripe refuses to pay it again
// with a 400, and the retry's outcome is "paid", not a failure that would
// end the subscription workflow.
func TestRetryChargeAlreadyPaid(t *testing.T) {
	ctx := context.Background()
	srv, api := startStripe(t)
	srv.PutInvoice(stripeapi.Invoice{ID: "in_paid", Status: "paid"})
	a := newActivities(newStore(t))
	a.Stripe = api

	res, err := a.RetryCharge(ctx, billing.RetryCharge{InvoiceID: "in_paid", Attempt: 2, IdempotencyKey: "wf/in_paid/retry-2"})
	if err != nil {
		t.Fatalf("err %v, want the result paid", err)
	}
	if !res.Paid || res.InvoiceStatus != "paid" || res.DeclineCode != "" {
		t.Errorf("result %+v, want paid", res)
	}
	if n := srv.PayAttempts("in_paid"); n != 0 {
		t.Errorf("%d charge attempts, want 0", n)
	}
}

func TestRetryChargeErrors(t *testing.T) {
	ctx := context.Background()
	srv, api := startStripe(t)
	srv.PutInvoice(stripeapi.Invoice{ID: "in_void", Status: "void"})
	a := newActivities(newStore(t))
	a.Stripe = api

	res, err := a.RetryCharge(ctx, billing.RetryCharge{InvoiceID: "in_missing", IdempotencyKey: "k/in_missing"})
	if !isNonRetryable(err) {
		t.Errorf("in_missing: result %+v, err %v; want a non-retryable error", res, err)
	}
	// A void invoice is an outcome for the campaign to act on, not an
	// error that would fail the workflow.
	res, err = a.RetryCharge(ctx, billing.RetryCharge{InvoiceID: "in_void", IdempotencyKey: "k/in_void"})
	if err != nil || res.Paid || res.InvoiceStatus != "void" {
		t.Errorf("in_void: result %+v, err %v; want invoice status void", res, err)
	}
	if n := srv.PayAttempts("in_void"); n != 0 {
		t.Errorf("%d charge attempts on a void invoice", n)
	}
	for _, bad := range []billing.RetryCharge{{InvoiceID: "in_void"}, {IdempotencyKey: "k"}} {
		if _, err := a.RetryCharge(ctx, bad); !isNonRetryable(err) {
			t.Errorf("%+v: err %v, want non-retryable", bad, err)
		}
	}

	// A wrong API key is refused for good, too.
	url, stop := srv.Start()
	t.Cleanup(stop)
	wrong := newActivities(newStore(t))
	wrong.Stripe = activities.NewStripeAPI("sk_test_wrong_key_0000", url)
	if _, err := wrong.RetryCharge(ctx, billing.RetryCharge{InvoiceID: "in_void", IdempotencyKey: "k"}); !isNonRetryable(err) {
		t.Errorf("wrong key: err %v, want non-retryable", err)
	}
}

func TestStripeActivitiesWithoutStripe(t *testing.T) {
	ctx := context.Background()
	a := newActivities(newStore(t))

	res, err := a.RetryCharge(ctx, billing.RetryCharge{InvoiceID: "in_A", Attempt: 3, IdempotencyKey: "k"})
	if err != nil {
		t.Fatalf("RetryCharge: %v", err)
	}
	if want := (billing.ChargeResult{InvoiceID: "in_A", Attempt: 3}); res != want {
		t.Errorf("RetryCharge result %+v, want %+v: nothing charged, the campaign goes on", res, want)
	}
	r, err := a.RecheckInvoice(ctx, billing.RecheckInvoice{SubscriptionID: "sub_A", InvoiceID: "in_A", Step: billing.StepSuspend})
	if want := (billing.RecheckResult{InvoiceID: "in_A", Step: billing.StepSuspend}); err != nil || r != want {
		t.Errorf("RecheckInvoice: %+v, %v; want %+v (nothing read)", r, err, want)
	}
	if err := a.CancelSubscription(ctx, billing.CancelSubscription{SubscriptionID: "sub_A", IdempotencyKey: "k"}); err != nil {
		t.Errorf("CancelSubscription: %v", err)
	}
}

func TestRecheckInvoice(t *testing.T) {
	cases := []struct {
		subStatus, invStatus string
	}{
		{"past_due", "open"}, {"active", "paid"}, {"unpaid", "uncollectible"}, {"canceled", "void"}, {"active", ""},
	}
	ctx := context.Background()
	srv, api := startStripe(t)
	a := newActivities(newStore(t))
	a.Stripe = api
	for i, tc := range cases {
		t.Run(tc.subStatus+"/"+tc.invStatus, func(t *testing.T) {
			sub, inv := fmt.Sprintf("sub_%d", i), ""
			srv.PutSubscription(stripeapi.Subscription{ID: sub, Status: tc.subStatus})
			if tc.invStatus != "" {
				inv = fmt.Sprintf("in_%d", i)
				srv.PutInvoice(stripeapi.Invoice{ID: inv, SubscriptionID: sub, Status: tc.invStatus})
			}
			got, err := a.RecheckInvoice(ctx, billing.RecheckInvoice{SubscriptionID: sub, InvoiceID: inv, Step: billing.StepFinal})
			if err != nil {
				t.Fatal(err)
			}
			want := billing.RecheckResult{InvoiceID: inv, Step: billing.StepFinal, InvoiceStatus: tc.invStatus, SubscriptionStatus: tc.subStatus}
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
	t.Run("reflects a payment", func(t *testing.T) {
		srv.PutSubscription(stripeapi.Subscription{ID: "sub_pay", Status: "past_due"})
		srv.PutInvoice(stripeapi.Invoice{ID: "in_pay", SubscriptionID: "sub_pay"})
		if res, err := a.RetryCharge(ctx, billing.RetryCharge{InvoiceID: "in_pay", IdempotencyKey: "k/pay"}); err != nil || !res.Paid {
			t.Fatalf("pay: %+v, %v", res, err)
		}
		got, err := a.RecheckInvoice(ctx, billing.RecheckInvoice{SubscriptionID: "sub_pay", InvoiceID: "in_pay", Step: billing.StepSuspend})
		want := billing.RecheckResult{InvoiceID: "in_pay", Step: billing.StepSuspend, InvoiceStatus: "paid", SubscriptionStatus: "active"}
		if err != nil || got != want {
			t.Errorf("got %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := a.RecheckInvoice(ctx, billing.RecheckInvoice{SubscriptionID: "sub_nope"}); !isNonRetryable(err) {
			t.Errorf("missing subscription: err %v, want non-retryable", err)
		}
		srv.PutSubscription(stripeapi.Subscription{ID: "sub_noinv"})
		if _, err := a.RecheckInvoice(ctx, billing.RecheckInvoice{SubscriptionID: "sub_noinv", InvoiceID: "in_nope"}); !isNonRetryable(err) {
			t.Errorf("missing invoice: err %v, want non-retryable", err)
		}
	})
}

func TestCancelSubscription(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			ctx := context.Background()
			srv, api := startStripe(t)
			srv.SetStrictCancel(strict)
			srv.PutSubscription(stripeapi.Subscription{ID: "sub_A", Status: "past_due"})
			a := newActivities(newStore(t))
			a.Stripe = api

			req := billing.CancelSubscription{SubscriptionID: "sub_A", InvoiceID: "in_A", IdempotencyKey: "subscription/sub_A/in_A/cancel"}
			if err := a.CancelSubscription(ctx, req); err != nil {
				t.Fatal(err)
			}
			sub, _ := srv.GetSubscription("sub_A")
			if sub.Status != "canceled" || sub.CanceledAt.IsZero() {
				t.Fatalf("subscription %s, canceled at %v", sub.Status, sub.CanceledAt)
			}
			// A retried activity, and a second campaign's final action
			// with another key: both harmless.
			if err := a.CancelSubscription(ctx, req); err != nil {
				t.Errorf("second cancel: %v", err)
			}
			if err := a.CancelSubscription(ctx, billing.CancelSubscription{SubscriptionID: "sub_A", InvoiceID: "in_B", IdempotencyKey: "other"}); err != nil {
				t.Errorf("cancel with another key: %v", err)
			}
			if sub2, _ := srv.GetSubscription("sub_A"); sub2.Status != "canceled" || !sub2.CanceledAt.Equal(sub.CanceledAt) {
				t.Errorf("after repeats: %s, canceled at %v (was %v)", sub2.Status, sub2.CanceledAt, sub.CanceledAt)
			}
			var deletes int
			for _, r := range srv.Requests() {
				if r.Method == "DELETE" && r.Path == "/v1/subscriptions/sub_A" {
					deletes++
					if r.IdempotencyKey == "" {
						t.Error("cancel without an idempotency key")
					}
					if strict && deletes > 1 && r.Status != 404 {
						t.Errorf("strict fake answered %d to a repeated cancel", r.Status)
					}
				}
			}
			if deletes != 3 {
				t.Errorf("%d DELETE requests, want 3", deletes)
			}
		})
	}
	a := newActivities(newStore(t))
	if err := a.CancelSubscription(context.Background(), billing.CancelSubscription{}); !isNonRetryable(err) {
		t.Errorf("no subscription: err %v, want non-retryable", err)
	}
}

func TestCustomerEmail(t *testing.T) {
	ctx := context.Background()
	srv, api := startStripe(t)
	srv.PutCustomer("cus_A", "a@example.com")
	srv.PutCustomer("cus_NoEmail", "")

	if got, err := api.CustomerEmail(ctx, "cus_A"); err != nil || got != "a@example.com" {
		t.Errorf("cus_A: %q, %v", got, err)
	}
	if got, err := api.CustomerEmail(ctx, "cus_NoEmail"); err != nil || got != "" {
		t.Errorf("cus_NoEmail: %q, %v", got, err)
	}
	if _, err := api.CustomerEmail(ctx, "cus_Missing"); !isNonRetryable(err) {
		t.Errorf("missing customer: err %v, want non-retryable", err)
	}
}

// listedEvent is the part of a re-encoded event the test reads.
type listedEvent struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
	Data    struct {
		Object map[string]any `json:"object"`
	} `json:"data"`
}

func TestListEvents(t *testing.T) {
	ctx := context.Background()
	srv, api := startStripe(t)

	types := fixtures.Types()
	now := time.Now().Truncate(time.Second)
	since := now.Add(-72 * time.Hour)
	type added struct {
		id, typ string
		created int64
	}
	var all []added
	for i := 0; i < 250; i++ {
		// Spread over four days, so some fall before the window; several
		// share a second.
		created := now.Add(-time.Duration(i*23) * time.Minute)
		typ := types[i%len(types)]
		id := fmt.Sprintf("evt_%04d", i)
		raw, err := fixtures.Build(typ, fixtures.Options{EventID: id, Created: created})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.AddEvent(raw); err != nil {
			t.Fatal(err)
		}
		all = append(all, added{id, typ, created.Unix()})
	}
	// The window's edge: an event exactly at since is in, one second
	// before is out.
	for _, e := range []added{{"evt_edge_in", "invoice.paid", since.Unix()}, {"evt_edge_out", "invoice.paid", since.Unix() - 1}} {
		raw, err := fixtures.Build(e.typ, fixtures.Options{EventID: e.id, Created: time.Unix(e.created, 0)})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.AddEvent(raw); err != nil {
			t.Fatal(err)
		}
		all = append(all, e)
	}

	want := func(filter []string) []string {
		var ids []string
		for _, e := range all {
			if e.created >= since.Unix() && (len(filter) == 0 || slices.Contains(filter, e.typ)) {
				ids = append(ids, e.id)
			}
		}
		sort.Strings(ids)
		return ids
	}
	list := func(t *testing.T, filter []string) []listedEvent {
		t.Helper()
		var got []listedEvent
		err := api.ListEvents(ctx, since, filter, func(raw []byte) error {
			var ev listedEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				return err
			}
			got = append(got, ev)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	ids := func(evs []listedEvent) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e.ID)
		}
		sort.Strings(out)
		return out
	}
	eventsRequests := func(from int) [][]string {
		var out [][]string
		for _, r := range srv.Requests()[from:] {
			if r.Path == "/v1/events" {
				var ts []string
				for k, v := range r.Form {
					if strings.HasPrefix(k, "types") {
						ts = append(ts, v...)
					}
				}
				out = append(out, ts)
			}
		}
		return out
	}

	t.Run("all types", func(t *testing.T) {
		from := len(srv.Requests())
		got := list(t, nil)
		if w := want(nil); !slices.Equal(ids(got), w) {
			t.Fatalf("listed %d events, want %d in the window", len(got), len(w))
		}
		if len(got) <= 100 {
			t.Fatalf("only %d events in the window: the test does not page", len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i].Created > got[i-1].Created {
				t.Errorf("not newest first at %d: %d after %d", i, got[i].Created, got[i-1].Created)
				break
			}
		}
		for _, e := range got {
			if e.Type == "" || e.Data.Object["id"] == nil {
				t.Errorf("event %s re-encoded without type or data.object: %+v", e.ID, e)
				break
			}
		}
		if pages := len(eventsRequests(from)); pages < 2 {
			t.Errorf("%d list requests, want pagination", pages)
		}
	})

	t.Run("types filter", func(t *testing.T) {
		filter := []string{"invoice.paid", "invoice.payment_failed", "charge.refunded"}
		from := len(srv.Requests())
		got := list(t, filter)
		if w := want(filter); len(w) == 0 || !slices.Equal(ids(got), w) {
			t.Errorf("listed %v, want %v", ids(got), w)
		}
		for _, sent := range eventsRequests(from) {
			slices.Sort(sent)
			if !slices.Equal(sent, []string{"charge.refunded", "invoice.paid", "invoice.payment_failed"}) {
				t.Errorf("types sent %v", sent)
			}
		}
	})

	t.Run("more than 20 types", func(t *testing.T) {
		var filter []string
		for i := 0; i < 21; i++ {
			filter = append(filter, fmt.Sprintf("made.up_%d", i))
		}
		filter = append(filter, "invoice.paid")
		from := len(srv.Requests())
		got := list(t, filter)
		// Stripe refuses more than 20 types, so none are sent and every
		// event comes back for the caller to filter.
		if w := want(nil); !slices.Equal(ids(got), w) {
			t.Errorf("listed %d events, want all %d in the window", len(got), len(w))
		}
		reqs := eventsRequests(from)
		if len(reqs) == 0 {
			t.Fatal("no list requests")
		}
		for _, sent := range reqs {
			if len(sent) != 0 {
				t.Errorf("types sent: %v", sent)
			}
		}
	})

	t.Run("exactly 20 types", func(t *testing.T) {
		filter := append([]string(nil), types...)
		for len(filter) < 20 {
			filter = append(filter, fmt.Sprintf("made.up_%d", len(filter)))
		}
		filter = filter[:20]
		got := list(t, filter)
		if w := want(filter); !slices.Equal(ids(got), w) {
			t.Errorf("listed %d, want %d", len(got), len(want(filter)))
		}
	})

	t.Run("callback error stops", func(t *testing.T) {
		stop := fmt.Errorf("stop")
		n := 0
		err := api.ListEvents(ctx, since, nil, func([]byte) error {
			n++
			if n == 3 {
				return stop
			}
			return nil
		})
		if err != stop || n != 3 {
			t.Errorf("err %v after %d events, want the callback's error after 3", err, n)
		}
	})
}
