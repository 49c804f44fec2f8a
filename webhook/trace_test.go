package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/internal/tracelog"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/webhook"
)

// spanHandoff records the span of the context it is handed.
type spanHandoff struct {
	recorder
	spans []trace.SpanContext
}

func (h *spanHandoff) Deliver(ctx context.Context, r routing.Route, id string, ev payflow.Event) (bool, error) {
	h.spans = append(h.spans, trace.SpanContextFromContext(ctx))
	return h.recorder.Deliver(ctx, r, id, ev)
}

func tracedServer(t *testing.T, h webhook.Handoff, logs *bytes.Buffer) (*webhook.Server, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	s := newServer(h, secretNew)
	s.Tracer = tp.Tracer("test")
	s.Log = slog.New(tracelog.Handler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return s, exp
}

// Each webhook request is a server span, "POST /webhooks/stripe", with the
// event and the outcome on it; the hand-off runs inside it (its
// SignalWithStart is the span's child), and the request's log lines carry
// its trace and span IDs.
func TestRequestSpan(t *testing.T) {
	var logs bytes.Buffer
	h := &spanHandoff{}
	s, exp := tracedServer(t, h, &logs)
	body := event(t, "payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_traced"})
	var ev struct{ ID, Type string }
	_ = json.Unmarshal(body, &ev)
	if r := post(t, s, "POST", body, sign(body, secretNew)); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	sp := spans[0]
	if sp.Name != "POST "+webhook.Path || sp.SpanKind != trace.SpanKindServer || sp.Parent.IsValid() {
		t.Errorf("span %q kind %v parent %v", sp.Name, sp.SpanKind, sp.Parent)
	}
	attrs := map[string]string{}
	for _, a := range sp.Attributes {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	for k, want := range map[string]string{"stripe.event.id": ev.ID, "stripe.event.type": "payment_intent.succeeded",
		"payflow.workflow_id": "order/pi_traced", "payflow.outcome": "accepted", "http.response.status_code": "200",
		"http.request.method": "POST", "http.route": webhook.Path} {
		if attrs[k] != want {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], want)
		}
	}
	if len(h.spans) != 1 || !h.spans[0].Equal(sp.SpanContext) {
		t.Errorf("hand-off ran in span %v, want the request's %v", h.spans, sp.SpanContext)
	}
	line := logs.String()
	if !strings.Contains(line, `"msg":"event accepted"`) || !strings.Contains(line, `"trace_id":"`+sp.SpanContext.TraceID().String()+`"`) ||
		!strings.Contains(line, `"span_id":"`+sp.SpanContext.SpanID().String()+`"`) {
		t.Errorf("request log line without the span's IDs:\n%s", line)
	}
}

// A 503 (Temporal unavailable) marks the span as an error; a 400 (a bad
// signature: the sender's fault) does not. A traceparent sent by anyone
// is a link, never the parent: every delivery starts its own trace.
func TestRequestSpanStatus(t *testing.T) {
	var logs bytes.Buffer
	h := &spanHandoff{}
	h.err = errors.New("temporal down")
	s, exp := tracedServer(t, h, &logs)
	body := event(t, "payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_down"})
	if r := post(t, s, "POST", body, sign(body, secretNew)); r.status != 503 {
		t.Fatalf("status %d", r.status)
	}
	if r := post(t, s, "POST", body, sign(body, secretBad)); r.status != 400 {
		t.Fatalf("status %d", r.status)
	}
	req := httptest.NewRequest("POST", webhook.Path, bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", sign(body, secretNew))
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if _, err := s.App().Test(req, -1); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans", len(spans))
	}
	if spans[0].Status.Code.String() != "Error" || spans[1].Status.Code.String() == "Error" {
		t.Errorf("503 status %v, 400 status %v", spans[0].Status, spans[1].Status)
	}
	if !strings.Contains(logs.String(), `"msg":"webhook rejected"`) || !strings.Contains(logs.String(), spans[1].SpanContext.TraceID().String()) {
		t.Errorf("rejection logged without its trace ID:\n%s", logs.String())
	}
	linked := spans[2]
	if linked.Parent.IsValid() || linked.SpanContext.TraceID().String() == "4bf92f3577b34da6a3ce929d0e0e4736" ||
		len(linked.Links) != 1 || linked.Links[0].SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("incoming traceparent: parent %v trace %v links %v", linked.Parent, linked.SpanContext.TraceID(), linked.Links)
	}
}

// Without a Tracer nothing is traced and the hand-off sees no span.
func TestNoTracerNoSpan(t *testing.T) {
	h := &spanHandoff{}
	s := newServer(h, secretNew)
	body := event(t, "payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_plain"})
	if r := post(t, s, "POST", body, sign(body, secretNew)); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	if len(h.spans) != 1 || h.spans[0].IsValid() {
		t.Errorf("span without a tracer: %v", h.spans)
	}
}
