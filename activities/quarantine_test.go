package activities_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/routing"
)

func quarantinedCount(t *testing.T, m *activities.Metrics, reason string) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Quarantined.WithLabelValues(reason).Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetCounter().GetValue()
}

// StoreQuarantined writes the row once and counts it once, however often
// it runs; the payload comes out as Stripe sent it, compressed or not.
func TestStoreQuarantined(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	a := newActivities(db)
	a.Metrics = activities.NewMetrics(prometheus.NewRegistry())
	raw := append([]byte(`{"id":"evt_sq","type":"invoice.paid","api_version":"2099-01-01.zeta","x":"`),
		bytes.Repeat([]byte("y"), routing.QuarantineInlineMax)...)
	raw = append(raw, `"}`...)
	data, enc, err := routing.PackQuarantinePayload(raw)
	if err != nil || enc != routing.PayloadGzip {
		t.Fatalf("pack: %q, %v", enc, err)
	}
	in := routing.QuarantineInput{EventID: "evt_sq", Type: "invoice.paid", APIVersion: "2099-01-01.zeta", Account: "acct_9",
		Reason: "unknown_api_version", Detail: "newer", ReceivedAt: fixedNow.Add(-time.Minute), Payload: data, PayloadEncoding: enc}
	for i, want := range []bool{true, false, false} {
		stored, err := a.StoreQuarantined(ctx, in)
		if err != nil || stored != want {
			t.Fatalf("call %d: %v, %v; want %v", i+1, stored, err, want)
		}
	}
	if n := quarantinedCount(t, a.Metrics, "unknown_api_version"); n != 1 {
		t.Errorf("payflow_events_quarantined_total = %v, want 1", n)
	}
	row, err := db.GetQuarantined(ctx, "evt_sq")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(row.Payload, raw) || row.Account != "acct_9" || !row.ReceivedAt.Equal(in.ReceivedAt) {
		t.Errorf("row: account %q, received %v, payload equal %v", row.Account, row.ReceivedAt, bytes.Equal(row.Payload, raw))
	}
	if _, err := a.StoreQuarantined(ctx, routing.QuarantineInput{Payload: []byte("{}")}); err == nil {
		t.Error("no error for an event without ID")
	}
}

// The alert goes to ALERT_EMAIL through the ledger under quarantine/<evt>,
// with the words operators need: what, why, and the commands.
func TestQuarantineAlertRendering(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	a := newActivities(db)
	in := routing.QuarantineInput{EventID: "evt_al", Type: "customer.subscription.updated", APIVersion: "2099-01-01.zeta",
		Reason: "unknown_api_version", Detail: `api_version "2099-01-01.zeta": too new`, ReceivedAt: fixedNow}
	alert := activities.QuarantineAlert(in)
	if alert.DedupeKey != "quarantine/evt_al" || !alert.ToOperator || alert.Purpose != activities.PurposeOperatorQuarantined {
		t.Fatalf("alert %+v", alert)
	}
	for range 2 {
		if err := a.SendEmail(ctx, alert); err != nil {
			t.Fatal(err)
		}
	}
	row := ledger(t, db, "quarantine/evt_al")
	if row.To != alertAddr || row.Status != payflow.EmailOutbox {
		t.Errorf("ledger row to %q, status %s", row.To, row.Status)
	}
	for _, want := range []string{"evt_al", "unknown_api_version"} {
		if !strings.Contains(row.Subject, want) {
			t.Errorf("subject %q lacks %q", row.Subject, want)
		}
	}
	for _, want := range []string{"customer.subscription.updated", "API version 2099-01-01.zeta", "too new", "2024-03-01 12:00:00 UTC",
		"payflow quarantine show evt_al", "payflow quarantine replay evt_al"} {
		if !strings.Contains(row.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, row.Body)
		}
	}
	if strings.Contains(row.Body, "account") {
		t.Errorf("a platform event names no account:\n%s", row.Body)
	}
}
