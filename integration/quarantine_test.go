package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
)

// An event of an API version payflow does not know is acknowledged and
// kept, not answered 400 nor ignored: quarantine/<evt> stores it whole,
// counts it and alerts the operator once; a redelivery is a duplicate;
// `payflow quarantine` lists and shows it, and replay leaves it while this
// payflow still cannot read it. An event an older payflow quarantined and
// this one reads is handed on by replay to its order, once.
func TestQuarantineUnknownAPIVersion(t *testing.T) {
	body := build(t, "invoice.paid", fixtures.Options{CustomerID: "cus_quarantine", SubscriptionID: "sub_quarantine", InvoiceID: "in_quarantine"})
	body = bytes.Replace(body, []byte(`"`+fixtures.APIVersion+`"`), []byte(`"2099-01-01.zeta"`), 1)
	var env struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	evt := env.ID
	wf := routing.QuarantineID(evt)

	status, answer := deliver(t, body)
	if status != 200 || answer["received"] != true || answer["quarantined"] != "unknown_api_version" {
		t.Fatalf("answered %d %v; want 200 {received:true, quarantined:unknown_api_version}", status, answer)
	}
	waitCompleted(t, wf)
	row, err := sys.db.GetQuarantined(context.Background(), evt)
	if err != nil {
		t.Fatalf("quarantine row: %v", err)
	}
	if !bytes.Equal(row.Payload, body) || row.Type != "invoice.paid" || row.APIVersion != "2099-01-01.zeta" ||
		row.Reason != "unknown_api_version" || !strings.Contains(row.Detail, "2099-01-01.zeta") || row.ReplayedAt != nil {
		t.Errorf("row %+v (payload equal: %v)", row, bytes.Equal(row.Payload, body))
	}
	waitFor(t, 30*time.Second, "the operator alert", func() (bool, string) {
		got := sentWith(wf)
		return got[wf] == 1, fmt.Sprint(got)
	})
	// Stripe delivers it again (our 200 got lost): a duplicate, nothing new.
	status, answer = deliver(t, body)
	if status != 200 || answer["duplicate"] != true || answer["quarantined"] != "unknown_api_version" {
		t.Fatalf("redelivery answered %d %v; want 200 duplicate quarantined", status, answer)
	}
	if _, err := sys.temporal.DescribeWorkflowExecution(context.Background(), routing.SubscriptionID("sub_quarantine"), ""); err == nil {
		t.Error("an event payflow cannot read reached its subscription workflow")
	}

	metrics := scrape(t)
	for _, re := range []string{
		`payflow_events_quarantined_total\{reason="unknown_api_version"\} 1\b`,
		`payflow_webhook_deliveries_total\{outcome="quarantined",type="invoice.paid"\} [1-9]`,
		`payflow_emails_total\{outcome="sent",purpose="operator_quarantined_event"\} [1-9]`,
	} {
		if !regexp.MustCompile(re).MatchString(metrics) {
			t.Errorf("/metrics lacks %s", re)
		}
	}

	dbEnv := []string{"DATABASE_URL=" + sys.dbURL}
	out, err := runPayflow(t, dbEnv, "quarantine", "list", "-json", "-reason", "unknown_api_version")
	if err != nil || !strings.Contains(out, `"event_id": "`+evt+`"`) {
		t.Fatalf("quarantine list: %v\n%s", err, out)
	}
	out, err = runPayflow(t, dbEnv, "quarantine", "show", evt)
	if err != nil || !strings.Contains(out, "unknown_api_version") || !strings.Contains(out, `"api_version": "2099-01-01.zeta"`) {
		t.Fatalf("quarantine show: %v\n%s", err, out)
	}

	// Replay with this binary: still not readable, so left as it is.
	temporalEnv := append(dbEnv, "TEMPORAL_ADDRESS="+sys.temporalAdr, "TEMPORAL_NAMESPACE=default")
	out, err = runPayflow(t, temporalEnv, "quarantine", "replay", evt)
	if err != nil || !strings.Contains(out, evt+": uninterpretable: event not interpretable: unknown_api_version") {
		t.Fatalf("replay of an unreadable event: %v\n%s", err, out)
	}
	if row, _ := sys.db.GetQuarantined(context.Background(), evt); row.ReplayedAt != nil {
		t.Errorf("replay marked an unreadable event replayed: %+v", row)
	}

	// An event an older payflow quarantined (its version unknown to it)
	// and this one reads: replay hands it to order/<pi> like reconcile.
	paid := build(t, "payment_intent.succeeded", fixtures.Options{CustomerID: "cus_quarantine", PaymentIntentID: "pi_quarantine", ProductID: "prod_quarantine"})
	var paidEnv struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(paid, &paidEnv); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.db.InsertQuarantined(context.Background(), payflow.QuarantinedEvent{EventID: paidEnv.ID, Type: "payment_intent.succeeded",
		APIVersion: fixtures.APIVersion, Reason: "unknown_api_version", Detail: "an older payflow", Payload: paid, ReceivedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	out, err = runPayflow(t, temporalEnv, "quarantine", "replay", "-all")
	if err != nil || !strings.Contains(out, paidEnv.ID+": replayed: delivered to order/pi_quarantine") ||
		!regexp.MustCompile(`replayed [1-9]\d*, still uninterpretable [1-9]`).MatchString(out) {
		t.Fatalf("replay -all: %v\n%s", err, out)
	}
	waitCompleted(t, routing.OrderID("pi_quarantine"))
	waitAccess(t, "cus_quarantine", "prod_quarantine", payflow.AccessGranted)
	row, err = sys.db.GetQuarantined(context.Background(), paidEnv.ID)
	if err != nil || row.ReplayedAt == nil || row.ReplayResult != "delivered to order/pi_quarantine" {
		t.Fatalf("replayed row %+v, %v", row, err)
	}
	// Twice is harmless: already replayed, nothing handed on.
	out, err = runPayflow(t, temporalEnv, "quarantine", "replay", paidEnv.ID)
	if err != nil || !strings.Contains(out, "already_replayed") {
		t.Fatalf("second replay: %v\n%s", err, out)
	}
	if got := sentWith("order/pi_quarantine/"); len(got) != 1 {
		t.Errorf("receipts %v, want one", got)
	}
	if got := sentWith(wf); got[wf] != 1 {
		t.Errorf("quarantine alerts %v, want exactly one", got)
	}
}

func scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(sys.metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
