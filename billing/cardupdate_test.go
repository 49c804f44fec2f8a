package billing

import (
	"slices"
	"testing"
	"time"
)

// pmUpdate is a change of the customer's payment method, as the receiver
// decodes it (PaymentMethod set only for a real change).
func pmUpdate(id, typ string, d time.Duration) Event {
	return Event{ID: id, Type: typ, Created: unix(d), CustomerID: cus, PaymentMethod: "pm_new"}
}

func paid(c RetryCharge) ChargeResult {
	return ChargeResult{InvoiceID: c.InvoiceID, Attempt: c.Attempt, Paid: true}
}

// update applies a payment method change and answers its retries.
func (r *subRun) update(ev Event, charge func(RetryCharge) ChargeResult) *subRun {
	var cmds []Command
	r.s, cmds = ApplySubscription(r.s, ev, r.p, r.now)
	r.took(cmds)
	r.answer(cmds, charge, stillOpen)
	return r
}

func TestIsPaymentMethodUpdate(t *testing.T) {
	for _, tc := range []struct {
		ev   Event
		want bool
	}{
		{Event{Type: "customer.updated", PaymentMethod: "pm_1"}, true},
		{Event{Type: "payment_method.attached", PaymentMethod: "pm_1"}, true},
		{Event{Type: "setup_intent.succeeded", PaymentMethod: "pm_1"}, true},
		{Event{Type: "customer.updated"}, false}, // an email or address change
		{Event{Type: "setup_intent.succeeded"}, false},
		{Event{Type: "invoice.paid", PaymentMethod: "pm_1"}, false},
	} {
		if got := IsPaymentMethodUpdate(tc.ev); got != tc.want {
			t.Errorf("%s %q: %v", tc.ev.Type, tc.ev.PaymentMethod, got)
		}
	}
}

// A hard decline waits for exactly this: the new card is charged at once,
// the invoice recovers, access comes back, one "payment recovered" email.
func TestPaymentMethodUpdateRetriesAHardDeclineAtOnce(t *testing.T) {
	for _, typ := range []string{"customer.updated", "payment_method.attached", "setup_intent.succeeded"} {
		t.Run(typ, func(t *testing.T) {
			r := active(t, shortGrace())
			r.now = t0.Add(30 * day)
			r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "stolen_card"))
			r.advance(6*day, declined("x"), stillOpen) // past grace: suspended, no retry
			if n := len(of[RetryCharge](r.all)); n != 0 {
				t.Fatalf("%d retries after a hard decline", n)
			}
			if got := effective(rows(r.all), "prod_pro"); got != AccessSuspended {
				t.Fatalf("access before the update %s", got)
			}
			r.update(pmUpdate("evt_pm", typ, 36*day), paid)
			retries := of[RetryCharge](r.all)
			if len(retries) != 1 || retries[0].IdempotencyKey != "subscription/sub_1/in_1/retry-1" || retries[0].Attempt != 1 {
				t.Fatalf("retries %+v", retries)
			}
			if len(r.s.Campaigns) != 0 || r.s.Recovered != 1 {
				t.Errorf("campaigns %+v recovered %d", r.s.Campaigns, r.s.Recovered)
			}
			if got := effective(rows(r.all), "prod_pro"); got != AccessGranted {
				t.Errorf("access after recovery %s", got)
			}
			// One "payment recovered" email; the only receipt is the first invoice's.
			if n := countPurpose(r.all, PurposeRecovered); n != 1 || countPurpose(r.all, PurposeInvoiceReceipt) != 1 {
				t.Errorf("recovered emails %d, emails %v", n, emailKeys(r.all))
			}
			if sa := lastSearch(t, r.all); sa.DunningStage != StageNone {
				t.Errorf("stage %s", sa.DunningStage)
			}
			// The same event again (redelivered, or forwarded twice) charges nothing.
			r.update(pmUpdate("evt_pm", typ, 36*day), paid)
			if len(r.last) != 0 || len(of[RetryCharge](r.all)) != 1 {
				t.Errorf("a duplicate retried: %s", names(r.last))
			}
		})
	}
}

// Every open campaign retries, each with a fresh key continuing its own
// count, whatever its schedule says; a decline on the new card follows the
// schedule from where it stands.
func TestPaymentMethodUpdateRetriesEveryOpenCampaign(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"),
		failedInv("evt_f2", "in_2", 30*day, 500, "manual", "insufficient_funds"))
	r.advance(DefaultPolicy().RetryDelays[0]+time.Hour, declined("insufficient_funds"), stillOpen) // one scheduled retry each
	before := len(of[RetryCharge](r.all))
	if before != 2 {
		t.Fatalf("%d scheduled retries", before)
	}
	charge := func(c RetryCharge) ChargeResult {
		if c.InvoiceID == "in_1" {
			return paid(c)
		}
		return declined("insufficient_funds")(c)
	}
	r.update(pmUpdate("evt_pm", "payment_method.attached", 30*day+DefaultPolicy().RetryDelays[0]+time.Hour), charge)
	var keys []string
	for _, c := range of[RetryCharge](r.all)[before:] {
		keys = append(keys, c.IdempotencyKey)
	}
	if want := []string{"subscription/sub_1/in_1/retry-2", "subscription/sub_1/in_2/retry-2"}; !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	if len(r.s.Campaigns) != 1 || r.s.Campaigns[0].InvoiceID != "in_2" {
		t.Fatalf("campaigns %+v", r.s.Campaigns)
	}
	c := r.s.Campaigns[0]
	if c.Attempts != 2 || c.NextRetryAt == nil || !c.NextRetryAt.Equal(c.FailedAt.Add(c.Policy.RetryDelays[2])) {
		t.Errorf("in_2 after the declined retry: %+v", c)
	}
}

// In stripe mode Stripe retries with the new payment method itself: payflow
// charges nothing. A campaign past its final action is not charged either.
func TestPaymentMethodUpdateChargesNothingInStripeModeOrAfterTheFinalAction(t *testing.T) {
	p := DefaultPolicy()
	p.Mode = ModeStripe
	r := active(t, p)
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "stolen_card"))
	r.update(pmUpdate("evt_pm", "customer.updated", 31*day), paid)
	if n := len(of[RetryCharge](r.all)); n != 0 || len(r.s.Campaigns) != 1 {
		t.Errorf("stripe mode: %d retries, campaigns %+v", n, r.s.Campaigns)
	}

	r = active(t, shortGrace())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "stolen_card"))
	r.s.Campaigns[0].Final = true
	r.update(pmUpdate("evt_pm", "customer.updated", 40*day), paid)
	if n := len(of[RetryCharge](r.all)); n != 0 {
		t.Errorf("final: %d retries", n)
	}

	// Without a campaign the event only notes itself.
	r = active(t, DefaultPolicy())
	r.update(pmUpdate("evt_pm", "customer.updated", day), paid)
	if len(of[RetryCharge](r.last)) != 0 || len(of[Note](r.last)) != 1 {
		t.Errorf("no campaign: %s", names(r.last))
	}
}

// A retry in flight is left to itself: no second charge at the same time.
func TestPaymentMethodUpdateLeavesARetryInFlight(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	r.s.Campaigns[0].ChargePending = 1
	var cmds []Command
	r.s, cmds = ApplySubscription(r.s, pmUpdate("evt_pm", "payment_method.attached", 31*day), r.p, r.now)
	if len(of[RetryCharge](cmds)) != 0 {
		t.Errorf("second charge while one is in flight: %s", names(cmds))
	}
}

func countPurpose(cmds []Command, purpose string) int {
	n := 0
	for _, p := range purposesOf(cmds) {
		if p == purpose {
			n++
		}
	}
	return n
}

// A campaign whose takeover Stripe has not answered yet retries as soon as
// it has: never two collectors on one invoice.
func TestPaymentMethodUpdateWaitsForAPendingTakeover(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "stolen_card"))
	c := &r.s.Campaigns[0]
	c.TakeoverPending, c.TakenOver = true, false
	var cmds []Command
	r.now = t0.Add(31 * day)
	r.s, cmds = ApplySubscription(r.s, pmUpdate("evt_pm", "customer.updated", 31*day), r.p, r.now)
	if len(of[RetryCharge](cmds)) != 0 {
		t.Fatalf("charged before the takeover: %s", names(cmds))
	}
	if c := r.s.Campaigns[0]; c.HardDecline || c.NextRetryAt == nil || !c.NextRetryAt.Equal(r.now) {
		t.Fatalf("campaign %+v", c)
	}
	r.s, _ = ApplyTakeover(r.s, TakeoverResult{InvoiceID: "in_1", TakenOver: true}, r.now)
	timers := r.s.Timers()
	if len(timers) == 0 || timers[0].Kind != TimerRetry || !timers[0].At.Equal(r.now) {
		t.Fatalf("timers %+v", timers)
	}
	r.s, cmds = FireSubscriptionTimer(r.s, timers[0], r.now)
	if got := of[RetryCharge](cmds); len(got) != 1 || got[0].IdempotencyKey != "subscription/sub_1/in_1/retry-1" {
		t.Errorf("retry %s", names(cmds))
	}
}

// The subscription's own default payment method changing
// (customer.subscription.updated, decoded with PaymentMethod) retries its
// open campaign at once; an update that changes something else does not.
func TestSubscriptionDefaultPaymentMethodRetries(t *testing.T) {
	r := active(t, shortGrace())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "stolen_card"))
	other := Event{ID: "evt_u0", Type: "customer.subscription.updated", Created: unix(30*day + time.Hour),
		SubscriptionID: subID, CustomerID: cus, Status: StatusPastDue}
	r.now = t0.Add(30*day + time.Hour)
	r.update(other, paid)
	if n := len(of[RetryCharge](r.all)); n != 0 {
		t.Fatalf("%d retries after an update that changed no payment method", n)
	}
	ev := other
	ev.ID, ev.Created, ev.PaymentMethod = "evt_u1", unix(30*day+2*time.Hour), "pm_sub"
	r.now = t0.Add(30*day + 2*time.Hour)
	r.update(ev, paid)
	if n := len(of[RetryCharge](r.all)); n != 1 {
		t.Fatalf("%d retries after the subscription's payment method changed, want 1", n)
	}
	if c := r.s.campaign("in_1"); c != nil {
		t.Errorf("campaign still open after the paid retry: %+v", c)
	}
	r.update(ev, paid) // redelivered: nothing more
	if n := len(of[RetryCharge](r.all)); n != 1 {
		t.Errorf("%d retries after a redelivery", n)
	}
}
