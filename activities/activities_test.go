package activities_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/billing"
)

func recordOrder(status string) billing.RecordOrder {
	return billing.RecordOrder{OrderID: "pi_1", CustomerID: "cus_A", Email: "a@example.com", PaymentIntent: "pi_1",
		ChargeID: "ch_1", Products: []string{"prod_B", "prod_A"}, Amount: 2000, Currency: "usd", Status: status}
}

func TestRecordOrder(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	a := newActivities(db)
	a.Metrics = activities.NewMetrics(prometheus.NewRegistry())

	if err := a.RecordOrder(ctx, billing.RecordOrder{OrderID: "pi_1", Amount: 2000, Currency: "usd", Status: billing.OrderReceived}); err != nil {
		t.Fatal(err)
	}
	// Fulfilled, retried, and a late record of the earlier view: the
	// counter moves once and the status stays fulfilled.
	for _, status := range []string{billing.OrderFulfilled, billing.OrderFulfilled, billing.OrderReceived} {
		if err := a.RecordOrder(ctx, recordOrder(status)); err != nil {
			t.Fatal(err)
		}
	}
	o, err := db.GetOrder(ctx, "pi_1")
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != payflow.OrderFulfilled || o.CustomerID != "cus_A" || o.ChargeID != "ch_1" ||
		!slices.Equal(o.Products, []string{"prod_A", "prod_B"}) || o.FulfilledAt == nil || !o.FulfilledAt.Equal(fixedNow) {
		t.Errorf("order %+v", o)
	}
	if got := counterValue(t, a.Metrics.OrdersFulfilled); got != 1 {
		t.Errorf("orders fulfilled = %v, want 1", got)
	}
	sum, err := db.CustomerSummary(ctx, "cus_A")
	if err != nil || sum.Customer.Email != "a@example.com" {
		t.Errorf("customer %+v, %v", sum.Customer, err)
	}

	// A partial refund, then a stale record with a smaller refund.
	partial := recordOrder(billing.OrderPartiallyRefunded)
	partial.AmountRefunded = 500
	stale := recordOrder(billing.OrderPartiallyRefunded)
	stale.AmountRefunded = 200
	for _, r := range []billing.RecordOrder{partial, stale} {
		if err := a.RecordOrder(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if o, _ := db.GetOrder(ctx, "pi_1"); o.Status != payflow.OrderPartiallyRefunded || o.AmountRefunded != 500 {
		t.Errorf("after the refunds: %+v", o)
	}

	// The core's statuses are the store's words.
	for _, pair := range [][2]string{
		{billing.OrderReceived, payflow.OrderReceived}, {billing.OrderAwaitingPayment, payflow.OrderAwaitingPayment},
		{billing.OrderPaymentFailed, payflow.OrderFailed}, {billing.OrderFulfilled, payflow.OrderFulfilled},
		{billing.OrderPartiallyRefunded, payflow.OrderPartiallyRefunded}, {billing.OrderRefunded, payflow.OrderRefunded},
		{billing.OrderDisputed, payflow.OrderDisputed}, {billing.OrderCanceled, payflow.OrderCanceled},
		{billing.OrderExpired, payflow.OrderExpired}, {billing.OrderAsyncFailed, payflow.OrderAsyncFailed},
	} {
		if pair[0] != pair[1] {
			t.Errorf("core status %q, store status %q", pair[0], pair[1])
		}
	}
	if err := a.RecordOrder(ctx, billing.RecordOrder{Status: billing.OrderFulfilled}); !isNonRetryable(err) {
		t.Errorf("order without ID: %v, want non-retryable", err)
	}
}

// A later run of an order (a refund weeks after the payment) loads the
// stored row and seeds its state from it.
func TestLoadOrderSeedsALaterRun(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	a := newActivities(db)
	if o, err := a.LoadOrder(ctx, "pi_none"); err != nil || o != nil {
		t.Errorf("missing order: %+v, %v; want nil, nil", o, err)
	}
	if err := a.RecordOrder(ctx, recordOrder(billing.OrderFulfilled)); err != nil {
		t.Fatal(err)
	}
	o, err := a.LoadOrder(ctx, "pi_1")
	if err != nil || o == nil {
		t.Fatalf("LoadOrder: %+v, %v", o, err)
	}
	seed := billing.OrderFromRecord(*o)
	if !seed.Paid || !seed.Fulfilled || seed.CustomerID != "cus_A" || seed.ChargeID != "ch_1" || seed.Amount != 2000 {
		t.Errorf("seeded order %+v", seed)
	}
	// A full refund applied to the seed revokes what the order granted.
	_, cmds := billing.ApplyOrder(seed, billing.Event{ID: "evt_r", Type: "charge.refunded", Created: fixedNow.Unix(),
		ChargeID: "ch_1", Amount: 2000, AmountRefunded: 2000, Refunded: true, Currency: "usd"}, fixedNow)
	revoked := 0
	for _, c := range cmds {
		if sa, ok := c.(billing.SetAccess); ok && sa.Status == payflow.AccessRevoked && sa.Source == "order/pi_1" {
			revoked++
		}
	}
	if revoked == 0 {
		t.Errorf("refund of the seeded order: commands %v, want the order's access revoked", names(cmds))
	}
}

func TestRecordSubscriptionAndInvoice(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	a := newActivities(db)
	items := []billing.Item{{ID: "si_1", PriceID: "price_pro", ProductID: "prod_pro", Quantity: 1},
		{ID: "si_2", PriceID: "price_seat", ProductID: "prod_seat", Quantity: 5}}
	sub := billing.RecordSubscription{SubscriptionID: "sub_1", CustomerID: "cus_A", Email: "a@example.com", Status: "past_due",
		DunningStage: "retrying", Items: items, CurrentPeriodEnd: 1_711_929_600, StripeCreated: 200}
	if err := a.RecordSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	older := sub
	older.Status, older.Items, older.StripeCreated = "active", items[:1], 100
	if err := a.RecordSubscription(ctx, older); err != nil {
		t.Fatal(err)
	}
	recovered := sub
	recovered.DunningStage = "none"
	if err := a.RecordSubscription(ctx, recovered); err != nil {
		t.Fatal(err)
	}
	s, err := db.GetSubscription(ctx, "sub_1")
	if err != nil || s.Status != "past_due" || s.DunningStage != "none" || len(s.Items) != 2 || s.Items[1].Quantity != 5 ||
		s.Items[1].ProductID != "prod_seat" {
		t.Errorf("subscription %+v, %v", s, err)
	}

	inv := billing.RecordInvoice{SubscriptionID: "sub_1", CustomerID: "cus_A", Invoice: billing.Invoice{ID: "in_1",
		Status: billing.InvoiceOpen, AmountDue: 2000, Currency: "usd", AttemptCount: 1, BillingReason: "subscription_cycle",
		CollectionMethod: "charge_automatically", HostedURL: "https://invoice.stripe.com/i/1", PeriodEnd: 1_711_929_600,
		ChargeID: "ch_1", StripeCreated: 200}}
	paid := inv
	paid.Status, paid.AmountPaid, paid.AttemptCount, paid.StripeCreated = billing.InvoicePaid, 2000, 2, 300
	disputed := paid
	disputed.Dispute = &billing.DisputeRef{ID: "dp_1", Status: "needs_response"}
	for _, r := range []billing.RecordInvoice{inv, paid, inv, disputed} {
		if err := a.RecordInvoice(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.GetInvoice(ctx, "in_1")
	if err != nil || got.Status != "paid" || got.AmountDue != 2000 || got.AmountPaid != 2000 || got.AttemptCount != 2 ||
		got.BillingReason != "subscription_cycle" || got.CollectionMethod != "charge_automatically" || got.ChargeID != "ch_1" ||
		got.SubscriptionID != "sub_1" || got.DisputeID != "dp_1" || got.DisputeStatus != "needs_response" || got.PeriodEnd != 1_711_929_600 {
		t.Errorf("invoice %+v, %v", got, err)
	}
	if err := a.RecordInvoice(ctx, billing.RecordInvoice{}); !isNonRetryable(err) {
		t.Errorf("invoice without ID: %v", err)
	}
	if err := a.RecordSubscription(ctx, billing.RecordSubscription{}); !isNonRetryable(err) {
		t.Errorf("subscription without ID: %v", err)
	}
}

func TestRecordRefundAndDispute(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	a := newActivities(db)
	if err := a.RecordOrder(ctx, recordOrder(billing.OrderFulfilled)); err != nil {
		t.Fatal(err)
	}
	for _, r := range []billing.RecordRefund{
		{Source: "order/pi_1", ChargeID: "ch_1", AmountRefunded: 500, Currency: "usd", EventID: "evt_1", StripeCreated: 100},
		{Source: "order/pi_1", ChargeID: "ch_1", AmountRefunded: 2000, Currency: "usd", Full: true, EventID: "evt_2", StripeCreated: 200},
		{Source: "order/pi_1", ChargeID: "ch_1", AmountRefunded: 500, Currency: "usd", EventID: "evt_1", StripeCreated: 100}, // redelivered
	} {
		if err := a.RecordRefund(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []billing.RecordRefund{{Source: "order/pi_1"}, {ChargeID: "ch_1"}} {
		if err := a.RecordRefund(ctx, r); !isNonRetryable(err) {
			t.Errorf("%+v: %v, want non-retryable", r, err)
		}
	}
	for _, d := range []billing.RecordDispute{
		{DisputeID: "dp_1", ChargeID: "ch_1", PaymentIntent: "pi_1", CustomerID: "cus_A", Amount: 2000, Currency: "usd",
			Reason: "fraudulent", Status: "needs_response", EvidenceDueBy: 1_711_929_600, StripeCreated: 300},
		{DisputeID: "dp_1", Owner: "order/pi_1", FundsWithdrawn: true, Status: "needs_response", StripeCreated: 300},
		{DisputeID: "dp_1", Owner: "order/pi_1", FundsWithdrawn: true, Status: "lost", StripeCreated: 400},
	} {
		if err := a.RecordDispute(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := db.CustomerSummary(ctx, "cus_A")
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Refunds) != 1 || sum.Refunds[0].AmountRefunded != 2000 || !sum.Refunds[0].Full || sum.Refunds[0].EventID != "evt_2" {
		t.Errorf("refunds %+v", sum.Refunds)
	}
	if len(sum.Disputes) != 1 || sum.Disputes[0].Status != "lost" || sum.Disputes[0].Owner != "order/pi_1" ||
		!sum.Disputes[0].FundsWithdrawn || sum.Disputes[0].Reason != "fraudulent" {
		t.Errorf("disputes %+v", sum.Disputes)
	}
	if err := a.RecordDispute(ctx, billing.RecordDispute{}); !isNonRetryable(err) {
		t.Errorf("dispute without ID: %v", err)
	}
}

func TestGetDunningPolicy(t *testing.T) {
	ctx := context.Background()
	a := newActivities(newStore(t))
	a.Policy = billing.Policy{}
	if p, err := a.GetDunningPolicy(ctx); err != nil || !equalPolicy(p, billing.DefaultPolicy()) {
		t.Errorf("unset policy: %+v, %v; want the core's default", p, err)
	}
	custom := billing.Policy{Mode: billing.ModeStripe, RetryDelays: []time.Duration{time.Second, 2 * time.Second},
		Grace: time.Hour, FinalAction: billing.FinalNone, HardDeclines: []string{"stolen_card"}}
	a.Policy = custom
	p, err := a.GetDunningPolicy(ctx)
	if err != nil || !equalPolicy(p, custom) {
		t.Errorf("custom policy: %+v, %v", p, err)
	}
	// The campaign's copy is its own: changing it does not reach the worker's.
	p.RetryDelays[0], p.HardDeclines[0] = time.Hour, "changed"
	if a.Policy.RetryDelays[0] != time.Second || a.Policy.HardDeclines[0] != "stolen_card" {
		t.Error("the returned policy shares its lists with the worker's")
	}
	// Without a hard-decline list the core's default applies.
	a.Policy.HardDeclines = nil
	if p, err := a.GetDunningPolicy(ctx); err != nil || !slices.Equal(p.HardDeclines, billing.DefaultHardDeclines()) {
		t.Errorf("hard declines %v, %v", p.HardDeclines, err)
	}
	a.Policy.Mode = "sometimes"
	if _, err := a.GetDunningPolicy(ctx); !isNonRetryable(err) {
		t.Errorf("invalid policy: %v, want non-retryable", err)
	}
}

func equalPolicy(a, b billing.Policy) bool {
	return a.Mode == b.Mode && slices.Equal(a.RetryDelays, b.RetryDelays) && a.Grace == b.Grace &&
		a.FinalAction == b.FinalAction && slices.Equal(a.HardDeclines, b.HardDeclines)
}

func names(cmds []billing.Command) string {
	var out []string
	for _, c := range cmds {
		out = append(out, c.Name())
	}
	return strings.Join(out, ",")
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
