package billing

import (
	"testing"
	"time"

	"github.com/payflow/payflow"
)

func payflowOrder() payflow.Order {
	return payflow.Order{ID: "pi_1", CustomerID: cus, ProductID: "prod_x", Amount: 5000, Currency: "usd", Status: payflow.OrderFulfilled}
}

func TestSubscriptionInvoiceRefundIsRecordedWithoutAccessChange(t *testing.T) {
	r := newSubRun(t, DefaultPolicy()).apply(snap("evt_1", "created", StatusActive, 0, "prod_pro"),
		inv("evt_2", "paid", "in_1", 0, 2000, "subscription_create"))
	partial := Event{ID: "evt_r1", Type: "charge.refunded", Created: unix(day), CustomerID: cus, ChargeID: "ch_9",
		InvoiceID: "in_1", Amount: 2000, AmountRefunded: 500, Currency: "usd"}
	full := partial
	full.ID, full.AmountRefunded, full.Refunded = "evt_r2", 2000, true
	r.apply(partial)
	if rf := of[RecordRefund](r.last); len(rf) != 1 || rf[0].InvoiceID != "in_1" || rf[0].AmountRefunded != 500 || rf[0].Full {
		t.Errorf("partial refund %+v", rf)
	}
	r.apply(full)
	i, _ := r.s.Invoice("in_1")
	if i.Status != InvoicePaid || i.AmountRefunded != 2000 || !i.FullyRefunded {
		t.Errorf("invoice %+v", i)
	}
	if len(of[SetAccess](r.last)) != 0 || effective(rows(r.all), "prod_pro") != AccessGranted || r.s.Status != StatusActive {
		t.Errorf("a refund changed access or status: %s", names(r.last))
	}
	if !hasPurpose(r.last, PurposeInvoiceRefund) {
		t.Errorf("no refund confirmation: %v", emailKeys(r.last))
	}
	// The merchant cancels in Stripe: that revokes.
	r.apply(snap("evt_d", "deleted", StatusCanceled, 2*day, "prod_pro"))
	if effective(rows(r.all), "prod_pro") != AccessRevoked {
		t.Error("cancellation after the refund did not revoke")
	}
}

func TestSubscriptionInvoiceDisputeIsRecorded(t *testing.T) {
	r := newSubRun(t, DefaultPolicy()).apply(snap("evt_1", "created", StatusActive, 0, "prod_pro"),
		inv("evt_2", "paid", "in_1", 0, 2000, "subscription_create"))
	d := Event{Type: "charge.dispute.created", Created: unix(day), ChargeID: "ch_9", InvoiceID: "in_1",
		SubscriptionID: subID, DisputeID: "dp_1", Status: "needs_response", Amount: 2000}
	for i, typ := range []string{"created", "funds_withdrawn", "closed", "funds_reinstated"} {
		ev := d
		ev.ID, ev.Type = "evt_d"+typ, "charge.dispute."+typ
		ev.Created = unix(day + time.Duration(i)*time.Hour)
		if typ == "closed" || typ == "funds_reinstated" {
			ev.Status = "won"
		}
		r.apply(ev)
		if recs := of[RecordInvoice](r.last); len(recs) != 1 || recs[0].Dispute == nil {
			t.Errorf("%s not recorded: %s", typ, names(r.last))
		}
	}
	i, _ := r.s.Invoice("in_1")
	if i.Dispute == nil || i.Dispute.Status != "won" || !i.Dispute.FundsWithdrawn || !i.Dispute.FundsReinstated {
		t.Errorf("invoice dispute %+v", i.Dispute)
	}
	if len(of[SetAccess](r.all)) != 1 || effective(rows(r.all), "prod_pro") != AccessGranted {
		t.Errorf("dispute of a subscription charge changed access")
	}
}

func TestDisputeLifecycle(t *testing.T) {
	p := DefaultDisputePolicy()
	ev := Event{ID: "evt_1", Type: "charge.dispute.created", Created: unix(0), DisputeID: "dp_1", ChargeID: "ch_1",
		PaymentIntent: "pi_1", Amount: 5000, Currency: "usd", Status: "needs_response", DisputeReason: "fraudulent",
		EvidenceDueBy: unix(10 * day)}
	d, cmds := ApplyDispute(NewDispute("dp_1"), ev, p, t0)
	if l := of[LookupPaymentOwner](cmds); len(l) != 1 || l[0].ChargeID != "ch_1" {
		t.Fatalf("lookup %+v", l)
	}
	if m := of[SendEmail](cmds); len(m) != 1 || m[0].Purpose != PurposeDisputeAlert || !m[0].ToOperator {
		t.Errorf("alert %+v", m)
	}
	if tm := of[ScheduleTimer](cmds); len(tm) != 1 || !tm[0].Timer.At.Equal(time.Unix(unix(8*day), 0)) {
		t.Errorf("reminder timer %+v", tm)
	}
	if len(of[NotifyOwner](cmds)) != 0 || len(d.Pending) != 1 {
		t.Errorf("forwarded before the owner is known: %s", names(cmds))
	}
	d, cmds = ApplyDisputeOwner(d, PaymentOwner{WorkflowID: "order/pi_1", CustomerID: cus}, t0)
	n := of[NotifyOwner](cmds)
	if len(n) != 1 || n[0].WorkflowID != "order/pi_1" || n[0].Event.ID != "evt_1" || n[0].Event.CustomerID != cus {
		t.Errorf("notify %+v", n)
	}
	// The forwarded event suspends the order's own access.
	o, oc := applyOrder(NewOrder("pi_1"), piSucceeded("evt_p", "prod_x"), n[0].Event)
	if effective(rows(oc), "prod_x") != AccessSuspended || o.Dispute.ID != "dp_1" {
		t.Errorf("order after the forwarded dispute: %v", EffectiveAccess(rows(oc)))
	}
	fw := ev
	fw.ID, fw.Type = "evt_2", "charge.dispute.funds_withdrawn"
	d, cmds = ApplyDispute(d, fw, p, t0)
	if !d.FundsWithdrawn || len(of[RecordDispute](cmds)) != 1 || len(of[NotifyOwner](cmds)) != 1 {
		t.Errorf("funds withdrawn: %s", names(cmds))
	}
	up := ev
	up.ID, up.Type, up.Status, up.Created = "evt_3", "charge.dispute.updated", "under_review", unix(day)
	d, cmds = ApplyDispute(d, up, p, t0)
	if d.Status() != DisputeUnderReview || len(d.Timers()) != 0 || len(of[CancelTimers](cmds)) != 1 {
		t.Errorf("under review: %s, timers %v", d.Status(), d.Timers())
	}
	cl := ev
	cl.ID, cl.Type, cl.Status, cl.Created = "evt_4", "charge.dispute.closed", "won", unix(5*day)
	d, cmds = ApplyDispute(d, cl, p, t0)
	if d.Status() != DisputeWon || !d.Done() || !hasPurpose(cmds, PurposeDisputeClosed) {
		t.Errorf("closed: %s", names(cmds))
	}
	if sa := lastSearch(t, cmds); sa.Status != DisputeWon {
		t.Errorf("search %+v", sa)
	}
	ri := ev
	ri.ID, ri.Type, ri.Status, ri.Created = "evt_5", "charge.dispute.funds_reinstated", "won", unix(5*day)
	d, _ = ApplyDispute(d, ri, p, t0)
	// A late, older update does not reopen it.
	d, _ = ApplyDispute(d, func() Event { e := up; e.ID = "evt_6"; return e }(), p, t0)
	if d.Status() != DisputeWon || !d.FundsReinstated {
		t.Errorf("after late events: %s, reinstated %v", d.Status(), d.FundsReinstated)
	}
}

func TestDisputeReminder(t *testing.T) {
	ev := Event{ID: "evt_1", Type: "charge.dispute.created", Created: unix(0), DisputeID: "dp_1", ChargeID: "ch_1",
		InvoiceID: "in_1", SubscriptionID: subID, Status: "needs_response", EvidenceDueBy: unix(10 * day)}
	d, cmds := ApplyDispute(NewDispute("dp_1"), ev, DefaultDisputePolicy(), t0)
	if len(of[LookupPaymentOwner](cmds)) != 0 || len(of[NotifyOwner](cmds)) != 1 || d.Owner != "subscription/sub_1" {
		t.Errorf("owner from the event: %s", names(cmds))
	}
	tm := d.Timers()[0]
	if _, early := FireDisputeTimer(d, tm, tm.At.Add(-time.Minute)); len(early) != 0 {
		t.Errorf("reminder before its time")
	}
	d, cmds = FireDisputeTimer(d, tm, tm.At)
	if !hasPurpose(cmds, PurposeDisputeReminder) || len(d.Timers()) != 0 {
		t.Errorf("reminder %s", names(cmds))
	}
	if _, again := FireDisputeTimer(d, tm, tm.At); len(again) != 0 {
		t.Errorf("second reminder")
	}
}
