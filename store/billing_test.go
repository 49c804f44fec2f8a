package store

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payflow/payflow"
)

// Contract tests of the rows the billing core writes (run on both
// backends by TestContract).

func testOrders(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()

	o, fulfilled, err := db.UpsertOrder(ctx, payflow.Order{ID: "pi_1", CustomerID: "cus_1", Amount: 1999, Currency: "usd",
		CreatedAt: at(0), UpdatedAt: at(0)})
	if err != nil {
		t.Fatal(err)
	}
	if fulfilled || o.Status != payflow.OrderReceived || o.Amount != 1999 || !o.CreatedAt.Equal(at(0)) || o.FulfilledAt != nil ||
		o.Products != nil || o.ProductID != "" {
		t.Errorf("new order = %+v, fulfilled %v; want a received order of 1999 created at %v", o, fulfilled, at(0))
	}

	// Paid: products (sorted, distinct), charge and payment intent filled
	// in, fulfilled_at stamped once.
	paid := payflow.Order{ID: "pi_1", PaymentIntent: "pi_1", ChargeID: "ch_1", Email: "a@example.com",
		Products: []string{"prod_b", "prod_a", "prod_b"}, Status: payflow.OrderFulfilled, UpdatedAt: at(time.Minute)}
	o, fulfilled, err = db.UpsertOrder(ctx, paid)
	if err != nil {
		t.Fatal(err)
	}
	if !fulfilled || o.Status != payflow.OrderFulfilled || !slices.Equal(o.Products, []string{"prod_a", "prod_b"}) ||
		o.ProductID != "prod_a" || o.ChargeID != "ch_1" || o.Email != "a@example.com" || o.Amount != 1999 {
		t.Errorf("paid order = %+v, fulfilled %v", o, fulfilled)
	}
	checkTime(t, "fulfilled_at", o.FulfilledAt, ptr(at(time.Minute)))
	if !o.UpdatedAt.Equal(at(time.Minute)) {
		t.Errorf("updated_at = %v, want %v", o.UpdatedAt, at(time.Minute))
	}

	// A retried record changes nothing, not even updated_at.
	paid.UpdatedAt = at(time.Hour)
	again, fulfilled, err := db.UpsertOrder(ctx, paid)
	if err != nil || fulfilled || !again.UpdatedAt.Equal(o.UpdatedAt) {
		t.Errorf("retried record = %+v, fulfilled %v, %v; want the stored row untouched", again, fulfilled, err)
	}

	// Another customer or charge never replaces the stored ones; a
	// partial refund moves the status forward and keeps the fulfilment.
	o, _, err = db.UpsertOrder(ctx, payflow.Order{ID: "pi_1", CustomerID: "cus_other", ChargeID: "ch_other",
		AmountRefunded: 500, Status: payflow.OrderPartiallyRefunded, UpdatedAt: at(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if o.CustomerID != "cus_1" || o.ChargeID != "ch_1" || o.Status != payflow.OrderPartiallyRefunded || o.AmountRefunded != 500 ||
		!slices.Equal(o.Products, []string{"prod_a", "prod_b"}) {
		t.Errorf("after a partial refund: %+v", o)
	}
	checkTime(t, "fulfilled_at after refund", o.FulfilledAt, ptr(at(time.Minute)))

	// A stale view (a smaller refund, an earlier status) moves nothing back.
	o, _, err = db.UpsertOrder(ctx, payflow.Order{ID: "pi_1", AmountRefunded: 200, Status: payflow.OrderFulfilled})
	if err != nil || o.AmountRefunded != 500 || o.Status != payflow.OrderPartiallyRefunded {
		t.Errorf("after a stale record: %+v, %v", o, err)
	}

	for _, find := range []struct{ charge, pi, want string }{
		{"ch_1", "", "pi_1"}, {"", "pi_1", "pi_1"}, {"ch_1", "pi_other", "pi_1"},
	} {
		got, err := db.FindOrderByPayment(ctx, find.charge, find.pi)
		if err != nil || got.ID != find.want {
			t.Errorf("FindOrderByPayment(%q, %q) = %s, %v; want %s", find.charge, find.pi, got.ID, err, find.want)
		}
	}
	// A Checkout order without payment is keyed by its session; it is found
	// by the payment intent recorded on it.
	if _, _, err := db.UpsertOrder(ctx, payflow.Order{ID: "cs_1", PaymentIntent: "pi_9", CheckoutID: "cs_1"}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.FindOrderByPayment(ctx, "", "pi_9"); err != nil || got.ID != "cs_1" {
		t.Errorf("FindOrderByPayment(pi_9) = %s, %v; want cs_1", got.ID, err)
	}
	got, err := db.GetOrder(ctx, "pi_1")
	if err != nil || got.Status != o.Status || !got.UpdatedAt.Equal(o.UpdatedAt) {
		t.Errorf("GetOrder = %+v, %v; want %+v", got, err, o)
	}
	if _, _, err := db.UpsertOrder(ctx, payflow.Order{}); err == nil {
		t.Error("UpsertOrder with no ID succeeded")
	}
}

func testOrderStatusOnlyMovesForward(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	// Ranks, lowest first; statuses of one rank do not replace each other.
	ranks := [][]string{
		{payflow.OrderReceived}, {payflow.OrderAwaitingPayment}, {payflow.OrderFailed},
		{payflow.OrderCanceled, payflow.OrderExpired, payflow.OrderAsyncFailed},
		{payflow.OrderFulfilled}, {payflow.OrderPartiallyRefunded}, {payflow.OrderDisputed}, {payflow.OrderRefunded},
	}
	rank := func(s string) int {
		for i, r := range ranks {
			if slices.Contains(r, s) {
				return i
			}
		}
		return -1
	}
	all := slices.Concat(ranks...)
	n := 0
	for _, from := range all {
		for _, to := range all {
			if from == to {
				continue
			}
			n++
			id := fmt.Sprintf("pi_%s_%s", from, to)
			if _, _, err := db.UpsertOrder(ctx, payflow.Order{ID: id, Status: from}); err != nil {
				t.Fatal(err)
			}
			got, _, err := db.UpsertOrder(ctx, payflow.Order{ID: id, Status: to})
			if err != nil {
				t.Fatal(err)
			}
			want := from
			if rank(to) > rank(from) {
				want = to
			}
			if got.Status != want {
				t.Errorf("%s then %s: status %s, want %s", from, to, got.Status, want)
			}
			if paid := rank(got.Status) >= rank(payflow.OrderFulfilled); paid != (got.FulfilledAt != nil) {
				t.Errorf("%s then %s: status %s with fulfilled_at %s", from, to, got.Status, fmtPtr(got.FulfilledAt))
			}
		}
	}
	if n != 90 {
		t.Errorf("%d transitions", n)
	}
	// Rows written before schema version 3 say pending: any status replaces it.
	if _, _, err := db.UpsertOrder(ctx, payflow.Order{ID: "pi_legacy"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.sql.ExecContext(ctx, `UPDATE orders SET status = 'pending' WHERE id = $1`, "pi_legacy"); err != nil {
		t.Fatal(err)
	}
	if got, _, err := db.UpsertOrder(ctx, payflow.Order{ID: "pi_legacy", Status: payflow.OrderAwaitingPayment}); err != nil ||
		got.Status != payflow.OrderAwaitingPayment {
		t.Errorf("pending then awaiting_payment: %+v, %v", got, err)
	}
}

func testInvoices(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	steps := []struct {
		name      string
		in        payflow.Invoice
		wantWrote bool
		check     func(payflow.Invoice) bool
	}{
		{"failed", payflow.Invoice{ID: "in_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Status: "open", AmountDue: 2000,
			Currency: "usd", AttemptCount: 1, BillingReason: "subscription_cycle", CollectionMethod: "charge_automatically",
			HostedURL: "https://invoice.stripe.com/i/1", PeriodEnd: 1717243200, StripeCreated: 100}, true,
			func(i payflow.Invoice) bool { return i.Status == "open" && i.AmountDue == 2000 && i.AttemptCount == 1 }},
		{"redelivered", payflow.Invoice{ID: "in_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Status: "open", AmountDue: 2000,
			Currency: "usd", AttemptCount: 1, BillingReason: "subscription_cycle", CollectionMethod: "charge_automatically",
			HostedURL: "https://invoice.stripe.com/i/1", PeriodEnd: 1717243200, StripeCreated: 100}, false, nil},
		{"paid, IDs missing", payflow.Invoice{ID: "in_1", Status: "paid", AmountPaid: 2000, AttemptCount: 2, ChargeID: "ch_1",
			StripeCreated: 200}, true,
			func(i payflow.Invoice) bool {
				return i.Status == "paid" && i.AmountPaid == 2000 && i.AttemptCount == 2 && i.ChargeID == "ch_1" &&
					i.CustomerID == "cus_1" && i.SubscriptionID == "sub_1" && i.BillingReason == "subscription_cycle"
			}},
		{"late failure", payflow.Invoice{ID: "in_1", Status: "open", AmountDue: 9999, AttemptCount: 1, BillingReason: "manual",
			StripeCreated: 150}, false, nil},
		{"refund, same created", payflow.Invoice{ID: "in_1", Status: "paid", AmountRefunded: 500, StripeCreated: 200}, true,
			func(i payflow.Invoice) bool {
				return i.AmountRefunded == 500 && !i.FullyRefunded && i.AmountPaid == 2000
			}},
		{"full refund", payflow.Invoice{ID: "in_1", AmountRefunded: 2000, FullyRefunded: true, StripeCreated: 200}, true,
			func(i payflow.Invoice) bool { return i.AmountRefunded == 2000 && i.FullyRefunded && i.Status == "paid" }},
		{"older refund view", payflow.Invoice{ID: "in_1", AmountRefunded: 500, StripeCreated: 200}, false, nil},
		{"voided after paid", payflow.Invoice{ID: "in_1", Status: "void", StripeCreated: 300}, true,
			func(i payflow.Invoice) bool { return i.Status == "paid" && i.StripeCreated == 300 }},
		{"dispute", payflow.Invoice{ID: "in_1", DisputeID: "dp_1", DisputeStatus: "needs_response", StripeCreated: 300}, true,
			func(i payflow.Invoice) bool { return i.DisputeID == "dp_1" && i.DisputeStatus == "needs_response" }},
		{"dispute lost", payflow.Invoice{ID: "in_1", DisputeStatus: "lost", StripeCreated: 300}, true,
			func(i payflow.Invoice) bool { return i.DisputeStatus == "lost" }},
		{"closed dispute stays", payflow.Invoice{ID: "in_1", DisputeStatus: "under_review", StripeCreated: 300}, false, nil},
	}
	var last payflow.Invoice
	for _, s := range steps {
		wrote, err := db.UpsertInvoice(ctx, s.in)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, err := db.GetInvoice(ctx, "in_1")
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if wrote != s.wantWrote {
			t.Errorf("%s: wrote = %v, want %v", s.name, wrote, s.wantWrote)
		}
		if s.check != nil && !s.check(got) {
			t.Errorf("%s: stored %+v", s.name, got)
		}
		if !wrote && last.ID != "" && !got.UpdatedAt.Equal(last.UpdatedAt) {
			t.Errorf("%s: nothing written but updated_at moved", s.name)
		}
		last = got
	}
	for _, find := range []struct{ charge, pi string }{{"ch_1", ""}, {"ch_1", "pi_x"}} {
		if got, err := db.FindInvoiceByPayment(ctx, find.charge, find.pi); err != nil || got.ID != "in_1" {
			t.Errorf("FindInvoiceByPayment(%q, %q) = %s, %v; want in_1", find.charge, find.pi, got.ID, err)
		}
	}
	if _, err := db.UpsertInvoice(ctx, payflow.Invoice{ID: "in_2", PaymentIntent: "pi_2", StripeCreated: 1}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.FindInvoiceByPayment(ctx, "", "pi_2"); err != nil || got.ID != "in_2" {
		t.Errorf("FindInvoiceByPayment(pi_2) = %s, %v; want in_2", got.ID, err)
	}
}

func testSubscriptions(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	basic := []payflow.SubscriptionItem{{ID: "si_1", PriceID: "price_basic", ProductID: "prod_basic", Quantity: 1}}
	pro := []payflow.SubscriptionItem{{ID: "si_1", PriceID: "price_pro", ProductID: "prod_pro", Quantity: 1},
		{ID: "si_2", PriceID: "price_seat", ProductID: "prod_seat", Quantity: 3}}
	sub := func(created int64, status, stage string, items []payflow.SubscriptionItem, cancel bool) payflow.Subscription {
		return payflow.Subscription{ID: "sub_1", CustomerID: "cus_1", Status: status, DunningStage: stage, Items: items,
			CurrentPeriodEnd: 1717243200, CancelAtPeriodEnd: cancel, StripeCreated: created}
	}
	steps := []struct {
		name       string
		in         payflow.Subscription
		wantWrote  bool
		wantStatus string
		wantStage  string
		wantItems  []payflow.SubscriptionItem
		wantCancel bool
	}{
		{"before the first snapshot", payflow.Subscription{ID: "sub_1", CustomerID: "cus_1", DunningStage: "none"}, true, "", "none", nil, false},
		{"first snapshot", sub(100, "active", "none", basic, false), true, "active", "none", basic, false},
		{"upgrade", sub(200, "active", "none", pro, false), true, "active", "none", pro, false},
		{"older arrives late", sub(150, "active", "none", basic, false), false, "active", "none", pro, false},
		{"redelivery of the newest", sub(200, "active", "none", pro, false), false, "active", "none", pro, false},
		{"dunning starts, same snapshot", sub(200, "active", "retrying", pro, false), true, "active", "retrying", pro, false},
		{"newer snapshot", sub(300, "past_due", "retrying", pro, false), true, "past_due", "retrying", pro, false},
		{"recovered: stage back to none", sub(300, "past_due", "none", pro, false), true, "past_due", "none", pro, false},
		{"same second, different", sub(300, "past_due", "none", pro, true), true, "past_due", "none", pro, true},
		{"much older", sub(1, "incomplete", "final", basic, false), false, "past_due", "none", pro, true},
		{"newest", sub(400, "canceled", "none", pro, false), true, "canceled", "none", pro, false},
	}
	for _, s := range steps {
		wrote, err := db.UpsertSubscription(ctx, s.in)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, err := db.GetSubscription(ctx, "sub_1")
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if wrote != s.wantWrote || got.Status != s.wantStatus || got.DunningStage != s.wantStage ||
			!slices.Equal(got.Items, s.wantItems) || got.CancelAtPeriodEnd != s.wantCancel {
			t.Errorf("%s: wrote=%v stored %+v; want wrote=%v status=%s stage=%s items=%v cancel=%v",
				s.name, wrote, got, s.wantWrote, s.wantStatus, s.wantStage, s.wantItems, s.wantCancel)
		}
	}
}

func testRefunds(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	get := func(source, invoice, charge string) payflow.Refund {
		t.Helper()
		r, err := refundRows.get(ctx, db, source, invoice, charge)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	order := func(amount int64, full bool, event string, created int64) payflow.Refund {
		return payflow.Refund{Source: "order/pi_1", ChargeID: "ch_1", AmountRefunded: amount, Currency: "usd", Full: full,
			EventID: event, StripeCreated: created}
	}
	steps := []struct {
		name       string
		in         payflow.Refund
		wantWrote  bool
		wantAmount int64
		wantFull   bool
		wantEvent  string
	}{
		{"partial", order(500, false, "evt_1", 100), true, 500, false, "evt_1"},
		{"partial again (retry)", order(500, false, "evt_1", 100), false, 500, false, "evt_1"},
		{"full", order(2000, true, "evt_3", 300), true, 2000, true, "evt_3"},
		{"second partial arrives late", order(1200, false, "evt_2", 200), false, 2000, true, "evt_3"},
	}
	for _, s := range steps {
		wrote, err := db.RecordRefund(ctx, s.in)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := get("order/pi_1", "", "ch_1")
		if wrote != s.wantWrote || got.AmountRefunded != s.wantAmount || got.Full != s.wantFull || got.EventID != s.wantEvent {
			t.Errorf("%s: wrote=%v stored %+v; want wrote=%v amount=%d full=%v event=%s",
				s.name, wrote, got, s.wantWrote, s.wantAmount, s.wantFull, s.wantEvent)
		}
	}
	// An invoice's refund is a row of its own.
	if _, err := db.RecordRefund(ctx, payflow.Refund{Source: "subscription/sub_1", InvoiceID: "in_1", ChargeID: "ch_2",
		AmountRefunded: 700, Currency: "usd", StripeCreated: 50}); err != nil {
		t.Fatal(err)
	}
	if got := get("subscription/sub_1", "in_1", "ch_2"); got.AmountRefunded != 700 {
		t.Errorf("invoice refund %+v", got)
	}
	if n := count(t, db, "refunds", "1 = 1"); n != 2 {
		t.Errorf("%d refund rows, want 2", n)
	}
	if _, err := db.RecordRefund(ctx, payflow.Refund{Source: "order/pi_1"}); err == nil {
		t.Error("RecordRefund without invoice or charge succeeded")
	}
}

func testDisputes(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	steps := []struct {
		name      string
		in        payflow.Dispute
		wantWrote bool
		check     func(payflow.Dispute) bool
	}{
		{"created", payflow.Dispute{ID: "dp_1", ChargeID: "ch_1", Amount: 500, Currency: "usd", Reason: "fraudulent",
			Status: "needs_response", EvidenceDueBy: 1717243200, StripeCreated: 10}, true,
			func(d payflow.Dispute) bool { return d.Status == "needs_response" && d.Owner == "" }},
		{"owner found", payflow.Dispute{ID: "dp_1", Owner: "order/pi_1", InvoiceID: "", CustomerID: "cus_1", Status: "needs_response",
			StripeCreated: 10}, true,
			func(d payflow.Dispute) bool {
				return d.Owner == "order/pi_1" && d.CustomerID == "cus_1" && d.Amount == 500
			}},
		{"funds withdrawn", payflow.Dispute{ID: "dp_1", FundsWithdrawn: true, StripeCreated: 11}, true,
			func(d payflow.Dispute) bool {
				return d.FundsWithdrawn && d.Status == "needs_response" && d.Reason == "fraudulent"
			}},
		{"won", payflow.Dispute{ID: "dp_1", Status: "won", StripeCreated: 30}, true,
			func(d payflow.Dispute) bool { return d.Status == "won" && d.FundsWithdrawn }},
		{"under review arrives late", payflow.Dispute{ID: "dp_1", Status: "under_review", StripeCreated: 20}, false, nil},
		{"reinstated, older event", payflow.Dispute{ID: "dp_1", FundsReinstated: true, StripeCreated: 25}, true,
			func(d payflow.Dispute) bool { return d.FundsReinstated && d.FundsWithdrawn && d.Status == "won" }},
		{"a newer non-closed status never reopens", payflow.Dispute{ID: "dp_1", Status: "under_review", StripeCreated: 40}, true,
			func(d payflow.Dispute) bool { return d.Status == "won" && d.StripeCreated == 40 }},
	}
	for _, s := range steps {
		wrote, err := db.UpsertDispute(ctx, s.in)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, err := db.GetDispute(ctx, "dp_1")
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if wrote != s.wantWrote || (s.check != nil && !s.check(got)) {
			t.Errorf("%s: wrote=%v (want %v) stored %+v", s.name, wrote, s.wantWrote, got)
		}
	}
}

func testAccessSources(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	row := func(source, status string, validUntil *time.Time, reason string) payflow.AccessSource {
		return payflow.AccessSource{CustomerID: "cus_1", ProductID: "prod_1", Source: source, Status: status,
			ValidUntil: validUntil, Reason: reason}
	}
	stamped := func(a payflow.AccessSource, granted, suspended, revoked *time.Time) payflow.AccessSource {
		a.GrantedAt, a.SuspendedAt, a.RevokedAt = granted, suspended, revoked
		return a
	}
	t1, t2, t3, t4 := at(time.Hour), at(2*time.Hour), at(3*time.Hour), at(4*time.Hour)
	end := at(30 * 24 * time.Hour)
	later := at(60 * 24 * time.Hour)
	const order, sub = "order/pi_1", "subscription/sub_1"

	steps := []struct {
		name        string
		in          payflow.AccessSource
		wantChanged bool
		wantVersion int64
		wantSources string // source=status of every row of the product
		wantValid   *time.Time
		wantStamps  [3]*time.Time // of the written row
	}{
		{"order grants", stamped(row(order, payflow.AccessGranted, nil, "order fulfilled"), &t1, nil, nil),
			true, 1, "order/pi_1=granted", nil, [3]*time.Time{&t1, nil, nil}},
		{"order grants again (retry)", stamped(row(order, payflow.AccessGranted, nil, "order fulfilled"), &t2, nil, nil),
			false, 1, "order/pi_1=granted", nil, [3]*time.Time{&t1, nil, nil}},
		{"subscription grants the same product", stamped(row(sub, payflow.AccessGranted, &end, "subscription active"), &t2, nil, nil),
			true, 2, "order/pi_1=granted,subscription/sub_1=granted", &end, [3]*time.Time{&t2, nil, nil}},
		{"renewal extends", stamped(row(sub, payflow.AccessGranted, &later, "subscription active"), &t3, nil, nil),
			true, 3, "order/pi_1=granted,subscription/sub_1=granted", &later, [3]*time.Time{&t2, nil, nil}},
		{"order refunded: its own row only", stamped(row(order, payflow.AccessRevoked, nil, "order refunded"), nil, nil, &t3),
			true, 4, "order/pi_1=revoked,subscription/sub_1=granted", nil, [3]*time.Time{&t1, nil, &t3}},
		{"dunning suspends the subscription", stamped(row(sub, payflow.AccessSuspended, nil, "grace over"), nil, &t4, nil),
			true, 5, "order/pi_1=revoked,subscription/sub_1=suspended", nil, [3]*time.Time{&t2, &t4, nil}},
		{"only the reason changes", stamped(row(sub, payflow.AccessSuspended, nil, "final action none"), nil, &t1, nil),
			true, 6, "order/pi_1=revoked,subscription/sub_1=suspended", nil, [3]*time.Time{&t2, &t4, nil}},
	}
	for _, s := range steps {
		up, err := db.SetAccessSource(ctx, s.in)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		var got []string
		var written payflow.AccessSource
		for _, r := range up.Sources {
			got = append(got, r.Source+"="+r.Status)
			if r.Source == s.in.Source {
				written = r
			}
		}
		if up.Changed != s.wantChanged || up.Version != s.wantVersion || fmt.Sprint(got) != fmt.Sprint(strings.Split(s.wantSources, ",")) {
			t.Errorf("%s: changed=%v version=%d sources=%v; want changed=%v version=%d sources=%s",
				s.name, up.Changed, up.Version, got, s.wantChanged, s.wantVersion, s.wantSources)
		}
		if written.Reason != s.in.Reason {
			t.Errorf("%s: reason = %q, want %q", s.name, written.Reason, s.in.Reason)
		}
		checkTime(t, s.name+": valid_until", written.ValidUntil, s.in.ValidUntil)
		checkTime(t, s.name+": granted_at", written.GrantedAt, s.wantStamps[0])
		checkTime(t, s.name+": suspended_at", written.SuspendedAt, s.wantStamps[1])
		checkTime(t, s.name+": revoked_at", written.RevokedAt, s.wantStamps[2])
	}

	// AccessFor: one product, or all of them; other customers stay out.
	for _, a := range []payflow.AccessSource{
		{CustomerID: "cus_1", ProductID: "prod_0", Source: order, Status: payflow.AccessGranted},
		{CustomerID: "cus_2", ProductID: "prod_1", Source: "order/pi_2", Status: payflow.AccessGranted},
	} {
		if _, err := db.SetAccessSource(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	list := func(rows []payflow.AccessSource) string {
		var out []string
		for _, r := range rows {
			out = append(out, r.ProductID+"/"+r.Source)
		}
		return fmt.Sprint(out)
	}
	if rows, err := db.AccessFor(ctx, "cus_1", "prod_1"); err != nil || list(rows) != "[prod_1/order/pi_1 prod_1/subscription/sub_1]" {
		t.Errorf("AccessFor(cus_1, prod_1) = %s, %v", list(rows), err)
	}
	if rows, err := db.AccessFor(ctx, "cus_1", ""); err != nil || list(rows) != "[prod_0/order/pi_1 prod_1/order/pi_1 prod_1/subscription/sub_1]" {
		t.Errorf("AccessFor(cus_1) = %s, %v", list(rows), err)
	}
	if rows, err := db.AccessFor(ctx, "cus_none", ""); err != nil || len(rows) != 0 {
		t.Errorf("AccessFor(cus_none) = %v, %v; want none", rows, err)
	}

	// A nil stamp means now.
	before := time.Now().Add(-time.Second)
	up, err := db.SetAccessSource(ctx, row("order/pi_3", payflow.AccessGranted, nil, ""))
	if err != nil {
		t.Fatal(err)
	}
	if g := up.Sources[0].GrantedAt; up.Sources[0].Source != "order/pi_1" || g == nil {
		t.Fatalf("sources %+v", up.Sources)
	}
	for _, r := range up.Sources {
		if r.Source == "order/pi_3" && (r.GrantedAt == nil || r.GrantedAt.Before(before) || r.GrantedAt.After(time.Now())) {
			t.Errorf("granted_at = %s, want about now", fmtPtr(r.GrantedAt))
		}
	}
	for _, bad := range []payflow.AccessSource{
		row(order, "paused", nil, ""),
		row("", payflow.AccessGranted, nil, ""),
		{CustomerID: "cus_1", Source: order, Status: payflow.AccessGranted},
	} {
		if _, err := db.SetAccessSource(ctx, bad); err == nil {
			t.Errorf("SetAccessSource(%+v) succeeded", bad)
		}
	}
}

// testAccessWritersTakeTurns races sources of one product: each write
// reads back every change committed before it, so the writer that got
// version k sees exactly k rows, and the versions are 1..n.
func testAccessWritersTakeTurns(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	const n = 20
	var (
		mu       sync.Mutex
		versions []int64
		wg       sync.WaitGroup
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			up, err := db.SetAccessSource(ctx, payflow.AccessSource{CustomerID: "cus_1", ProductID: "prod_1",
				Source: fmt.Sprintf("order/pi_%02d", i), Status: payflow.AccessGranted})
			if err != nil {
				t.Error(err)
				return
			}
			if int64(len(up.Sources)) != up.Version {
				t.Errorf("writer %d got version %d with %d rows; want as many rows as changes", i, up.Version, len(up.Sources))
			}
			mu.Lock()
			versions = append(versions, up.Version)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(versions)
	for i, v := range versions {
		if v != int64(i+1) {
			t.Fatalf("versions %v; want 1..%d", versions, n)
		}
	}
}

// testMigrationKeepsData fills a schema-2 database the way payflow before
// the billing core did, migrates it, and reads everything back.
func testMigrationKeepsData(t *testing.T, b backend) {
	ctx := t.Context()
	u := b.newURL(t)
	old, err := connect(ctx, u, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.migrateUpTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := old.sql.ExecContext(ctx, query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	ts := old.ts(at(0))
	exec(`INSERT INTO orders (id, customer_id, email, checkout_id, charge_id, product_id, amount, currency, status,
		failure_reason, created_at, fulfilled_at, updated_at)
		VALUES ('pi_1', 'cus_1', 'a@example.com', '', 'ch_1', 'prod_1', 1999, 'usd', 'fulfilled', '', $1, $1, $1),
		       ('cs_2', 'cus_1', '', 'cs_2', '', '', 0, 'usd', 'pending', '', $1, NULL, $1)`, ts)
	exec(`INSERT INTO invoices (id, customer_id, subscription_id, amount, currency, status, stripe_created, updated_at)
		VALUES ('in_1', 'cus_1', 'sub_1', 2000, 'usd', 'paid', 100, $1), ('in_2', 'cus_1', 'sub_1', 2000, 'usd', 'open', 200, $1)`, ts)
	exec(`INSERT INTO subscriptions (id, customer_id, status, dunning_stage, current_period_end, cancel_at_period_end,
		stripe_created, updated_at) VALUES ('sub_1', 'cus_1', 'past_due', 'retrying', 1717243200, $2, 200, $1)`, ts, false)
	exec(`INSERT INTO entitlements (customer_id, product_id, status, source, valid_until, granted_at, suspended_at,
		revoked_at, updated_at) VALUES ('cus_1', 'prod_1', 'granted', 'order/pi_1', NULL, $1, NULL, NULL, $1),
		('cus_1', 'prod_2', 'suspended', '', $1, $1, $1, NULL, $1)`, ts)
	exec(`INSERT INTO disputes (id, charge_id, payment_intent, customer_id, amount, currency, reason, status,
		evidence_due_by, stripe_created, updated_at) VALUES ('dp_1', 'ch_1', 'pi_1', 'cus_1', 1999, 'usd', 'fraudulent',
		'needs_response', 1717243200, 10, $1)`, ts)
	old.Close()

	if n, err := Migrate(ctx, u); err != nil || n != LatestSchemaVersion()-2 {
		t.Fatalf("Migrate from version 2 = %d, %v", n, err)
	}
	db, err := Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	o, err := db.GetOrder(ctx, "pi_1")
	if err != nil || !slices.Equal(o.Products, []string{"prod_1"}) || o.ProductID != "prod_1" || o.PaymentIntent != "pi_1" ||
		o.Status != payflow.OrderFulfilled || o.FulfilledAt == nil || o.Amount != 1999 {
		t.Errorf("order pi_1 after migration: %+v, %v", o, err)
	}
	if o, err := db.GetOrder(ctx, "cs_2"); err != nil || o.Products != nil || o.PaymentIntent != "" || o.Status != payflow.OrderPending {
		t.Errorf("order cs_2 after migration: %+v, %v", o, err)
	}
	if inv, err := db.GetInvoice(ctx, "in_1"); err != nil || inv.AmountDue != 2000 || inv.AmountPaid != 2000 || inv.Status != "paid" {
		t.Errorf("invoice in_1 after migration: %+v, %v", inv, err)
	}
	if inv, err := db.GetInvoice(ctx, "in_2"); err != nil || inv.AmountDue != 2000 || inv.AmountPaid != 0 {
		t.Errorf("invoice in_2 after migration: %+v, %v", inv, err)
	}
	if s, err := db.GetSubscription(ctx, "sub_1"); err != nil || s.DunningStage != "retrying" || s.Items != nil || s.Status != "past_due" {
		t.Errorf("subscription after migration: %+v, %v", s, err)
	}
	rows, err := db.AccessFor(ctx, "cus_1", "")
	if err != nil || len(rows) != 2 {
		t.Fatalf("access after migration: %+v, %v", rows, err)
	}
	if r := rows[0]; r.ProductID != "prod_1" || r.Source != "order/pi_1" || r.Status != payflow.AccessGranted || r.GrantedAt == nil {
		t.Errorf("access row %+v", r)
	}
	if r := rows[1]; r.ProductID != "prod_2" || r.Source != "legacy" || r.Status != payflow.AccessSuspended || r.ValidUntil == nil {
		t.Errorf("access row %+v", r)
	}
	// The next change of a migrated product follows its version.
	up, err := db.SetAccessSource(ctx, payflow.AccessSource{CustomerID: "cus_1", ProductID: "prod_1", Source: "subscription/sub_1",
		Status: payflow.AccessGranted})
	if err != nil || up.Version != 2 || len(up.Sources) != 2 {
		t.Errorf("first change after migration: %+v, %v", up, err)
	}
	if d, err := db.GetDispute(ctx, "dp_1"); err != nil || d.Status != "needs_response" || d.FundsWithdrawn || d.Owner != "" {
		t.Errorf("dispute after migration: %+v, %v", d, err)
	}
	if n := count(t, db, "schema_migrations", "1 = 1"); n != LatestSchemaVersion() {
		t.Errorf("%d migrations recorded", n)
	}
}
