package billing

import (
	"slices"
	"testing"
)

func piSucceeded(id string, products ...string) Event {
	ev := Event{ID: id, Type: "payment_intent.succeeded", Created: unix(0), CustomerID: cus, PaymentIntent: "pi_1",
		ChargeID: "ch_1", Amount: 5000, Currency: "usd", Email: "ann@example.com"}
	if len(products) > 0 {
		ev.Products, ev.ProductFrom = products, ProductFromPaymentMetadata
	}
	return ev
}

func checkoutCompleted(id string, products ...string) Event {
	ev := Event{ID: id, Type: "checkout.session.completed", Created: unix(0), CustomerID: cus, PaymentIntent: "pi_1",
		CheckoutID: "cs_1", Amount: 5000, Currency: "usd", PaymentStatus: "paid", Mode: "payment"}
	if len(products) > 0 {
		ev.Products, ev.ProductFrom = products, ProductFromLineItems
	}
	return ev
}

func refunded(id string, amount int64) Event {
	return Event{ID: id, Type: "charge.refunded", Created: unix(day), CustomerID: cus, PaymentIntent: "pi_1", ChargeID: "ch_1",
		Amount: 5000, AmountRefunded: amount, Refunded: amount >= 5000, Currency: "usd"}
}

func disputeEv(id, typ, status string) Event {
	return Event{ID: id, Type: "charge.dispute." + typ, Created: unix(2 * day), CustomerID: cus, PaymentIntent: "pi_1",
		ChargeID: "ch_1", DisputeID: "dp_1", Amount: 5000, Currency: "usd", Status: status}
}

func applyOrder(o Order, evs ...Event) (Order, []Command) {
	var all []Command
	for _, ev := range evs {
		var cmds []Command
		o, cmds = ApplyOrder(o, ev, t0)
		all = append(all, cmds...)
	}
	return o, all
}

// withSubscriptionFor returns the access rows of a live subscription
// granting product.
func withSubscriptionFor(t *testing.T, product string) []AccessRow {
	return rows(newSubRun(t, DefaultPolicy()).apply(snap("evt_s", "created", StatusActive, 0, product)).all)
}

func TestOrderFulfilledOnceForBothEvents(t *testing.T) {
	o, cmds := applyOrder(NewOrder("pi_1"), piSucceeded("evt_1", "prod_x"), checkoutCompleted("evt_2"))
	if o.Status() != OrderFulfilled || !o.Done() {
		t.Fatalf("status %s", o.Status())
	}
	if got := emailKeys(cmds); !slices.Equal(got, []string{"receipt order/pi_1/receipt"}) {
		t.Errorf("emails %v", got)
	}
	if a := of[SetAccess](cmds); len(a) != 1 || a[0].ProductID != "prod_x" || a[0].Source != "order/pi_1" {
		t.Errorf("access %+v", a)
	}
}

func TestFullRefundOfOrderKeepsSubscriptionAccess(t *testing.T) {
	o, cmds := applyOrder(NewOrder("pi_1"), piSucceeded("evt_1", "prod_x"), refunded("evt_2", 5000))
	if o.Status() != OrderRefunded || !hasPurpose(cmds, PurposeRefund) {
		t.Fatalf("status %s, emails %v", o.Status(), emailKeys(cmds))
	}
	orderOnly := rows(cmds)
	if got := effective(orderOnly, "prod_x"); got != AccessRevoked {
		t.Errorf("order alone: %s", got)
	}
	both := append(withSubscriptionFor(t, "prod_x"), orderOnly...)
	if got := effective(both, "prod_x"); got != AccessGranted {
		t.Errorf("refund of the order revoked what the subscription pays for: %s", got)
	}
}

func TestOrderDisputeKeepsSubscriptionAccess(t *testing.T) {
	for _, tc := range []struct {
		name, closed, orderAccess, status string
	}{
		{"open", "", AccessSuspended, OrderFulfilled},
		{"won", "won", AccessGranted, OrderFulfilled},
		{"lost", "lost", AccessRevoked, OrderDisputed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := []Event{piSucceeded("evt_1", "prod_x"), disputeEv("evt_d1", "created", "needs_response"),
				disputeEv("evt_d2", "funds_withdrawn", "needs_response")}
			if tc.closed != "" {
				evs = append(evs, disputeEv("evt_d3", "closed", tc.closed))
			}
			o, cmds := applyOrder(NewOrder("pi_1"), evs...)
			if got := effective(rows(cmds), "prod_x"); got != tc.orderAccess {
				t.Errorf("order's own access %s", got)
			}
			if o.Status() != tc.status || o.Dispute == nil || !o.Dispute.FundsWithdrawn {
				t.Errorf("status %s dispute %+v", o.Status(), o.Dispute)
			}
			both := append(withSubscriptionFor(t, "prod_x"), rows(cmds)...)
			if got := effective(both, "prod_x"); got != AccessGranted {
				t.Errorf("the dispute changed what the subscription pays for: %s", got)
			}
		})
	}
}

func TestPartialRefundBeforePayment(t *testing.T) {
	o, cmds := applyOrder(NewOrder("pi_1"), refunded("evt_r", 1000))
	if o.Status() != OrderReceived || o.Fulfilled || o.AmountRefunded != 1000 {
		t.Fatalf("status %s fulfilled %v refunded %d", o.Status(), o.Fulfilled, o.AmountRefunded)
	}
	recs := of[RecordOrder](cmds)
	if len(recs) != 1 || recs[0].Status != OrderReceived || len(recs[0].Products) != 0 || recs[0].AmountRefunded != 1000 {
		t.Errorf("record %+v (no default product, not fulfilled)", recs)
	}
	if len(of[SetAccess](cmds)) != 0 || len(of[SendEmail](cmds)) != 0 {
		t.Errorf("effects before payment: %s", names(cmds))
	}
	o, cmds = applyOrder(o, piSucceeded("evt_1", "prod_x"))
	if o.Status() != OrderPartiallyRefunded || effective(rows(cmds), "prod_x") != AccessGranted || !hasPurpose(cmds, PurposeReceipt) {
		t.Errorf("after payment: %s, %s", o.Status(), names(cmds))
	}
}

func TestFullRefundBeforePaymentNeverGrants(t *testing.T) {
	o, cmds := applyOrder(NewOrder("pi_1"), refunded("evt_r", 5000), piSucceeded("evt_1", "prod_x"))
	if o.Status() != OrderRefunded || len(of[SetAccess](cmds)) != 0 || hasPurpose(cmds, PurposeReceipt) {
		t.Errorf("status %s, %s", o.Status(), names(cmds))
	}
	if !hasPurpose(cmds, PurposeRefund) {
		t.Errorf("no refund confirmation: %v", emailKeys(cmds))
	}
}

func TestPartialRefundsAreStored(t *testing.T) {
	o, cmds := applyOrder(NewOrder("pi_1"), piSucceeded("evt_1", "prod_x"), refunded("evt_r1", 1000), refunded("evt_r2", 2500))
	rf := of[RecordRefund](cmds)
	if len(rf) != 2 || rf[0].AmountRefunded != 1000 || rf[1].AmountRefunded != 2500 || rf[1].Full || rf[1].Source != "order/pi_1" {
		t.Errorf("refunds %+v", rf)
	}
	if o.Status() != OrderPartiallyRefunded || effective(rows(cmds), "prod_x") != AccessGranted || hasPurpose(cmds, PurposeRefund) {
		t.Errorf("status %s", o.Status())
	}
	// A late, smaller observation of the same charge is not a new refund.
	_, late := applyOrder(o, refunded("evt_r0", 1000))
	if len(of[RecordRefund](late)) != 0 {
		t.Errorf("stale refund recorded: %s", names(late))
	}
}

func TestCheckoutProductDoesNotDependOnEventOrder(t *testing.T) {
	pi, cs := piSucceeded("evt_pi"), checkoutCompleted("evt_cs", "prod_course")
	for _, order := range [][]Event{{pi, cs}, {cs, pi}} {
		o, cmds := applyOrder(NewOrder("pi_1"), order...)
		if !slices.Equal(o.ProductsBought(), []string{"prod_course"}) {
			t.Errorf("%s first: products %v", order[0].Type, o.ProductsBought())
		}
		if effective(rows(cmds), "prod_course") != AccessGranted || effective(rows(cmds), DefaultProduct) != AccessRevoked {
			t.Errorf("%s first: access %v", order[0].Type, EffectiveAccess(rows(cmds)))
		}
		if len(of[SendEmail](cmds)) != 1 {
			t.Errorf("%s first: emails %v", order[0].Type, emailKeys(cmds))
		}
	}
	// Line items beat metadata whatever the order.
	meta := piSucceeded("evt_pi2", "prod_meta")
	a, _ := applyOrder(NewOrder("pi_1"), meta, cs)
	b, _ := applyOrder(NewOrder("pi_1"), cs, meta)
	if !slices.Equal(a.Products, []string{"prod_course"}) || !slices.Equal(b.Products, a.Products) {
		t.Errorf("products %v / %v", a.Products, b.Products)
	}
}

func TestGuestOrderHasNoAccess(t *testing.T) {
	ev := piSucceeded("evt_1", "prod_x")
	ev.CustomerID = ""
	o, cmds := applyOrder(NewOrder("pi_1"), ev)
	if o.Status() != OrderFulfilled || len(of[SetAccess](cmds)) != 0 || !hasPurpose(cmds, PurposeReceipt) {
		t.Errorf("guest: %s, %s", o.Status(), names(cmds))
	}
}

func TestUnpaidOrderEndings(t *testing.T) {
	for _, tc := range []struct {
		ev     Event
		status string
		done   bool
		email  string
	}{
		{Event{ID: "e", Type: "checkout.session.async_payment_failed", PaymentIntent: "pi_1"}, OrderAsyncFailed, true, PurposeOrderPaymentFailed},
		{Event{ID: "e", Type: "checkout.session.expired"}, OrderExpired, true, ""},
		{Event{ID: "e", Type: "payment_intent.canceled"}, OrderCanceled, true, ""},
		{Event{ID: "e", Type: "payment_intent.payment_failed", DeclineCode: "insufficient_funds"}, OrderPaymentFailed, false, ""},
		{Event{ID: "e", Type: "checkout.session.completed", PaymentStatus: "unpaid"}, OrderAwaitingPayment, false, ""},
	} {
		o, cmds := applyOrder(NewOrder("pi_1"), tc.ev)
		if o.Status() != tc.status || o.Done() != tc.done || (tc.email != "") != hasPurpose(cmds, tc.email) {
			t.Errorf("%s: status %s done %v emails %v", tc.ev.Type, o.Status(), o.Done(), emailKeys(cmds))
		}
		if len(of[SetAccess](cmds)) != 0 {
			t.Errorf("%s: access %v", tc.ev.Type, of[SetAccess](cmds))
		}
	}
	// A payment after a failed attempt on the same intent fulfils.
	o, _ := applyOrder(NewOrder("pi_1"), Event{ID: "e1", Type: "payment_intent.payment_failed"}, piSucceeded("e2", "prod_x"))
	if o.Status() != OrderFulfilled {
		t.Errorf("retry on the same intent: %s", o.Status())
	}
}

func TestOrderFromRecordRefundWeeksLater(t *testing.T) {
	o := OrderFromRecord(payflowOrder())
	o, cmds := applyOrder(o, refunded("evt_r", 5000))
	a := of[SetAccess](cmds)
	if o.Status() != OrderRefunded || len(a) != 1 || a[0].Status != AccessRevoked || a[0].ProductID != "prod_x" {
		t.Errorf("status %s access %+v", o.Status(), a)
	}
	if len(of[SendEmail](cmds)) != 1 {
		t.Errorf("emails %v", emailKeys(cmds))
	}
}
