package webhook

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/workflows"
)

// Path is where Stripe posts events.
const Path = "/webhooks/stripe"

// DefaultBodyLimit is 1 MiB; Stripe's events are far smaller.
const DefaultBodyLimit = 1 << 20

// DefaultHandoffTimeout bounds the wait for Temporal, well under Stripe's
// own delivery timeout, so a slow cluster gets a 503 (and a retry) rather
// than a dropped connection.
const DefaultHandoffTimeout = 5 * time.Second

// Handoff gives an event to the workflow that owns it. duplicate is true
// when Temporal refused a new run because that workflow already completed.
type Handoff interface {
	Deliver(ctx context.Context, r workflows.Route, workflowID string, ev payflow.Event) (duplicate bool, err error)
}

// TemporalHandoff delivers with SignalWithStartWorkflow.
type TemporalHandoff struct {
	Client    client.Client
	TaskQueue string
}

// Deliver signals the workflow, starting it if it is not running.
func (t *TemporalHandoff) Deliver(ctx context.Context, r workflows.Route, id string, ev payflow.Event) (bool, error) {
	attrs := []temporal.SearchAttributeUpdate{workflows.StatusKey.ValueSet(workflows.StatusReceived)}
	if ev.CustomerID != "" {
		attrs = append(attrs, workflows.CustomerIDKey.ValueSet(ev.CustomerID))
	}
	opts := client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             t.TaskQueue,
		WorkflowIDReusePolicy: r.Reuse,
		TypedSearchAttributes: temporal.NewSearchAttributes(attrs...),
	}
	_, err := t.Client.SignalWithStartWorkflow(ctx, id, workflows.SignalEvent, ev, opts, r.Workflow, r.Input(id, ev))
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return true, nil
	}
	return false, err
}

// Metrics of the receiver.
type Metrics struct {
	Deliveries *prometheus.CounterVec // type, outcome
	Latency    prometheus.Histogram
}

// NewMetrics registers the receiver's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payflow_webhook_deliveries_total",
			Help: "Webhook deliveries by event type and outcome (accepted, duplicate, unhandled, skipped, rejected_<reason>, unavailable).",
		}, []string{"type", "outcome"}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "payflow_webhook_ack_seconds",
			Help:    "Time from receiving a delivery to answering it.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
	}
	reg.MustRegister(m.Deliveries, m.Latency)
	return m
}

// Server is the receiver's HTTP side.
type Server struct {
	Verifier       *Verifier
	Handoff        Handoff
	Log            *slog.Logger
	Metrics        *Metrics
	Gatherer       prometheus.Gatherer // for /metrics; nil: no endpoint
	Ready          func(ctx context.Context) error
	HandoffTimeout time.Duration
	BodyLimit      int
}

type errorBody struct {
	Error string `json:"error"`
}

type okBody struct {
	Received  bool   `json:"received"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Ignored   string `json:"ignored,omitempty"`
}

// App builds the Fiber app: POST /webhooks/stripe, /healthz, /readyz,
// /metrics.
func (s *Server) App() *fiber.App {
	limit := s.BodyLimit
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	app := fiber.New(fiber.Config{
		BodyLimit:             limit,
		DisableStartupMessage: true,
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          15 * time.Second,
		IdleTimeout:           90 * time.Second,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			code := fiber.StatusInternalServerError
			var fe *fiber.Error
			if errors.As(err, &fe) {
				code = fe.Code
			}
			if code == fiber.StatusRequestEntityTooLarge {
				s.count("", "rejected_too_large")
			}
			msg := http.StatusText(code)
			if code == fiber.StatusRequestEntityTooLarge {
				msg = "body larger than " + strconv.Itoa(limit) + " bytes"
			}
			return c.Status(code).JSON(errorBody{Error: msg})
		},
	})
	app.All(Path, s.receive)
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", s.readyz)
	if s.Gatherer != nil {
		app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{})))
	}
	return app
}

func (s *Server) readyz(c *fiber.Ctx) error {
	if s.Ready == nil {
		return c.JSON(fiber.Map{"status": "ready"})
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not ready", "reason": err.Error()})
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// metricType keeps the type label's cardinality bounded to the handled types.
func metricType(t string) string {
	if _, ok := workflows.Routes[t]; ok {
		return t
	}
	return "other"
}

func (s *Server) count(eventType, outcome string) {
	if s.Metrics != nil {
		s.Metrics.Deliveries.WithLabelValues(metricType(eventType), outcome).Inc()
	}
}

func (s *Server) reject(c *fiber.Ctx, status int, eventType, reason string, err error) error {
	s.count(eventType, "rejected_"+reason)
	s.log().Warn("webhook rejected", "status", status, "reason", reason, "error", err.Error(), "type", eventType)
	return c.Status(status).JSON(errorBody{Error: err.Error()})
}

func (s *Server) receive(c *fiber.Ctx) error {
	start := time.Now()
	if s.Metrics != nil {
		defer func() { s.Metrics.Latency.Observe(time.Since(start).Seconds()) }()
	}
	if c.Method() != fiber.MethodPost {
		c.Set(fiber.HeaderAllow, fiber.MethodPost)
		return s.reject(c, fiber.StatusMethodNotAllowed, "", "method", errors.New("use POST"))
	}
	payload := c.Body()
	if err := s.Verifier.Verify(payload, c.Get("Stripe-Signature")); err != nil {
		reason := "signature"
		switch {
		case errors.Is(err, ErrNoSignature), errors.Is(err, ErrBadHeader):
			reason = "header"
		case errors.Is(err, ErrTooOld), errors.Is(err, ErrInFuture):
			reason = "timestamp"
		}
		return s.reject(c, fiber.StatusBadRequest, "", reason, err)
	}
	ev, err := Decode(payload)
	if err != nil {
		return s.reject(c, fiber.StatusBadRequest, "", "malformed", err)
	}
	log := s.log().With("event_id", ev.ID, "type", ev.Type)
	route, id, skip, ok := workflows.Resolve(ev)
	if !ok {
		s.count(ev.Type, "unhandled")
		log.Info("event type not handled")
		return c.JSON(okBody{Received: true, Ignored: "unhandled event type"})
	}
	if skip != "" {
		// A handled type whose object no workflow owns. Retrying cannot
		// change that, so it is acknowledged (Stripe would otherwise retry
		// for three days and then disable the endpoint) and logged.
		s.count(ev.Type, "skipped")
		log.Warn("event skipped", "reason", skip)
		return c.JSON(okBody{Received: true, Ignored: skip})
	}
	timeout := s.HandoffTimeout
	if timeout <= 0 {
		timeout = DefaultHandoffTimeout
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), timeout)
	defer cancel()
	dup, err := s.Handoff.Deliver(ctx, route, id, ev)
	if err != nil {
		s.count(ev.Type, "unavailable")
		log.Error("temporal hand-off failed", "workflow_id", id, "error", err)
		c.Set(fiber.HeaderRetryAfter, "10")
		return c.Status(fiber.StatusServiceUnavailable).JSON(errorBody{Error: "event not accepted: workflow service unavailable, retry later"})
	}
	if dup {
		s.count(ev.Type, "duplicate")
		log.Info("workflow already completed: duplicate delivery", "workflow_id", id)
		return c.JSON(okBody{Received: true, Duplicate: true})
	}
	s.count(ev.Type, "accepted")
	log.Debug("event accepted", "workflow_id", id)
	return c.JSON(okBody{Received: true})
}
