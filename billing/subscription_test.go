package billing

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestMultiItemSubscriptionGrantsEveryProduct(t *testing.T) {
	r := newSubRun(t, DefaultPolicy()).apply(snap("evt_1", "created", StatusActive, 0, "prod_seats", "prod_storage", "prod_support"))
	got := of[SetAccess](r.last)
	if len(got) != 3 {
		t.Fatalf("want a grant per item, got %v", got)
	}
	for i, p := range []string{"prod_seats", "prod_storage", "prod_support"} {
		g := got[i]
		if g.ProductID != p || g.Status != AccessGranted || g.Source != "subscription/sub_1" || g.CustomerID != cus {
			t.Errorf("grant %d = %+v", i, g)
		}
		if g.ValidUntil == nil || g.ValidUntil.Unix() != unix(30*day) {
			t.Errorf("grant %d valid until %v, want the period end", i, g.ValidUntil)
		}
	}
}

func TestUpgradeGrantsNewProductAndRevokesOldForThisSourceOnly(t *testing.T) {
	// The customer also bought prod_basic once, as a one-off order.
	o, orderCmds := ApplyOrder(NewOrder("pi_1"), Event{ID: "evt_o", Type: "payment_intent.succeeded", CustomerID: cus,
		PaymentIntent: "pi_1", Amount: 500, Currency: "usd", Products: []string{"prod_basic"}, ProductFrom: ProductFromPaymentMetadata}, t0)
	if o.Status() != OrderFulfilled {
		t.Fatalf("order %s", o.Status())
	}
	r := newSubRun(t, DefaultPolicy()).apply(
		snap("evt_1", "created", StatusActive, 0, "prod_basic"),
		snap("evt_2", "updated", StatusActive, day, "prod_pro"),
	)
	upgrade := of[SetAccess](r.last)
	want := []SetAccess{
		{CustomerID: cus, ProductID: "prod_basic", Source: "subscription/sub_1", Status: AccessRevoked},
		{CustomerID: cus, ProductID: "prod_pro", Source: "subscription/sub_1", Status: AccessGranted},
	}
	if len(upgrade) != 2 || upgrade[0].ProductID != want[0].ProductID || upgrade[0].Status != want[0].Status ||
		upgrade[1].ProductID != want[1].ProductID || upgrade[1].Status != want[1].Status {
		t.Fatalf("upgrade access = %+v", upgrade)
	}
	all := append(rows(orderCmds), rows(r.all)...)
	if got := effective(all, "prod_pro"); got != AccessGranted {
		t.Errorf("pro effective %s", got)
	}
	if got := effective(all, "prod_basic"); got != AccessGranted {
		t.Errorf("basic, still paid for by the order, effective %s", got)
	}
}

func TestCancelRevokesEveryProductOfTheSubscription(t *testing.T) {
	r := newSubRun(t, DefaultPolicy()).apply(
		snap("evt_1", "created", StatusActive, 0, "prod_basic"),
		snap("evt_2", "updated", StatusActive, day, "prod_pro", "prod_addon"),
		snap("evt_3", "deleted", StatusCanceled, 2*day, "prod_pro", "prod_addon"),
	)
	for _, p := range []string{"prod_basic", "prod_pro", "prod_addon"} {
		if got := effective(rows(r.all), p); got != AccessRevoked {
			t.Errorf("%s effective %s after cancel", p, got)
		}
	}
	if r.s.Status != StatusCanceled || !r.s.Terminal() {
		t.Errorf("status %s", r.s.Status)
	}
	if sa := lastSearch(t, r.all); sa.Status != StatusCanceled || sa.DunningStage != StageNone {
		t.Errorf("search %+v", sa)
	}
}

func TestFirstInvoiceFailureIsNotDunned(t *testing.T) {
	r := newSubRun(t, DefaultPolicy()).apply(
		snap("evt_1", "created", StatusIncomplete, 0, "prod_pro"),
		failedInv("evt_2", "in_1", 0, 2000, "subscription_create", "insufficient_funds"),
	)
	if len(r.s.Campaigns) != 0 || len(r.s.Timers()) != 0 {
		t.Fatalf("first invoice dunned: %+v", r.s.Campaigns)
	}
	if got := purposesOf(r.all); !slices.Equal(got, []string{PurposeSubscriptionIncomplete}) {
		t.Errorf("emails %v, want only the incomplete notice", got)
	}
	for _, p := range purposesOf(r.all) {
		if p == PurposeDunningFirst || p == PurposeDunningReminder {
			t.Errorf("a 'we will try again' email was sent: %s", p)
		}
	}
	if len(of[SetAccess](r.all)) != 0 {
		t.Errorf("access changed for an incomplete subscription: %v", of[SetAccess](r.all))
	}
	if sa := lastSearch(t, r.all); sa.Status != StatusIncomplete || sa.DunningStage != StageNone {
		t.Errorf("search %+v, want incomplete/none (not past_due)", sa)
	}
	// 23 hours later Stripe expires it and voids the invoice.
	r.now = r.now.Add(23 * time.Hour)
	r.apply(snap("evt_3", "updated", StatusIncompleteExpired, 23*time.Hour, "prod_pro"),
		inv("evt_4", "voided", "in_1", 23*time.Hour, 2000, "subscription_create"))
	if r.s.Status != StatusIncompleteExpired || !r.s.Terminal() {
		t.Errorf("status %s, want incomplete_expired", r.s.Status)
	}
	if i, _ := r.s.Invoice("in_1"); i.Status != InvoiceVoid {
		t.Errorf("invoice %s", i.Status)
	}
	if sa := lastSearch(t, r.all); sa.Status != StatusIncompleteExpired {
		t.Errorf("search %+v", sa)
	}
}

func TestTrialShowsTrialingAndNoZeroReceipt(t *testing.T) {
	trial := snap("evt_1", "created", StatusTrialing, 0, "prod_pro")
	trial.TrialEnd = unix(14 * day)
	r := newSubRun(t, DefaultPolicy()).apply(trial, inv("evt_2", "paid", "in_0", 0, 0, "subscription_create"),
		inv("evt_3", "payment_succeeded", "in_0", 0, 0, "subscription_create"))
	if r.s.Status != StatusTrialing {
		t.Errorf("status %s", r.s.Status)
	}
	if hasPurpose(r.all, PurposeInvoiceReceipt) {
		t.Errorf("a receipt for a $0 trial invoice: %v", emailKeys(r.all))
	}
	if got := effective(rows(r.all), "prod_pro"); got != AccessGranted {
		t.Errorf("trial access %s", got)
	}
	if sa := lastSearch(t, r.all); sa.Status != StatusTrialing {
		t.Errorf("search %+v", sa)
	}
	// The trial ends with a real charge: that one has a receipt.
	r.apply(inv("evt_4", "paid", "in_1", 14*day, 2000, "subscription_cycle"), snap("evt_5", "updated", StatusActive, 14*day, "prod_pro"))
	if !slices.Contains(emailKeys(r.all), "invoice_receipt subscription/sub_1/invoice/in_1/receipt") {
		t.Errorf("no receipt for the first paid invoice: %v", emailKeys(r.all))
	}
}

func TestPastDueSnapshotWithoutFailureSetsPastDue(t *testing.T) {
	created := snap("evt_1", "created", StatusActive, 0, "prod_pro")
	created.CollectionMethod = "send_invoice"
	pastDue := snap("evt_2", "updated", StatusPastDue, 31*day, "prod_pro")
	r := newSubRun(t, DefaultPolicy()).apply(created, pastDue)
	if r.s.Status != StatusPastDue {
		t.Fatalf("status %s, want past_due", r.s.Status)
	}
	if sa := lastSearch(t, r.all); sa.Status != StatusPastDue || sa.DunningStage != StageNone {
		t.Errorf("search %+v", sa)
	}
	if rec := of[RecordSubscription](r.last); len(rec) != 1 || rec[0].Status != StatusPastDue {
		t.Errorf("record %+v", rec)
	}
}

func TestDeletedBeforePaidStillRecordsAndReceipts(t *testing.T) {
	r := newSubRun(t, DefaultPolicy()).apply(
		snap("evt_1", "created", StatusActive, 0, "prod_pro"),
		snap("evt_3", "deleted", StatusCanceled, 31*day, "prod_pro"),
		inv("evt_2", "paid", "in_2", 30*day, 2000, "subscription_cycle"),
	)
	recs := of[RecordInvoice](r.last)
	if len(recs) != 1 || recs[0].ID != "in_2" || recs[0].Status != InvoicePaid || recs[0].AmountPaid != 2000 {
		t.Fatalf("paid invoice not recorded after the deletion: %+v", recs)
	}
	mails := of[SendEmail](r.last)
	if len(mails) != 1 || mails[0].Purpose != PurposeInvoiceReceipt || mails[0].Vars["invoice_id"] != "in_2" {
		t.Fatalf("receipt %+v", mails)
	}
	if len(of[SetAccess](r.last)) != 0 || r.s.Status != StatusCanceled {
		t.Errorf("a late payment regranted a canceled subscription: %v, %s", of[SetAccess](r.last), r.s.Status)
	}
}

func TestStaleSnapshotDoesNotRegress(t *testing.T) {
	r := newSubRun(t, DefaultPolicy()).apply(
		snap("evt_2", "updated", StatusPastDue, 2*day, "prod_pro"),
		snap("evt_1", "updated", StatusActive, day, "prod_basic"),
	)
	if r.s.Status != StatusPastDue || itemProducts(r.s.Items)[0] != "prod_pro" || r.s.Snapshot.Created != unix(2*day) {
		t.Errorf("stale snapshot applied: %s %v", r.s.Status, r.s.Items)
	}
	if len(of[RecordSubscription](r.last)) != 0 || len(of[SetAccess](r.last)) != 0 {
		t.Errorf("stale snapshot had effects: %s", names(r.last))
	}
	// Same second: the later lifecycle stage wins whatever the order (and
	// whatever the random event IDs say).
	created, updated := snap("evt_z", "created", StatusIncomplete, 0, "p"), snap("evt_a", "updated", StatusActive, 0, "p")
	a := newSubRun(t, DefaultPolicy()).apply(created, updated)
	b := newSubRun(t, DefaultPolicy()).apply(updated, created)
	if a.s.Status != StatusActive || b.s.Status != StatusActive {
		t.Errorf("same-second snapshots: %s / %s", a.s.Status, b.s.Status)
	}
	// Canceled is terminal.
	c := newSubRun(t, DefaultPolicy()).apply(snap("evt_x", "deleted", StatusCanceled, day, "p"), snap("evt_y", "updated", StatusActive, 2*day, "p"))
	if c.s.Status != StatusCanceled {
		t.Errorf("left canceled: %s", c.s.Status)
	}
}

func TestDuplicateEventIsNoOp(t *testing.T) {
	ev := inv("evt_2", "paid", "in_1", 0, 2000, "subscription_create")
	r := newSubRun(t, DefaultPolicy()).apply(snap("evt_1", "created", StatusActive, 0, "prod_pro"), ev)
	before := r.s
	r.apply(ev)
	if len(r.last) != 0 || !reflect.DeepEqual(before, r.s) {
		t.Errorf("duplicate had effects: %s", names(r.last))
	}
	// invoice.payment_succeeded for the same invoice: recorded once, one receipt.
	r.apply(inv("evt_3", "payment_succeeded", "in_1", 0, 2000, "subscription_create"))
	if len(of[SendEmail](r.last)) != 0 || len(of[RecordInvoice](r.last)) != 0 {
		t.Errorf("the other event of the pair acted again: %s", names(r.last))
	}
}

func TestApplyDoesNotChangeItsInput(t *testing.T) {
	r := newSubRun(t, DefaultPolicy()).apply(snap("evt_1", "created", StatusActive, 0, "prod_pro"),
		failedInv("evt_2", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	keep := r.s.clone()
	ApplySubscription(r.s, inv("evt_3", "paid", "in_1", 31*day, 2000, "subscription_cycle"), DefaultPolicy(), t0)
	FireSubscriptionTimer(r.s, r.s.Timers()[0], t0.Add(365*day))
	if !reflect.DeepEqual(keep, r.s) {
		t.Error("the caller's state was changed")
	}
}

func TestPausedStatusSuspendsAndPauseCollectionKeepsAccess(t *testing.T) {
	paused := snap("evt_2", "paused", StatusPaused, day, "prod_pro")
	resumed := snap("evt_3", "resumed", StatusActive, 2*day, "prod_pro")
	r := newSubRun(t, DefaultPolicy()).apply(snap("evt_1", "created", StatusTrialing, 0, "prod_pro"), paused)
	if got := effective(rows(r.all), "prod_pro"); got != AccessSuspended || r.s.Status != StatusPaused {
		t.Errorf("paused: access %s, status %s", got, r.s.Status)
	}
	r.apply(resumed)
	if got := effective(rows(r.all), "prod_pro"); got != AccessGranted {
		t.Errorf("resumed: access %s", got)
	}
	pc := snap("evt_4", "updated", StatusActive, 3*day, "prod_pro")
	pc.PauseCollection = "void"
	r.apply(pc)
	if got := effective(rows(r.all), "prod_pro"); got != AccessGranted || r.s.Status != StatusActive || r.s.PauseCollection != "void" {
		t.Errorf("pause_collection: access %s, status %s", got, r.s.Status)
	}
}

func TestTrialWillEndReminder(t *testing.T) {
	ev := snap("evt_2", "trial_will_end", StatusTrialing, 11*day, "prod_pro")
	ev.TrialEnd = unix(14 * day)
	r := newSubRun(t, DefaultPolicy()).apply(snap("evt_1", "created", StatusTrialing, 0, "prod_pro"), ev)
	m := of[SendEmail](r.last)
	if len(m) != 1 || m[0].Purpose != PurposeTrialEnding || m[0].Vars["trial_end"] == "" {
		t.Errorf("trial reminder %+v", m)
	}
}
