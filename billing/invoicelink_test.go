package billing

import "testing"

// basilPI is payment_intent.succeeded as API 2025-03-31.basil and later
// send it: no invoice field, whether or not the payment paid an invoice.
func basilPI(id string) Event {
	ev := piSucceeded(id, "prod_1")
	ev.APIVersion, ev.InvoiceLinkUnknown = "2025-03-31.basil", true
	return ev
}

// A basil payment intent that paid a subscription's invoice is never
// fulfilled as an order: the run asks Stripe first, and the answer makes
// it an invoice payment (no order, no access, no receipt).
func TestBasilPaymentOfAnInvoiceIsNotAnOrder(t *testing.T) {
	o, cmds := ApplyOrder(NewOrder("pi_1"), basilPI("evt_1"), t0)
	noOrderEffects(t, cmds)
	l := of[LookupPaymentOwner](cmds)
	if len(l) != 1 || l[0] != (LookupPaymentOwner{PaymentIntent: "pi_1", ChargeID: "ch_1"}) {
		t.Fatalf("lookup %+v in %s", l, names(cmds))
	}
	// The same payment's charge.succeeded (another event) waits too and
	// asks nothing more.
	ch := basilPI("evt_2")
	ch.Type = "charge.succeeded"
	o, cmds = ApplyOrder(o, ch, t0)
	noOrderEffects(t, cmds)
	if len(of[LookupPaymentOwner](cmds)) != 0 || len(o.LinkPending) != 2 {
		t.Fatalf("second event: %s, held %d", names(cmds), len(o.LinkPending))
	}
	o, cmds = ApplyOrderOwner(o, subOwner, t0)
	noOrderEffects(t, cmds)
	if o.Status() != OrderInvoicePayment || o.Paid || o.Fulfilled || len(o.LinkPending) != 0 {
		t.Fatalf("after the answer: %s %+v", o.Status(), o)
	}
	// Redelivered: still nothing.
	_, cmds = ApplyOrder(o, basilPI("evt_1"), t0)
	noOrderEffects(t, cmds)
}

// A basil one-off payment is fulfilled once Stripe says it paid no
// invoice: one receipt, access granted.
func TestBasilOneOffPaymentFulfilledAfterTheCheck(t *testing.T) {
	o, cmds := ApplyOrder(NewOrder("pi_1"), basilPI("evt_1"), t0)
	noOrderEffects(t, cmds)
	o, cmds = ApplyOrderOwner(o, PaymentOwner{WorkflowID: "order/pi_1", CustomerID: cus}, t0)
	if !o.Fulfilled || o.Status() == OrderInvoicePayment {
		t.Fatalf("not fulfilled: %s %+v", o.Status(), o)
	}
	if n := len(of[SendEmail](cmds)); n != 1 {
		t.Errorf("%d emails, want the receipt: %s", n, names(cmds))
	}
	if n := len(of[SetAccess](cmds)); n != 1 {
		t.Errorf("%d access changes: %s", n, names(cmds))
	}
	// A later event of the same payment applies at once.
	_, cmds = ApplyOrder(o, refunded("evt_r", 5000), t0)
	if len(of[LookupPaymentOwner](cmds)) != 0 || len(of[RecordOrder](cmds)) != 1 {
		t.Errorf("refund after the check: %s", names(cmds))
	}
}

// The classic versions name the invoice: no question is asked.
func TestClassicPaymentIntentIsNotChecked(t *testing.T) {
	o, cmds := ApplyOrder(NewOrder("pi_1"), piSucceeded("evt_1", "prod_1"), t0)
	if len(of[LookupPaymentOwner](cmds)) != 0 || !o.Fulfilled {
		t.Fatalf("%s", names(cmds))
	}
}
