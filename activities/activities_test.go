package activities_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
)

func orderRecord(id, status string) activities.OrderRecord {
	return activities.OrderRecord{OrderID: id, CustomerID: "cus_A", Email: "a@example.com", ProductID: "prod_A",
		ChargeID: "ch_" + id, Amount: 2000, Currency: "usd", Status: status}
}

// pathTo is how an order reaches each status from pending.
var pathTo = map[string][]string{
	payflow.OrderPending:   nil,
	payflow.OrderFailed:    {payflow.OrderFailed},
	payflow.OrderFulfilled: {payflow.OrderFulfilled},
	payflow.OrderRefunded:  {payflow.OrderFulfilled, payflow.OrderRefunded},
	payflow.OrderDisputed:  {payflow.OrderFulfilled, payflow.OrderDisputed},
	payflow.OrderCanceled:  {payflow.OrderCanceled},
	payflow.OrderExpired:   {payflow.OrderExpired},
}

func TestRecordOrderStatusesOnlyMoveForward(t *testing.T) {
	all := []string{payflow.OrderPending, payflow.OrderFailed, payflow.OrderFulfilled, payflow.OrderRefunded,
		payflow.OrderDisputed, payflow.OrderCanceled, payflow.OrderExpired}
	allowed := map[string][]string{
		payflow.OrderPending:   {payflow.OrderFailed, payflow.OrderFulfilled, payflow.OrderRefunded, payflow.OrderDisputed, payflow.OrderCanceled, payflow.OrderExpired},
		payflow.OrderFailed:    {payflow.OrderPending, payflow.OrderFulfilled, payflow.OrderRefunded, payflow.OrderDisputed, payflow.OrderCanceled, payflow.OrderExpired},
		payflow.OrderFulfilled: {payflow.OrderRefunded, payflow.OrderDisputed},
		// Refunded, disputed (lost: the money is gone), canceled and expired
		// are final.
	}
	ctx := context.Background()
	db := newStore(t)
	a := newActivities(db)
	n := 0
	for _, from := range all {
		for _, to := range all {
			if from == to {
				continue
			}
			n++
			id := "pi_" + from + "_" + to
			t.Run(from+"->"+to, func(t *testing.T) {
				if _, err := a.RecordOrder(ctx, orderRecord(id, "")); err != nil {
					t.Fatal(err)
				}
				for _, s := range pathTo[from] {
					if o, err := a.RecordOrder(ctx, orderRecord(id, s)); err != nil || o.Status != s {
						t.Fatalf("setting up %s: %+v, %v", s, o, err)
					}
				}
				got, err := a.RecordOrder(ctx, orderRecord(id, to))
				if err != nil {
					t.Fatal(err)
				}
				want := from
				for _, s := range allowed[from] {
					if s == to {
						want = to
					}
				}
				if got.Status != want {
					t.Errorf("%s -> %s: status %s, want %s", from, to, got.Status, want)
				}
				stored, err := db.GetOrder(ctx, id)
				if err != nil || stored.Status != want {
					t.Errorf("stored %+v, %v", stored, err)
				}
			})
		}
	}
	if n != 42 {
		t.Errorf("%d transitions", n)
	}
}

func TestRecordOrderFulfilment(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	a := newActivities(db)
	a.Metrics = activities.NewMetrics(prometheus.NewRegistry())

	created, err := a.RecordOrder(ctx, activities.OrderRecord{OrderID: "pi_1", Amount: 2000, Currency: "usd", Status: payflow.OrderPending})
	if err != nil {
		t.Fatal(err)
	}
	if created.Status != payflow.OrderPending || created.CustomerID != "" || created.FulfilledAt != nil {
		t.Errorf("created %+v", created)
	}
	// A later event names the customer; the order fills it in.
	o, err := a.RecordOrder(ctx, orderRecord("pi_1", payflow.OrderFulfilled))
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != payflow.OrderFulfilled || o.CustomerID != "cus_A" || o.Email != "a@example.com" ||
		o.FulfilledAt == nil || !o.FulfilledAt.Equal(fixedNow) {
		t.Errorf("fulfilled %+v", o)
	}
	sum, err := db.CustomerSummary(ctx, "cus_A")
	if err != nil || sum.Customer.Email != "a@example.com" {
		t.Errorf("customer %+v, %v", sum.Customer, err)
	}
	// Retried fulfilment, then the workflow of a redelivered event: the
	// counter moves once.
	later := fixedNow.Add(time.Hour)
	a.Now = func() time.Time { return later }
	for _, s := range []string{payflow.OrderFulfilled, payflow.OrderPending, payflow.OrderFulfilled} {
		if o, err := a.RecordOrder(ctx, orderRecord("pi_1", s)); err != nil || o.Status != payflow.OrderFulfilled {
			t.Fatalf("record %s: %+v, %v", s, o, err)
		}
	}
	if got := counterValue(t, a.Metrics.OrdersFulfilled); got != 1 {
		t.Errorf("orders fulfilled = %v, want 1", got)
	}
	// A refund keeps the fulfilment time.
	r := orderRecord("pi_1", payflow.OrderRefunded)
	r.Reason = "requested_by_customer"
	o, err = a.RecordOrder(ctx, r)
	if err != nil || o.Status != payflow.OrderRefunded || o.FailureReason != "requested_by_customer" ||
		o.FulfilledAt == nil || !o.FulfilledAt.Equal(fixedNow) {
		t.Errorf("refunded %+v, %v", o, err)
	}
	if got := counterValue(t, a.Metrics.OrdersFulfilled); got != 1 {
		t.Errorf("orders fulfilled = %v after the refund, want 1", got)
	}
}

// TestRecordOrderLostDisputeIsFinal follows what the order workflow does
// when a payment event reaches an order whose dispute was lost (a new run
// after Temporal dropped the first): record pending, then fulfilled. The
// order must stay disputed, and not be counted as fulfilled again.
func TestRecordOrderLostDisputeIsFinal(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	a := newActivities(db)
	a.Metrics = activities.NewMetrics(prometheus.NewRegistry())
	for _, s := range []string{payflow.OrderPending, payflow.OrderFulfilled, payflow.OrderDisputed, payflow.OrderPending, payflow.OrderFulfilled} {
		if _, err := a.RecordOrder(ctx, orderRecord("pi_d", s)); err != nil {
			t.Fatal(err)
		}
	}
	if o, _ := db.GetOrder(ctx, "pi_d"); o.Status != payflow.OrderDisputed {
		t.Errorf("status %s, want %s", o.Status, payflow.OrderDisputed)
	}
	if got := counterValue(t, a.Metrics.OrdersFulfilled); got != 1 {
		t.Errorf("orders fulfilled = %v, want 1", got)
	}
}

func TestRecordOrderInvalid(t *testing.T) {
	a := newActivities(newStore(t))
	if _, err := a.RecordOrder(context.Background(), activities.OrderRecord{Status: payflow.OrderPending}); !isNonRetryable(err) {
		t.Errorf("order without ID: err %v, want non-retryable", err)
	}
}

func TestLoadAndFindOrder(t *testing.T) {
	ctx := context.Background()
	a := newActivities(newStore(t))
	if _, err := a.RecordOrder(ctx, orderRecord("pi_L", payflow.OrderFulfilled)); err != nil {
		t.Fatal(err)
	}
	if o, err := a.LoadOrder(ctx, "pi_L"); err != nil || o == nil || o.ID != "pi_L" || o.ChargeID != "ch_pi_L" {
		t.Errorf("LoadOrder: %+v, %v", o, err)
	}
	if o, err := a.LoadOrder(ctx, "pi_none"); err != nil || o != nil {
		t.Errorf("LoadOrder of a missing order: %+v, %v; want nil, nil", o, err)
	}
	cases := []struct {
		charge, pi, want string
	}{
		{"", "pi_L", "pi_L"},
		{"ch_pi_L", "", "pi_L"},
		{"ch_pi_L", "pi_other", "pi_L"}, // unknown intent: fall back to the charge
		{"ch_none", "", ""},
		{"", "", ""},
		{"", "pi_none", ""},
	}
	for _, tc := range cases {
		o, err := a.FindOrderByCharge(ctx, tc.charge, tc.pi)
		if err != nil {
			t.Errorf("FindOrderByCharge(%q, %q): %v", tc.charge, tc.pi, err)
			continue
		}
		if got := ""; o != nil {
			got = o.ID
			if got != tc.want {
				t.Errorf("FindOrderByCharge(%q, %q) = %s, want %q", tc.charge, tc.pi, got, tc.want)
			}
		} else if tc.want != "" {
			t.Errorf("FindOrderByCharge(%q, %q) = nil, want %s", tc.charge, tc.pi, tc.want)
		}
	}
}

func TestRecordSnapshots(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	a := newActivities(db)

	sub := activities.SubscriptionRecord{SubscriptionID: "sub_A", CustomerID: "cus_A", Email: "a@example.com",
		Status: "active", CurrentPeriodEnd: 1_711_929_600, StripeCreated: 200}
	if wrote, err := a.RecordSubscription(ctx, sub); err != nil || !wrote {
		t.Fatalf("first snapshot: %v, %v", wrote, err)
	}
	older := sub
	older.Status, older.StripeCreated = "past_due", 100
	if wrote, err := a.RecordSubscription(ctx, older); err != nil || wrote {
		t.Errorf("older snapshot wrote %v, %v", wrote, err)
	}
	if s, err := db.GetSubscription(ctx, "sub_A"); err != nil || s.Status != "active" || s.CustomerID != "cus_A" {
		t.Errorf("stored %+v, %v", s, err)
	}

	inv := activities.InvoiceRecord{InvoiceID: "in_A", CustomerID: "cus_A", SubscriptionID: "sub_A", Amount: 2000,
		Currency: "usd", Status: "open", StripeCreated: 100}
	if wrote, err := a.RecordInvoice(ctx, inv); err != nil || !wrote {
		t.Errorf("invoice: %v, %v", wrote, err)
	}
	if wrote, err := a.RecordInvoice(ctx, inv); err != nil || wrote {
		t.Errorf("same invoice snapshot again wrote %v, %v", wrote, err)
	}

	d := payflow.Dispute{ID: "dp_A", ChargeID: "ch_A", CustomerID: "cus_A", Amount: 2000, Currency: "usd",
		Reason: "fraudulent", Status: "needs_response", StripeCreated: 100}
	if wrote, err := a.RecordDispute(ctx, d); err != nil || !wrote {
		t.Errorf("dispute: %v, %v", wrote, err)
	}
	d.Status, d.StripeCreated = "lost", 300
	if wrote, err := a.RecordDispute(ctx, d); err != nil || !wrote {
		t.Errorf("newer dispute: %v, %v", wrote, err)
	}
	sum, err := db.CustomerSummary(ctx, "cus_A")
	if err != nil || len(sum.Disputes) != 1 || sum.Disputes[0].Status != "lost" {
		t.Errorf("disputes %+v, %v", sum.Disputes, err)
	}
}

func TestRecordEventOwnedByTheWorkflowRun(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	a := newActivities(db)

	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(quietLog))
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)

	record := func(ev payflow.Event) bool {
		t.Helper()
		val, err := env.ExecuteActivity(a.RecordEvent, ev)
		if err != nil {
			t.Fatalf("RecordEvent(%s): %v", ev.ID, err)
		}
		var fresh bool
		if err := val.Get(&fresh); err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	ev := payflow.Event{ID: "evt_1", Type: "invoice.paid", ObjectID: "in_1", Created: 1_709_294_400}
	if !record(ev) {
		t.Error("first call: false, want true")
	}
	if !record(ev) {
		t.Error("the same run again (a retried activity): false, want true")
	}
	if ok, err := db.EventApplied(ctx, "evt_1"); err != nil || !ok {
		t.Errorf("EventApplied: %v, %v", ok, err)
	}
	// The row names the run: workflowID@runID.
	const owner = "default-test-workflow-id@default-test-run-id"
	if mine, err := db.MarkEventApplied(ctx, payflow.AppliedEvent{EventID: "evt_1", Owner: owner}); err != nil || !mine {
		t.Errorf("owner is not %s (%v, %v)", owner, mine, err)
	}

	// Another run of the same workflow applied evt_2 first: this run's
	// copy is a duplicate.
	if _, err := db.MarkEventApplied(ctx, payflow.AppliedEvent{EventID: "evt_2", Type: "invoice.paid",
		Owner: "default-test-workflow-id@an-earlier-run"}); err != nil {
		t.Fatal(err)
	}
	if record(payflow.Event{ID: "evt_2", Type: "invoice.paid"}) {
		t.Error("an event another run applied: true, want false")
	}
	// Outside a workflow (no owner) a recorded event is always a duplicate.
	if fresh, err := a.RecordEvent(ctx, ev); err != nil || fresh {
		t.Errorf("direct call for a recorded event: %v, %v", fresh, err)
	}
	if fresh, err := a.RecordEvent(ctx, payflow.Event{ID: "evt_3"}); err != nil || !fresh {
		t.Errorf("direct call for a new event: %v, %v", fresh, err)
	}

	_, err := env.ExecuteActivity(a.RecordEvent, payflow.Event{})
	if err == nil || !strings.Contains(err.Error(), "event without ID") {
		t.Errorf("event without ID: %v", err)
	}
	if _, err := a.RecordEvent(ctx, payflow.Event{}); !isNonRetryable(err) {
		t.Errorf("event without ID: %v, want non-retryable", err)
	}
}

func TestGetDunningPolicy(t *testing.T) {
	a := newActivities(newStore(t))
	a.Policy = activities.DunningPolicy{}
	if p, err := a.GetDunningPolicy(context.Background()); err != nil || p.Mode != activities.ModePayflow || len(p.RetryDelays) != 3 {
		t.Errorf("unset policy: %+v, %v; want the default", p, err)
	}
	custom := activities.DunningPolicy{Mode: activities.ModeStripe, Grace: time.Hour, FinalAction: activities.FinalNone}
	a.Policy = custom
	if p, err := a.GetDunningPolicy(context.Background()); err != nil || p.Mode != custom.Mode || p.Grace != custom.Grace || p.FinalAction != custom.FinalAction {
		t.Errorf("custom policy: %+v, %v", p, err)
	}
}

func TestFormatAmount(t *testing.T) {
	cases := []struct {
		amount   int64
		currency string
		want     string
	}{
		{2000, "usd", "20.00 USD"},
		{1999, "USD", "19.99 USD"},
		{5, "eur", "0.05 EUR"},
		{0, "usd", "0.00 USD"},
		{123456789, "gbp", "1234567.89 GBP"},
		{2000, "", "20.00 USD"},
		{-2000, "usd", "-20.00 USD"},
		{-5, "usd", "-0.05 USD"},
		{2000, "jpy", "2000 JPY"},
		{500, "krw", "500 KRW"},
		{-500, "jpy", "-500 JPY"},
		{1500, "vnd", "1500 VND"},
		{12345, "kwd", "12.345 KWD"},
		{-1000, "bhd", "-1.000 BHD"},
	}
	for _, tc := range cases {
		if got := activities.FormatAmount(tc.amount, tc.currency); got != tc.want {
			t.Errorf("FormatAmount(%d, %q) = %q, want %q", tc.amount, tc.currency, got, tc.want)
		}
	}
}
