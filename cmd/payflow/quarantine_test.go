package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/store"
	"github.com/payflow/payflow/webhook"
)

// fakeHandoff records what reconcile and replay hand to Temporal.
type fakeHandoff struct {
	mu          sync.Mutex
	delivered   []string // workflow IDs
	quarantined []routing.QuarantineInput
	err         error
	duplicate   bool
}

func (f *fakeHandoff) Deliver(_ context.Context, _ routing.Route, id string, _ payflow.Event) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	f.delivered = append(f.delivered, id)
	return f.duplicate, nil
}

func (f *fakeHandoff) Quarantine(_ context.Context, in routing.QuarantineInput) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return false, f.err
	}
	f.quarantined = append(f.quarantined, in)
	return f.duplicate, nil
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func quarantineDB(t *testing.T) (string, *store.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "payflow.db")
	if _, err := store.Migrate(t.Context(), path); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return path, db
}

// withVersion renders a real event of typ with another api_version.
func withVersion(t *testing.T, typ string, o fixtures.Options, version string) []byte {
	t.Helper()
	b, err := fixtures.Build(typ, o)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Replace(b, []byte(`"`+fixtures.APIVersion+`"`), []byte(`"`+version+`"`), 1)
}

func eventID(t *testing.T, payload []byte) string {
	t.Helper()
	id, _ := envelopeOf(t, payload)
	return id
}

func envelopeOf(t *testing.T, payload []byte) (id, apiVersion string) {
	t.Helper()
	var v struct {
		ID         string `json:"id"`
		APIVersion string `json:"api_version"`
	}
	if err := json.Unmarshal(payload, &v); err != nil || v.ID == "" {
		t.Fatalf("no event ID in %s", payload)
	}
	return v.ID, v.APIVersion
}

// keep stores payload in quarantine as the quarantine workflow would have,
// as if an older payflow had found it uninterpretable.
func keep(t *testing.T, db *store.DB, payload []byte, typ string, received time.Time) string {
	t.Helper()
	id, version := envelopeOf(t, payload)
	if _, err := db.InsertQuarantined(t.Context(), payflow.QuarantinedEvent{EventID: id, Type: typ, APIVersion: version,
		Reason: "unknown_api_version", Detail: "an older payflow did not know it", Payload: payload, ReceivedAt: received}); err != nil {
		t.Fatal(err)
	}
	return id
}

// Replay decodes the stored payload with this binary: what decodes now is
// handed on as reconcile does and marked replayed with the result; what
// does not is left, with the reason.
func TestReplayQuarantined(t *testing.T) {
	ctx := t.Context()
	_, db := quarantineDB(t)
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	fresh := keep(t, db, withVersion(t, "payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_replay"}, fixtures.APIVersion),
		"payment_intent.succeeded", now)
	applied := keep(t, db, withVersion(t, "payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_applied"}, fixtures.APIVersion),
		"payment_intent.succeeded", now)
	if _, err := db.MarkEventApplied(ctx, payflow.AppliedEvent{EventID: applied, Type: "payment_intent.succeeded", Owner: "order/pi_applied@run"}); err != nil {
		t.Fatal(err)
	}
	unhandledBody := bytes.Replace(withVersion(t, "payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_unh"}, fixtures.APIVersion),
		[]byte(`"payment_intent.succeeded"`), []byte(`"payment_intent.created"`), 1)
	unhandled := keep(t, db, unhandledBody, "payment_intent.created", now)
	future := keep(t, db, withVersion(t, "invoice.paid", fixtures.Options{SubscriptionID: "sub_f", InvoiceID: "in_f"}, "2099-01-01.zeta"),
		"invoice.paid", now)
	down := keep(t, db, withVersion(t, "payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_down"}, fixtures.APIVersion),
		"payment_intent.succeeded", now)

	h := &fakeHandoff{}
	for _, tc := range []struct {
		id, outcome, result string
		handoff             *fakeHandoff
		marked              bool
	}{
		{fresh, replayHandedOn, "delivered to order/pi_replay", h, true},
		{fresh, replayAlready, "delivered to order/pi_replay", h, true}, // twice: nothing more
		{applied, replayHandedOn, "duplicate: applied before (order/pi_applied)", h, true},
		{unhandled, replayHandedOn, "nothing to do: event type payment_intent.created not handled", h, true},
		{future, replayUninterpretable, "unknown_api_version", h, false},
		{down, replayFailed, "hand-off to order/pi_down failed: temporal unavailable", &fakeHandoff{err: errors.New("temporal unavailable")}, false},
		{"evt_nowhere", replayNotFound, "no such event", h, false},
	} {
		rep, err := replayQuarantined(ctx, db, tc.handoff, webhook.Acceptance{}, tc.id, now)
		if err != nil {
			t.Fatalf("%s: %v", tc.id, err)
		}
		if rep.Outcome != tc.outcome || !strings.Contains(rep.Result, tc.result) {
			t.Errorf("%s: %s, want %s: …%s…", tc.id, rep, tc.outcome, tc.result)
		}
		if tc.outcome == replayNotFound {
			continue
		}
		q, err := db.GetQuarantined(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if (q.ReplayedAt != nil) != tc.marked || (tc.marked && !strings.Contains(q.ReplayResult, tc.result)) {
			t.Errorf("%s: replayed_at %v, result %q; want marked %v", tc.id, q.ReplayedAt, q.ReplayResult, tc.marked)
		}
	}
	if got := strings.Join(h.delivered, ","); got != "order/pi_replay" {
		t.Errorf("delivered %s; want only order/pi_replay, once", got)
	}
}

// reconcile keeps what it cannot interpret in quarantine, as the receiver
// does, instead of failing on it every run.
func TestReconcileQuarantines(t *testing.T) {
	_, db := quarantineDB(t)
	events := [][]byte{
		withVersion(t, "payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_rq"}, fixtures.APIVersion),
		withVersion(t, "invoice.paid", fixtures.Options{SubscriptionID: "sub_rq", InvoiceID: "in_rq"}, "2099-01-01.zeta"),
		// A type payflow does not handle, in any version: unhandled.
		bytes.Replace(withVersion(t, "invoice.paid", fixtures.Options{SubscriptionID: "sub_rq", InvoiceID: "in_rq2"}, "2099-01-01.zeta"),
			[]byte(`"invoice.paid"`), []byte(`"invoice.upcoming"`), 1),
	}
	h := &fakeHandoff{}
	sum, err := reconcile(t.Context(), listerOf(events), db, h, webhook.Acceptance{}, time.Now().Add(-time.Hour), nil, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	if sum != (ReconcileSummary{Found: 3, New: 1, Unhandled: 1, Quarantined: 1}) {
		t.Errorf("summary %+v", sum)
	}
	if len(h.quarantined) != 1 || h.quarantined[0].EventID != eventID(t, events[1]) || h.quarantined[0].Reason != webhook.ReasonUnknownAPIVersion {
		t.Fatalf("quarantined %+v", h.quarantined)
	}
	if raw, _ := h.quarantined[0].RawPayload(); !bytes.Equal(raw, events[1]) {
		t.Error("quarantined payload differs from Stripe's")
	}
	// Quarantined before: a duplicate.
	h.duplicate = true
	sum, err = reconcile(t.Context(), listerOf(events[1:2]), db, h, webhook.Acceptance{}, time.Now().Add(-time.Hour), nil, quietLog)
	if err != nil || sum != (ReconcileSummary{Found: 1, Duplicate: 1}) {
		t.Errorf("second run: %+v, %v", sum, err)
	}
}

// An event quarantined because the deployment did not accept it (a
// connected account, the wrong mode) is replayed under the configuration
// of the moment: still refused, it stays with the reason printed; once
// accepted, it goes to its account's workflow.
func TestReplayChecksAcceptance(t *testing.T) {
	ctx := t.Context()
	_, db := quarantineDB(t)
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	build := func(o fixtures.Options) []byte {
		b, err := fixtures.Build("customer.subscription.updated", o)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	connected := keep(t, db, build(fixtures.Options{SubscriptionID: "sub_acc", Account: "acct_Later"}), "customer.subscription.updated", now)
	live := keep(t, db, build(fixtures.Options{SubscriptionID: "sub_live", Livemode: true}), "customer.subscription.updated", now)
	h := &fakeHandoff{}
	for _, tc := range []struct {
		name, id string
		accept   webhook.Acceptance
		outcome  string
		result   string
	}{
		{"platform only", connected, webhook.Acceptance{}, replayNotAccepted, "account_not_accepted: connected account acct_Later: STRIPE_ACCOUNTS is unset"},
		{"another account listed", connected, webhook.Acceptance{Accounts: []string{"acct_Other"}}, replayNotAccepted, "account_not_accepted: connected account acct_Later is not in STRIPE_ACCOUNTS"},
		{"test deployment", live, webhook.Acceptance{Livemode: webhook.LivemodeTest}, replayNotAccepted, "livemode_mismatch"},
		{"account now listed", connected, webhook.Acceptance{Accounts: []string{"acct_Other", "acct_Later"}}, replayHandedOn, "delivered to acct_Later/subscription/sub_acc"},
		{"any mode", live, webhook.Acceptance{Livemode: webhook.LivemodeAny}, replayHandedOn, "delivered to subscription/sub_live"},
	} {
		rep, err := replayQuarantined(ctx, db, h, tc.accept, tc.id, now)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if rep.Outcome != tc.outcome || !strings.Contains(rep.Result, tc.result) {
			t.Errorf("%s: %s, want %s: …%s…", tc.name, rep, tc.outcome, tc.result)
		}
		q, err := db.GetQuarantined(ctx, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if marked := q.ReplayedAt != nil; marked != (tc.outcome == replayHandedOn) {
			t.Errorf("%s: replayed_at %v after %s", tc.name, q.ReplayedAt, rep.Outcome)
		}
	}
	if got := strings.Join(h.delivered, ","); got != "acct_Later/subscription/sub_acc,subscription/sub_live" {
		t.Errorf("delivered %s", got)
	}
	// The printed line says why; still refused is no failure of the command.
	var out bytes.Buffer
	other := keep(t, db, build(fixtures.Options{SubscriptionID: "sub_acc2", Account: "acct_Never"}), "customer.subscription.updated", now)
	if err := replayAll(ctx, db, h, webhook.Acceptance{}, []string{other}, &out, quietLog); err != nil {
		t.Fatalf("replay of an event still not accepted failed the command: %v", err)
	}
	if want := other + ": not_accepted: account_not_accepted: connected account acct_Never"; !strings.Contains(out.String(), want) {
		t.Errorf("replay printed %q, want …%s…", out.String(), want)
	}
}

// reconcile holds the events it lists against the deployment's
// acceptance: the wrong mode is quarantined as the receiver does.
func TestReconcileQuarantinesTheWrongMode(t *testing.T) {
	_, db := quarantineDB(t)
	ev, err := fixtures.Build("payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_live", Livemode: true})
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHandoff{}
	sum, err := reconcile(t.Context(), listerOf([][]byte{ev}), db, h, webhook.Acceptance{Livemode: webhook.LivemodeTest}, time.Now().Add(-time.Hour), nil, quietLog)
	if err != nil {
		t.Fatal(err)
	}
	if sum != (ReconcileSummary{Found: 1, Quarantined: 1}) || len(h.delivered) != 0 {
		t.Fatalf("summary %+v, delivered %v", sum, h.delivered)
	}
	if len(h.quarantined) != 1 || h.quarantined[0].Reason != webhook.ReasonLivemodeMismatch || !h.quarantined[0].Livemode {
		t.Fatalf("quarantined %+v", h.quarantined)
	}
}

type listerOf [][]byte

func (l listerOf) ListEvents(_ context.Context, _ time.Time, _ []string, each func([]byte) error) error {
	for _, raw := range l {
		if err := each(raw); err != nil {
			return err
		}
	}
	return nil
}

// list and show read the table; replay's argument errors come before any
// connection.
func TestQuarantineListAndShow(t *testing.T) {
	path, db := quarantineDB(t)
	t0 := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	future := keep(t, db, withVersion(t, "invoice.paid", fixtures.Options{SubscriptionID: "sub_s", InvoiceID: "in_s"}, "2099-01-01.zeta"), "invoice.paid", t0)
	other := eventID(t, withVersion(t, "customer.subscription.updated", fixtures.Options{SubscriptionID: "sub_m"}, fixtures.APIVersion))
	if _, err := db.InsertQuarantined(t.Context(), payflow.QuarantinedEvent{EventID: other, Type: "customer.subscription.updated",
		Reason: "missing_fields", Payload: []byte(`{"id":"` + other + `"}`), ReceivedAt: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := runQuarantine(t.Context(), append(args, "-database", path), &out); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}
	list := run("list")
	if !strings.Contains(list, "EVENT") || strings.Index(list, other) > strings.Index(list, future) || !strings.Contains(list, "2099-01-01.zeta") {
		t.Errorf("list, newest first:\n%s", list)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(run("list", "-json", "-reason", "unknown_api_version")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0]["event_id"] != future || rows[0]["replayed_at"] != nil || rows[0]["payload_bytes"].(float64) == 0 {
		t.Errorf("list -json -reason: %v", rows)
	}
	show := run("show", future)
	for _, want := range []string{"event:", future, "reason:", "unknown_api_version", "replayed:", "not yet", "\n{\n  \"id\": \"" + future + "\""} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(run("show", "-json", future)), &doc); err != nil {
		t.Fatal(err)
	}
	if payload, ok := doc["payload"].(map[string]any); !ok || payload["id"] != future {
		t.Errorf("show -json payload: %v", doc["payload"])
	}
	var out bytes.Buffer
	if err := runQuarantine(t.Context(), []string{"show", "-database", path, "evt_none"}, &out); err == nil || !strings.Contains(err.Error(), "no event evt_none") {
		t.Errorf("show of a missing event: %v", err)
	}
	for _, args := range [][]string{{"replay"}, {"replay", "-all", future}, {"replay", "a", "b"}, {"nope"}, {}} {
		if err := runQuarantine(t.Context(), args, &out); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
