package webhook

import (
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/payflow/payflow"
)

// Span attributes of a webhook request, besides OpenTelemetry's HTTP ones.
const (
	AttrEventID    = attribute.Key("stripe.event.id")
	AttrEventType  = attribute.Key("stripe.event.type")
	AttrAPIVersion = attribute.Key("stripe.api_version")
	AttrWorkflowID = attribute.Key("payflow.workflow_id")
	// AttrOutcome is the outcome label of payflow_webhook_deliveries_total
	// (accepted, duplicate, quarantined, unhandled, skipped,
	// rejected_<reason>, unavailable).
	AttrOutcome = attribute.Key("payflow.outcome")
)

// traced runs h inside a server span named after the request ("POST
// /webhooks/stripe"), put on the request's user context: the hand-off's
// SignalWithStart is its child, and through the Temporal header so are
// the workflow and its activities. Without a Tracer, h as is.
//
// Every request starts a new trace: the endpoint is public and Stripe
// sends no trace context, so a traceparent header (a proxy's, or anyone's)
// becomes a link, never the parent.
func (s *Server) traced(h fiber.Handler) fiber.Handler {
	if s.Tracer == nil {
		return h
	}
	return func(c *fiber.Ctx) error {
		method := c.Method()
		opts := []trace.SpanStartOption{
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithNewRoot(),
			trace.WithAttributes(
				attribute.String("http.request.method", method),
				attribute.String("http.route", Path),
				attribute.String("url.path", c.Path()),
				attribute.String("user_agent.original", c.Get(fiber.HeaderUserAgent)),
			),
		}
		remote := propagation.TraceContext{}.Extract(c.UserContext(), headerCarrier{c})
		if sc := trace.SpanContextFromContext(remote); sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
		}
		ctx, span := s.Tracer.Start(c.UserContext(), method+" "+Path, opts...)
		defer span.End()
		c.SetUserContext(ctx)
		err := h(c)
		status := c.Response().StatusCode()
		if err != nil {
			// Fiber's error handler answers after this returns.
			status = fiber.StatusInternalServerError
			var fe *fiber.Error
			if errors.As(err, &fe) {
				status = fe.Code
			}
			span.RecordError(err)
		}
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			// A server span is in error on 5xx only: a 4xx is the
			// sender's mistake, answered as designed.
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		return err
	}
}

// annotate puts what is known of the event on the request's span.
func annotate(c *fiber.Ctx, ev payflow.Event) {
	span := trace.SpanFromContext(c.UserContext())
	if !span.IsRecording() {
		return
	}
	if ev.ID != "" {
		span.SetAttributes(AttrEventID.String(ev.ID))
	}
	if ev.Type != "" {
		span.SetAttributes(AttrEventType.String(ev.Type))
	}
	if ev.APIVersion != "" {
		span.SetAttributes(AttrAPIVersion.String(ev.APIVersion))
	}
}

// countReq counts a delivery's outcome and puts it, and the workflow ID
// when there is one, on the request's span.
func (s *Server) countReq(c *fiber.Ctx, eventType, outcome string) {
	s.count(eventType, outcome)
	trace.SpanFromContext(c.UserContext()).SetAttributes(AttrOutcome.String(outcome))
}

// headerCarrier reads a request's headers for a propagator.
type headerCarrier struct{ c *fiber.Ctx }

func (h headerCarrier) Get(key string) string { return h.c.Get(key) }
func (h headerCarrier) Set(string, string)    {}
func (h headerCarrier) Keys() []string        { return nil }
