package chaos

import (
	"testing"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/workflows"
)

// The verdict per event: completed needs the order fulfilled, exactly one
// receipt and at most one completed run; a second receipt or a second
// completed run is a duplicate; an acknowledged event without a fulfilled
// order or without a receipt is lost; an unacknowledged one is never lost.
func TestTally(t *testing.T) {
	evs := make([]event, 7)
	for i := range evs {
		evs[i] = event{PI: piPrefix("t") + string(rune('a'+i)), Email: string(rune('a'+i)) + "@example.com"}
	}
	o := &observation{status: map[string]string{}, sends: map[string]map[string]int{}, keySends: map[string]int{},
		runs: map[string]map[string]int{}}
	set := func(i int, status string, receipts, completedRuns int) {
		if status != "" {
			o.status[evs[i].PI] = status
		}
		if receipts > 0 {
			key := workflows.OrderID(evs[i].PI) + "/receipt"
			o.sends[evs[i].Email] = map[string]int{key: receipts}
			o.keySends[key] = receipts
		}
		if completedRuns > 0 {
			o.runs[workflows.OrderID(evs[i].PI)] = map[string]int{completedName: completedRuns}
		}
	}
	set(0, payflow.OrderFulfilled, 1, 1) // completed
	set(1, payflow.OrderFulfilled, 2, 1) // receipt twice
	set(2, payflow.OrderFulfilled, 1, 2) // fulfilled by two runs
	set(3, payflow.OrderPending, 0, 0)   // acknowledged, stuck: lost
	set(4, payflow.OrderFulfilled, 0, 1) // no receipt: lost
	set(5, "", 0, 0)                     // never acknowledged, never seen: not lost
	set(6, payflow.OrderFulfilled, 1, 1) // not acknowledged (the answer timed out) but done
	acked := []bool{true, true, true, true, true, false, false}

	r := &Result{}
	o.tally(r, evs, acked)
	if r.Completed != 2 || r.Duplicate != 2 || r.Lost != 2 || r.ExtraReceipts != 1 {
		t.Errorf("completed %d, duplicate %d, lost %d, extra receipts %d; want 2, 2, 2, 1", r.Completed, r.Duplicate, r.Lost, r.ExtraReceipts)
	}
	if ok, why := o.settled(evs, acked); ok {
		t.Error("settled with two acknowledged events lacking effects")
	} else if why == "" {
		t.Error("no reason given")
	}
}
