package chaos

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
)

// The verdict per event: completed needs the order fulfilled and exactly
// one receipt (a second run of a closed order, started by a late delivery,
// is no effect); a second receipt is a duplicate, unless the scenario allows
// flagged ones and the worker flagged it; an acknowledged event without a
// fulfilled order or without a receipt is lost; an unacknowledged one is
// never lost.
func TestTally(t *testing.T) {
	evs := make([]event, 9)
	for i := range evs {
		evs[i] = event{PI: piPrefix("t") + string(rune('a'+i)), Email: string(rune('a'+i)) + "@example.com"}
	}
	o := &observation{status: map[string]string{}, sends: map[string]map[string]int{}, keySends: map[string]int{},
		runs: map[string]map[string]int{}, flagged: map[string]bool{}}
	set := func(i int, status string, receipts, completedRuns int) {
		if status != "" {
			o.status[evs[i].PI] = status
		}
		if receipts > 0 {
			key := routing.OrderID(evs[i].PI) + "/receipt"
			o.sends[evs[i].Email] = map[string]int{key: receipts}
			o.keySends[key] = receipts
		}
		if completedRuns > 0 {
			o.runs[routing.OrderID(evs[i].PI)] = map[string]int{completedName: completedRuns}
		}
	}
	set(0, payflow.OrderFulfilled, 1, 1) // completed
	set(1, payflow.OrderFulfilled, 2, 1) // receipt twice
	set(2, payflow.OrderFulfilled, 1, 2) // a late delivery's second run: no effect
	set(3, payflow.OrderPending, 0, 0)   // acknowledged, stuck: lost
	set(4, payflow.OrderFulfilled, 0, 1) // no receipt: lost
	set(5, "", 0, 0)                     // never acknowledged, never seen: not lost
	set(6, payflow.OrderFulfilled, 1, 1) // not acknowledged (the answer timed out) but done
	set(7, payflow.OrderFulfilled, 2, 1) // receipt twice, flagged by the worker
	o.flagged[routing.OrderID(evs[7].PI)+"/receipt"] = true
	set(8, payflow.OrderFulfilled, 2, 1) // receipt twice, another key flagged
	o.flagged[routing.OrderID(evs[8].PI)+"/other"] = true
	acked := []bool{true, true, true, true, true, false, false, true, true}

	r := &Result{}
	o.tally(r, evs, acked)
	if r.Completed != 4 || r.Duplicate != 2 || r.Flagged != 1 || r.Lost != 2 || r.ExtraReceipts != 3 {
		t.Errorf("completed %d, duplicate %d, flagged %d, lost %d, extra receipts %d; want 4, 2, 1, 2, 3",
			r.Completed, r.Duplicate, r.Flagged, r.Lost, r.ExtraReceipts)
	}
	if ok, why := o.settled(evs, acked); ok {
		t.Error("settled with two acknowledged events lacking effects")
	} else if why == "" {
		t.Error("no reason given")
	}
}

// A subscription's invoices share its address: each is judged by its own
// receipt's dedupe key and the invoice's status, not by the recipient.
func TestTallyInvoices(t *testing.T) {
	evs := []event{
		{Sub: "sub_t", Invoice: "in_t1", Email: "s@example.com"},
		{Sub: "sub_t", Invoice: "in_t2", Email: "s@example.com"},
		{Sub: "sub_t", Invoice: "in_t3", Email: "s@example.com"},
		{Sub: "sub_t", Invoice: "in_t4", Email: "s@example.com"},
	}
	o := &observation{status: map[string]string{}, sends: map[string]map[string]int{}, keySends: map[string]int{},
		runs: map[string]map[string]int{}, flagged: map[string]bool{}}
	o.status["in_t1"], o.keySends[evs[0].receiptKey()] = billing.InvoicePaid, 1 // completed
	o.status["in_t2"], o.keySends[evs[1].receiptKey()] = billing.InvoicePaid, 2 // receipt twice
	o.status["in_t3"], o.keySends[evs[2].receiptKey()] = billing.InvoiceOpen, 1 // not paid: lost
	o.status["in_t4"] = billing.InvoicePaid                                     // no receipt: lost
	if want := "subscription/sub_t/invoice/in_t1/receipt"; evs[0].receiptKey() != want {
		t.Fatalf("receipt key %q, want %q", evs[0].receiptKey(), want)
	}
	r := &Result{}
	o.tally(r, evs, []bool{true, true, true, true})
	if r.Completed != 1 || r.Duplicate != 1 || r.Lost != 2 {
		t.Errorf("completed %d, duplicate %d, lost %d; want 1, 1, 2", r.Completed, r.Duplicate, r.Lost)
	}
	o.flagged[evs[1].receiptKey()] = true
	r = &Result{}
	o.tally(r, evs, []bool{true, true, true, true})
	if r.Duplicate != 0 || r.Flagged != 1 {
		t.Errorf("flagged key: duplicate %d, flagged %d; want 0, 1", r.Duplicate, r.Flagged)
	}
}

// A storm's schedule holds every copy of every event exactly once; the
// shuffle depends only on the seed.
func TestSchedule(t *testing.T) {
	plain := schedule(50, 2, false, 1)
	a, b, c := schedule(50, 2, true, 7), schedule(50, 2, true, 7), schedule(50, 2, true, 8)
	for _, plan := range [][]delivery{plain, a, c} {
		seen := map[delivery]int{}
		for _, d := range plan {
			seen[d]++
		}
		if len(plan) != 100 || len(seen) != 100 {
			t.Fatalf("%d deliveries, %d distinct; want 100 of each", len(plan), len(seen))
		}
	}
	if plain[0] != (delivery{0, 0}) || plain[50] != (delivery{0, 1}) {
		t.Errorf("unshuffled plan starts %v, copy 2 at %v", plain[0], plain[50])
	}
	if !slices.Equal(a, b) || slices.Equal(a, c) || slices.Equal(a, plain) {
		t.Error("the shuffle is not a function of the seed alone")
	}
}

// Storm events: invoices of a few subscriptions first, then one-off
// payments; every payload a distinct, decodable event.
func TestBuildStormEvents(t *testing.T) {
	evs, err := buildEvents(20, "t", time.Now(), 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	invoices := 0
	keys := map[string]bool{}
	for _, e := range evs {
		if e.isInvoice() {
			invoices++
			if !strings.Contains(string(e.Payload), `"invoice.paid"`) || !strings.Contains(string(e.Payload), e.Invoice) {
				t.Errorf("%s: payload is not its invoice.paid", e.Invoice)
			}
		} else if !strings.Contains(string(e.Payload), `"payment_intent.succeeded"`) {
			t.Errorf("%s: payload is not a payment_intent.succeeded", e.PI)
		}
		keys[e.receiptKey()] = true
	}
	if invoices != 6 || len(keys) != 20 {
		t.Errorf("%d invoices, %d distinct receipt keys; want 6 and 20", invoices, len(keys))
	}
	if _, err := buildEvents(5, "t", time.Now(), 2, 3); err == nil {
		t.Error("more invoices than events accepted")
	}
}
