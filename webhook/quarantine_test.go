package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.temporal.io/api/serviceerror"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/webhook"
)

// quarantineRecorder is a Handoff that can also quarantine: it remembers
// what it was handed and can fail or answer duplicate.
type quarantineRecorder struct {
	recorder
	qmu         sync.Mutex
	quarantined []routing.QuarantineInput
	qerr        error
	qduplicate  bool
}

func (r *quarantineRecorder) Quarantine(ctx context.Context, in routing.QuarantineInput) (bool, error) {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	if r.qerr != nil {
		return false, r.qerr
	}
	r.quarantined = append(r.quarantined, in)
	return r.qduplicate, nil
}

// Quarantine makes every recorder a Quarantiner too (the fuzz test's
// among them): the quarantine run's ID counts as delivered.
func (r *recorder) Quarantine(ctx context.Context, in routing.QuarantineInput) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return false, r.err
	}
	r.delivered = append(r.delivered, routing.WorkflowID(in.Account, routing.KindQuarantine, in.EventID))
	return r.duplicate, nil
}

// deliverOnly is a Handoff that cannot quarantine.
type deliverOnly struct{}

func (deliverOnly) Deliver(context.Context, routing.Route, string, payflow.Event) (bool, error) {
	return false, errors.New("not expected")
}

func (r *quarantineRecorder) inputs() []routing.QuarantineInput {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	return append([]routing.QuarantineInput(nil), r.quarantined...)
}

// futureEvent is a real, signed invoice.paid of an API version payflow
// does not know (a release after the newest it reads).
func futureEvent(t *testing.T) []byte {
	t.Helper()
	body := event(t, "invoice.paid", fixtures.Options{CustomerID: "cus_q", SubscriptionID: "sub_q", InvoiceID: "in_q"})
	out := bytes.Replace(body, []byte(`"`+fixtures.APIVersion+`"`), []byte(`"2099-01-01.zeta"`), 1)
	if bytes.Equal(out, body) {
		t.Fatal("fixture carries no api_version to replace")
	}
	return out
}

// deliveryCount reads payflow_webhook_deliveries_total{type,outcome}.
func deliveryCount(t *testing.T, m *webhook.Metrics, typ, outcome string) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Deliveries.WithLabelValues(typ, outcome).Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetCounter().GetValue()
}

// An event payflow cannot interpret is handed to quarantine/<evt> with its
// raw payload and answered 200 quarantined: neither a 400 (Stripe would
// retry it for days, then drop it) nor a silent 200.
func TestUninterpretableEventIsQuarantined(t *testing.T) {
	body := futureEvent(t)
	var envelope struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		t.Fatal(err)
	}
	h := &quarantineRecorder{}
	srv := newServer(h, secretOld)
	srv.Metrics = webhook.NewMetrics(prometheus.NewRegistry())
	var logs bytes.Buffer
	srv.Log = slog.New(slog.NewJSONHandler(&logs, nil))

	r := post(t, srv, http.MethodPost, body, sign(body, secretOld))
	if r.status != 200 || r.body["received"] != true || r.body["quarantined"] != webhook.ReasonUnknownAPIVersion || r.body["duplicate"] != nil {
		t.Fatalf("answer %d %v; want 200 {received:true, quarantined:%s}", r.status, r.body, webhook.ReasonUnknownAPIVersion)
	}
	if len(h.delivered) != 0 {
		t.Errorf("delivered to %v: an event payflow cannot read must reach no workflow", h.delivered)
	}
	got := h.inputs()
	if len(got) != 1 {
		t.Fatalf("quarantined %d times, want 1", len(got))
	}
	in := got[0]
	raw, err := in.RawPayload()
	if err != nil || !bytes.Equal(raw, body) {
		t.Errorf("payload differs from the body Stripe sent (err %v)", err)
	}
	if in.EventID != envelope.ID || in.Type != "invoice.paid" || in.APIVersion != "2099-01-01.zeta" ||
		in.Reason != webhook.ReasonUnknownAPIVersion || !strings.Contains(in.Detail, "2099-01-01.zeta") || in.ReceivedAt.IsZero() {
		t.Errorf("quarantine input %+v", in)
	}
	if n := deliveryCount(t, srv.Metrics, "invoice.paid", "quarantined"); n != 1 {
		t.Errorf("deliveries{outcome=quarantined} = %v, want 1", n)
	}
	var line map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil && strings.Contains(m["msg"].(string), "quarantined") {
			line = m
		}
	}
	if line == nil || line["level"] != "ERROR" || line["event_id"] != envelope.ID || line["type"] != "invoice.paid" ||
		line["api_version"] != "2099-01-01.zeta" || line["reason"] != webhook.ReasonUnknownAPIVersion ||
		line["workflow_id"] != routing.QuarantineID(envelope.ID) {
		t.Errorf("want an error-level log line with event_id, type, api_version, reason; got %v\n%s", line, logs.String())
	}
}

// Whatever the decoder finds uninterpretable takes the same path (here a
// handled type missing what routing needs, through the Decode seam); the
// hand-off's answers map as for any other event: unavailable 503, refused
// 400, duplicate 200.
func TestQuarantineAnswers(t *testing.T) {
	body := event(t, "customer.subscription.updated", fixtures.Options{CustomerID: "cus_m", SubscriptionID: "sub_m"})
	missing := func(payload []byte) (payflow.Event, error) {
		ev, err := webhook.Decode(payload)
		if err != nil {
			t.Fatalf("fixture does not decode: %v", err)
		}
		return payflow.Event{ID: ev.ID, Type: ev.Type, APIVersion: ev.APIVersion, Account: "acct_m"},
			&webhook.Uninterpretable{Reason: webhook.ReasonMissingFields, Detail: "subscription: no id"}
	}
	cases := []struct {
		name        string
		handoff     webhook.Handoff
		status      int
		quarantined bool
		duplicate   bool
		outcome     string
	}{
		{"accepted", &quarantineRecorder{}, 200, true, false, "quarantined"},
		{"duplicate", &quarantineRecorder{qduplicate: true}, 200, true, true, "duplicate"},
		{"temporal unavailable", &quarantineRecorder{qerr: errors.New("connection refused")}, 503, false, false, "unavailable"},
		{"temporal refuses", &quarantineRecorder{qerr: serviceerror.NewInvalidArgument("blob size exceeds limit")}, 400, false, false, "rejected_invalid_argument"},
		// A hand-off that cannot quarantine keeps the event in Stripe's
		// retries rather than dropping it.
		{"no quarantine", deliverOnly{}, 503, false, false, "unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(tc.handoff, secretOld)
			srv.Decode = missing
			srv.Metrics = webhook.NewMetrics(prometheus.NewRegistry())
			r := post(t, srv, http.MethodPost, body, sign(body, secretOld))
			if r.status != tc.status {
				t.Fatalf("status %d %v, want %d", r.status, r.body, tc.status)
			}
			if tc.status == 503 && r.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if tc.quarantined != (r.body["quarantined"] == webhook.ReasonMissingFields) || tc.duplicate != (r.body["duplicate"] == true) {
				t.Errorf("body %v", r.body)
			}
			if n := deliveryCount(t, srv.Metrics, "customer.subscription.updated", tc.outcome); n != 1 {
				t.Errorf("deliveries{outcome=%s} = %v, want 1", tc.outcome, n)
			}
			if q, ok := tc.handoff.(*quarantineRecorder); ok && tc.status == 200 {
				in := q.inputs()[0]
				if in.Reason != webhook.ReasonMissingFields || in.Detail != "subscription: no id" || in.Account != "acct_m" {
					t.Errorf("input %+v", in)
				}
			}
		})
	}
}

// A type payflow does not handle is ignored as unhandled in any version:
// it would do nothing with it even if it could read it.
func TestUninterpretableUnhandledTypeIsIgnored(t *testing.T) {
	body := bytes.Replace(futureEvent(t), []byte(`"invoice.paid"`), []byte(`"invoice.upcoming"`), 1)
	h := &quarantineRecorder{}
	srv := newServer(h, secretOld)
	srv.Metrics = webhook.NewMetrics(prometheus.NewRegistry())
	r := post(t, srv, http.MethodPost, body, sign(body, secretOld))
	if r.status != 200 || r.body["ignored"] != "unhandled event type" || r.body["quarantined"] != nil {
		t.Fatalf("answer %d %v; want 200 ignored", r.status, r.body)
	}
	if len(h.inputs()) != 0 || len(h.delivered) != 0 {
		t.Errorf("quarantined %v, delivered %v", h.inputs(), h.delivered)
	}
	if n := deliveryCount(t, srv.Metrics, "other", "unhandled"); n != 1 {
		t.Errorf("deliveries{outcome=unhandled} = %v, want 1", n)
	}
}

// A body above the inline limit (a WEBHOOK_MAX_BODY raised above the
// default) is quarantined compressed, and comes back byte for byte.
func TestQuarantineLargeBody(t *testing.T) {
	body := futureEvent(t)
	big := append(bytes.TrimRight(body, "\n }"), []byte(`,"padding":"`+strings.Repeat("x", routing.QuarantineInlineMax)+`"}`)...)
	h := &quarantineRecorder{}
	srv := newServer(h, secretOld)
	srv.BodyLimit = 4 << 20
	r := post(t, srv, http.MethodPost, big, sign(big, secretOld))
	if r.status != 200 || r.body["quarantined"] != webhook.ReasonUnknownAPIVersion {
		t.Fatalf("answer %d %v", r.status, r.body)
	}
	in := h.inputs()[0]
	raw, err := in.RawPayload()
	if in.PayloadEncoding != routing.PayloadGzip || err != nil || !bytes.Equal(raw, big) {
		t.Errorf("encoding %q, %d bytes carried, err %v; want gzip of the %d-byte body", in.PayloadEncoding, len(in.Payload), err, len(big))
	}
}
