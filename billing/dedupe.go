package billing

import "slices"

// MaxSeen bounds the event IDs an entity remembers. Stripe retries a
// delivery for up to three days and a subscription sees a handful of events
// a month, so 1,000 covers years; older duplicates are caught by the
// database's event ledger.
const MaxSeen = 1000

// seen reports whether id was applied before and otherwise returns the list
// with id appended (a new slice: the caller's state is never written).
func seen(ids []string, id string) (bool, []string) {
	if id == "" {
		return false, ids
	}
	if slices.Contains(ids, id) {
		return true, ids
	}
	out := make([]string, 0, min(len(ids)+1, MaxSeen))
	if len(ids)+1 > MaxSeen {
		ids = ids[len(ids)+1-MaxSeen:]
	}
	out = append(out, ids...)
	return false, append(out, id)
}
