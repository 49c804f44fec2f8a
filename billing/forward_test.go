package billing

import (
	"reflect"
	"strings"
	"testing"
)

// invoiceRefund is charge.refunded of invoice in_1's charge as API version
// 2023-10-16 sends it: the invoice's ID, the payment intent, no subscription.
func invoiceRefund(id string, amount int64) Event {
	return Event{ID: id, Type: "charge.refunded", Created: unix(day), CustomerID: cus, PaymentIntent: "pi_inv",
		ChargeID: "ch_inv", InvoiceID: "in_1", Amount: 2000, AmountRefunded: amount, Refunded: amount >= 2000, Currency: "usd"}
}

var subOwner = PaymentOwner{WorkflowID: "subscription/" + subID, CustomerID: cus, InvoiceID: "in_1", SubscriptionID: subID}

// noOrderEffects fails when cmds record an order or a refund, change
// access or send an email: an invoice's payment is not an order.
func noOrderEffects(t *testing.T, cmds []Command) {
	t.Helper()
	if len(of[RecordOrder](cmds))+len(of[RecordRefund](cmds))+len(of[SetAccess](cmds))+len(of[SendEmail](cmds)) != 0 {
		t.Errorf("an invoice's payment treated as an order: %s", names(cmds))
	}
}

// The refund reaches the order run of its payment intent (the receiver
// cannot tell the subscription); the core asks who owns the invoice, hands
// the refund to that subscription once the answer comes, and the run is
// done. The subscription then records the refund on the invoice and
// confirms it once; duplicates change nothing on either side.
func TestInvoiceRefundForwardedToTheSubscription(t *testing.T) {
	ev := invoiceRefund("evt_r", 2000)
	start := NewOrder("pi_inv")
	o, cmds := ApplyOrder(start, ev, t0)
	noOrderEffects(t, cmds)
	l := of[LookupPaymentOwner](cmds)
	if len(l) != 1 || l[0] != (LookupPaymentOwner{ChargeID: "ch_inv", PaymentIntent: "pi_inv", InvoiceID: "in_1"}) {
		t.Fatalf("lookup %+v in %s", l, names(cmds))
	}
	if len(of[NotifyOwner](cmds)) != 0 || o.Done() || o.Status() != OrderInvoicePayment {
		t.Errorf("before the answer: done %v, status %s, %s", o.Done(), o.Status(), names(cmds))
	}
	if sa := lastSearch(t, cmds); sa.Status != OrderInvoicePayment || sa.CustomerID != cus {
		t.Errorf("search %+v", sa)
	}
	if !reflect.DeepEqual(start, NewOrder("pi_inv")) {
		t.Errorf("input modified: %+v", start)
	}
	held := o
	o, cmds = ApplyOrderOwner(o, subOwner, t0)
	noOrderEffects(t, cmds)
	n := of[NotifyOwner](cmds)
	if len(n) != 1 || n[0].WorkflowID != "subscription/sub_1" || n[0].Event.ID != "evt_r" || n[0].Event.InvoiceID != "in_1" ||
		n[0].Event.SubscriptionID != subID || n[0].Event.AmountRefunded != 2000 {
		t.Fatalf("notify %+v", n)
	}
	if len(held.Invoice.Pending) != 1 || held.Invoice.OwnerKnown {
		t.Errorf("input modified by the answer: %+v", held.Invoice)
	}
	if !o.Done() || len(o.Invoice.Pending) != 0 {
		t.Errorf("not done after forwarding: %+v", o.Invoice)
	}
	if d := o.Describe(); !strings.Contains(d, "refund of invoice in_1 forwarded to subscription/sub_1") || !strings.Contains(d, "not an order") {
		t.Errorf("describe %q", d)
	}
	if _, again := ApplyOrderOwner(o, subOwner, t0); len(again) != 0 {
		t.Errorf("a second answer: %s", names(again))
	}
	if _, dup := ApplyOrder(o, ev, t0); len(dup) != 0 {
		t.Errorf("duplicate at the order: %s", names(dup))
	}

	// The subscription applies what it was handed.
	r := newSubRun(t, DefaultPolicy()).apply(snap("evt_1", "created", StatusActive, 0, "prod_pro"),
		inv("evt_2", "paid", "in_1", 0, 2000, "subscription_create"))
	r.apply(n[0].Event)
	rf := of[RecordRefund](r.last)
	if len(rf) != 1 || rf[0].Source != "subscription/sub_1" || rf[0].InvoiceID != "in_1" || rf[0].AmountRefunded != 2000 || !rf[0].Full {
		t.Errorf("refund at the subscription %+v", rf)
	}
	if !hasPurpose(r.last, PurposeInvoiceRefund) || len(of[SetAccess](r.last)) != 0 {
		t.Errorf("subscription commands %s", names(r.last))
	}
	if i, _ := r.s.Invoice("in_1"); i.Status != InvoicePaid || !i.FullyRefunded {
		t.Errorf("invoice %+v", i)
	}
	r.apply(n[0].Event) // NotifyOwner retried
	if len(r.last) != 0 {
		t.Errorf("forwarded twice, applied twice: %s", names(r.last))
	}
}

// What the lookup answers decides where the held events go: only a
// subscription is followed.
func TestInvoicePaymentOwnerAnswers(t *testing.T) {
	cases := []struct {
		name     string
		owner    PaymentOwner
		notified string
		describe string
	}{
		{"subscription", subOwner, "subscription/sub_1", "refund of invoice in_1 forwarded to subscription/sub_1"},
		{"one-off invoice", PaymentOwner{CustomerID: cus, InvoiceID: "in_1"}, "", "belongs to no subscription payflow follows"},
		{"an order is never followed", PaymentOwner{WorkflowID: "order/pi_inv", CustomerID: cus}, "", "belongs to no subscription payflow follows"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, _ := ApplyOrder(NewOrder("pi_inv"), invoiceRefund("evt_r", 500), t0)
			o, cmds := ApplyOrderOwner(o, tc.owner, t0)
			noOrderEffects(t, cmds)
			var got string
			for _, n := range of[NotifyOwner](cmds) {
				got += n.WorkflowID
			}
			if got != tc.notified || !o.Done() || !strings.Contains(o.Describe(), tc.describe) {
				t.Errorf("notified %q, done %v, describe %q", got, o.Done(), o.Describe())
			}
			// A later refund in the same run goes the same way, without a lookup.
			_, cmds = ApplyOrder(o, invoiceRefund("evt_r2", 2000), t0)
			noOrderEffects(t, cmds)
			got = ""
			for _, n := range of[NotifyOwner](cmds) {
				got += n.WorkflowID
			}
			if got != tc.notified || len(of[LookupPaymentOwner](cmds)) != 0 {
				t.Errorf("second refund: %s", names(cmds))
			}
		})
	}
}

// Rows of the order core's rule: which events about a payment that names an
// invoice are forwarded, and which stay an order's.
func TestInvoicePaymentRouting(t *testing.T) {
	paid, _ := applyOrder(NewOrder("pi_1"), piSucceeded("evt_p", "prod_x"))
	known, _ := ApplyOrder(NewOrder("pi_inv"), invoiceRefund("evt_r", 500), t0)
	withSub := invoiceRefund("evt_rs", 2000)
	withSub.SubscriptionID = subID
	checkoutRefund := refunded("evt_cr", 5000)
	checkoutRefund.InvoiceID = "in_receipt"
	piLate := piSucceeded("evt_pl", "prod_x")
	piLate.PaymentIntent = "pi_inv"
	cases := []struct {
		name   string
		o      Order
		ev     Event
		lookup int
		notify string
		refund string // RecordRefund's source
	}{
		{"refund naming the invoice: look up its subscription", NewOrder("pi_inv"), invoiceRefund("evt_r", 2000), 1, "", ""},
		{"refund naming the subscription too: forwarded at once", NewOrder("pi_inv"), withSub, 0, "subscription/sub_1", ""},
		{"refund while the lookup runs: held, one lookup", known, invoiceRefund("evt_r2", 2000), 0, "", ""},
		{"a payment event after the refund never fulfils", known, piLate, 0, "", ""},
		{"a paid one-off order keeps its refund even if the charge names an invoice", paid, checkoutRefund, 0, "", "order/pi_1"},
		{"a refund without an invoice is an order's", NewOrder("pi_1"), refunded("evt_o", 5000), 0, "", "order/pi_1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, cmds := ApplyOrder(tc.o, tc.ev, t0)
			var notified, source string
			for _, n := range of[NotifyOwner](cmds) {
				notified += n.WorkflowID
			}
			for _, r := range of[RecordRefund](cmds) {
				source += r.Source
			}
			if len(of[LookupPaymentOwner](cmds)) != tc.lookup || notified != tc.notify || source != tc.refund {
				t.Errorf("lookups %d, notified %q, refund %q: %s", len(of[LookupPaymentOwner](cmds)), notified, source, names(cmds))
			}
			if tc.refund == "" {
				noOrderEffects(t, cmds)
				if o.Status() != OrderInvoicePayment || o.Paid || o.Fulfilled {
					t.Errorf("status %s, paid %v, fulfilled %v", o.Status(), o.Paid, o.Fulfilled)
				}
			}
		})
	}
	// Both refunds held during the lookup go out, in order, with the answer.
	o, _ := ApplyOrder(known, invoiceRefund("evt_r2", 2000), t0)
	_, cmds := ApplyOrderOwner(o, subOwner, t0)
	var ids []string
	for _, n := range of[NotifyOwner](cmds) {
		ids = append(ids, n.Event.ID)
	}
	if !reflect.DeepEqual(ids, []string{"evt_r", "evt_r2"}) {
		t.Errorf("forwarded %v", ids)
	}
	// An answer to an order that is not an invoice's payment changes nothing.
	if _, cmds := ApplyOrderOwner(paid, subOwner, t0); len(cmds) != 0 {
		t.Errorf("answer to an order: %s", names(cmds))
	}
}
