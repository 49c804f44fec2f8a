package chaos

import (
	"testing"

	"github.com/payflow/payflow"
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
