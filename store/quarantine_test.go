package store

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/payflow/payflow"
)

// TestQuarantine runs the quarantine table's contract on every backend
// (PostgreSQL when PAYFLOW_TEST_POSTGRES_URL is set), like TestContract.
func TestQuarantine(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			b.skipUnavailable(t)
			for _, tc := range []struct {
				name string
				run  func(t *testing.T, b backend)
			}{
				{"InsertIsIdempotent", testQuarantineInsert},
				{"ConcurrentInserts", testQuarantineConcurrent},
				{"ListFilters", testQuarantineList},
				{"MarkReplayed", testQuarantineReplayed},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, b)
				})
			}
		})
	}
}

// quarantined is a row as the quarantine workflow writes it. The payload
// holds bytes a JSON round trip would not keep (invalid UTF-8, a NUL,
// insignificant whitespace): the column keeps it byte for byte.
func quarantined(id, reason string, received time.Time) payflow.QuarantinedEvent {
	return payflow.QuarantinedEvent{
		EventID: id, Type: "invoice.paid", APIVersion: "2099-01-01.zeta", Livemode: true, Account: "acct_1",
		Reason: reason, Detail: `api_version "2099-01-01.zeta": newer than payflow knows`,
		Payload:    []byte("{\"id\": \"" + id + "\",\n  \"x\": \"\xff\x00\"}"),
		ReceivedAt: received,
	}
}

func testQuarantineInsert(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	q := quarantined("evt_q1", "unknown_api_version", at(0))
	inserted, err := db.InsertQuarantined(ctx, q)
	if err != nil || !inserted {
		t.Fatalf("first insert: %v, %v; want inserted", inserted, err)
	}
	// A retried activity, or a later run for a redelivery: nothing changes,
	// the first row stays.
	again := q
	again.Reason, again.Payload, again.ReceivedAt = "missing_fields", []byte(`{}`), at(time.Hour)
	inserted, err = db.InsertQuarantined(ctx, again)
	if err != nil || inserted {
		t.Fatalf("second insert: %v, %v; want not inserted", inserted, err)
	}
	got, err := db.GetQuarantined(ctx, "evt_q1")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Payload, q.Payload) || got.PayloadSize != len(q.Payload) {
		t.Errorf("payload %q (size %d), want %q byte for byte", got.Payload, got.PayloadSize, q.Payload)
	}
	got.Payload, q.Payload = nil, nil
	q.PayloadSize = got.PayloadSize
	if fmt.Sprint(got) != fmt.Sprint(q) || !got.ReceivedAt.Equal(at(0)) {
		t.Errorf("stored %+v\nwant     %+v", got, q)
	}
	if n := count(t, db, "quarantine", "event_id = $1", "evt_q1"); n != 1 {
		t.Errorf("%d rows for evt_q1, want 1", n)
	}
	if _, err := db.GetQuarantined(ctx, "evt_missing"); !errors.Is(err, payflow.ErrNotFound) {
		t.Errorf("missing event: %v, want ErrNotFound", err)
	}
	for _, bad := range []payflow.QuarantinedEvent{{Payload: []byte("{}")}, {EventID: "evt_empty"}} {
		if _, err := db.InsertQuarantined(ctx, bad); err == nil {
			t.Errorf("insert %+v: no error", bad)
		}
	}
}

func testQuarantineConcurrent(t *testing.T, b backend) {
	db := openNew(t, b)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := db.InsertQuarantined(t.Context(), quarantined("evt_race", "unknown_api_version", at(0)))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent inserts reported inserted, want exactly 1", wins)
	}
}

func testQuarantineList(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	for i, r := range []string{"unknown_api_version", "missing_fields", "unknown_api_version", "missing_fields"} {
		if _, err := db.InsertQuarantined(ctx, quarantined(fmt.Sprintf("evt_l%d", i), r, at(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.MarkQuarantineReplayed(ctx, "evt_l2", "delivered to order/pi_1", at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ids := func(f payflow.QuarantineFilter) string {
		t.Helper()
		list, err := db.ListQuarantined(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, q := range list {
			if q.Payload != nil || q.PayloadSize == 0 {
				t.Errorf("%s: listing carries payload %q, size %d; want no payload, its size", q.EventID, q.Payload, q.PayloadSize)
			}
			out = append(out, q.EventID)
		}
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		f    payflow.QuarantineFilter
		want string
	}{
		{payflow.QuarantineFilter{}, "[evt_l3 evt_l2 evt_l1 evt_l0]"}, // newest first
		{payflow.QuarantineFilter{Reason: "unknown_api_version"}, "[evt_l2 evt_l0]"},
		{payflow.QuarantineFilter{Pending: true}, "[evt_l3 evt_l1 evt_l0]"},
		{payflow.QuarantineFilter{Reason: "unknown_api_version", Pending: true}, "[evt_l0]"},
		{payflow.QuarantineFilter{Limit: 2}, "[evt_l3 evt_l2]"},
		{payflow.QuarantineFilter{Reason: "nothing_like_it"}, "[]"},
	} {
		if got := ids(tc.f); got != tc.want {
			t.Errorf("ListQuarantined(%+v) = %s, want %s", tc.f, got, tc.want)
		}
	}
}

func testQuarantineReplayed(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	if _, err := db.InsertQuarantined(ctx, quarantined("evt_r", "unknown_api_version", at(0))); err != nil {
		t.Fatal(err)
	}
	marked, err := db.MarkQuarantineReplayed(ctx, "evt_r", "delivered to subscription/sub_1", at(time.Hour))
	if err != nil || !marked {
		t.Fatalf("first mark: %v, %v; want marked", marked, err)
	}
	// A second replay keeps the first result.
	marked, err = db.MarkQuarantineReplayed(ctx, "evt_r", "duplicate", at(2*time.Hour))
	if err != nil || marked {
		t.Fatalf("second mark: %v, %v; want not marked", marked, err)
	}
	got, err := db.GetQuarantined(ctx, "evt_r")
	if err != nil {
		t.Fatal(err)
	}
	checkTime(t, "replayed_at", got.ReplayedAt, ptr(at(time.Hour)))
	if got.ReplayResult != "delivered to subscription/sub_1" {
		t.Errorf("replay_result %q", got.ReplayResult)
	}
	if _, err := db.MarkQuarantineReplayed(ctx, "evt_nope", "x", at(0)); !errors.Is(err, payflow.ErrNotFound) {
		t.Errorf("mark a missing event: %v, want ErrNotFound", err)
	}
}
