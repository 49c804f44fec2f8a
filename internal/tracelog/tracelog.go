// Package tracelog puts the OpenTelemetry trace and span IDs on log lines:
// a line logged within a span (a webhook request, an activity) carries
// trace_id and span_id, the keys to search a trace backend with.
package tracelog

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Keys of the IDs on a log line.
const (
	TraceIDKey = "trace_id"
	SpanIDKey  = "span_id"
)

// Handler wraps next: a record handled with a context that holds a valid
// span (slog's ...Context methods) gets trace_id and span_id, unless the
// logger already carries them (With). Without a span, or with tracing off
// (no valid span), lines are unchanged.
func Handler(next slog.Handler) slog.Handler {
	if h, ok := next.(*handler); ok {
		return h
	}
	return &handler{next: next}
}

type handler struct {
	next slog.Handler
	// bound: the logger's own attributes already have trace_id.
	bound bool
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if !h.bound && ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r = r.Clone()
			r.AddAttrs(slog.String(TraceIDKey, sc.TraceID().String()), slog.String(SpanIDKey, sc.SpanID().String()))
		}
	}
	return h.next.Handle(ctx, r)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	bound := h.bound
	for _, a := range as {
		bound = bound || a.Key == TraceIDKey
	}
	return &handler{next: h.next.WithAttrs(as), bound: bound}
}

// WithGroup: the IDs of a later record land inside the group, as every
// attribute of that record does.
func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), bound: h.bound}
}

// Attrs are trace_id and span_id of the span in ctx, none without one.
func Attrs(ctx context.Context) []any {
	if ctx == nil {
		return nil
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	return []any{TraceIDKey, sc.TraceID().String(), SpanIDKey, sc.SpanID().String()}
}

// With is l with the IDs of the span in ctx bound to it, for code that
// logs through a logger made for one context (an activity's) with slog's
// methods without context.
func With(l *slog.Logger, ctx context.Context) *slog.Logger {
	if a := Attrs(ctx); a != nil {
		return l.With(a...)
	}
	return l
}
