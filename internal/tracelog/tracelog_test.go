package tracelog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func spanContext(t *testing.T) (context.Context, trace.SpanContext) {
	t.Helper()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	return trace.ContextWithSpanContext(context.Background(), sc), sc
}

func lines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// A line logged with a span's context carries its IDs; one without a
// span, or without a context, does not.
func TestHandlerAddsTraceIDs(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(Handler(slog.NewJSONHandler(&b, nil))).With("component", "receiver")
	ctx, sc := spanContext(t)
	log.InfoContext(ctx, "in a span", "event_id", "evt_1")
	log.InfoContext(context.Background(), "no span")
	log.Info("no context")
	got := lines(t, &b)
	if got[0][TraceIDKey] != sc.TraceID().String() || got[0][SpanIDKey] != sc.SpanID().String() || got[0]["event_id"] != "evt_1" || got[0]["component"] != "receiver" {
		t.Errorf("line in a span: %v", got[0])
	}
	for _, l := range got[1:] {
		if _, ok := l[TraceIDKey]; ok {
			t.Errorf("line without a span has a trace_id: %v", l)
		}
	}
}

// With binds the IDs once; the handler does not add them a second time.
func TestWithBindsOnce(t *testing.T) {
	var b bytes.Buffer
	ctx, sc := spanContext(t)
	log := With(slog.New(Handler(slog.NewJSONHandler(&b, nil))), ctx)
	log.InfoContext(ctx, "bound and in a span")
	if n := strings.Count(b.String(), `"trace_id"`); n != 1 {
		t.Fatalf("%d trace_id keys: %s", n, b.String())
	}
	if !strings.Contains(b.String(), sc.SpanID().String()) {
		t.Fatalf("no span_id: %s", b.String())
	}
	if l := With(slog.Default(), context.Background()); l != slog.Default() {
		t.Error("With without a span made a new logger")
	}
}
