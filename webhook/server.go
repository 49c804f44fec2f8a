package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/routing"
)

// Path is where Stripe posts events.
const Path = "/webhooks/stripe"

// DefaultBodyLimit is 1 MiB; Stripe's events are far smaller.
const DefaultBodyLimit = 1 << 20

// DefaultHandoffTimeout bounds the wait for Temporal, well under Stripe's
// own delivery timeout, so a slow cluster gets a 503 (and a retry) rather
// than a dropped connection.
const DefaultHandoffTimeout = 5 * time.Second

// DefaultMaxConns bounds the connections served at once (fasthttp's
// Concurrency; Fiber's default is 262,144). A connection may hold a body of
// up to the body limit in memory, so this, times the body limit, is what
// bounds the receiver's memory; a connection over it is answered 503 and
// closed, and Stripe retries.
const DefaultMaxConns = 512

// ReadBufferSize is the per-connection read buffer, which is also the
// largest request head (request line and headers) accepted: above it the
// answer is 431. fasthttp's default of 4 KiB refused a Stripe-Signature
// carrying many v1 signatures; 16 KiB takes a hundred of them with room.
const ReadBufferSize = 16 << 10

// DefaultReadTimeout is the time allowed to read a whole request, head and
// body: a client that trickles its bytes is cut off after it.
const DefaultReadTimeout = 15 * time.Second

// Handoff gives an event to the workflow that owns it. duplicate is true
// when Temporal refused a new run because that workflow already completed.
type Handoff interface {
	Deliver(ctx context.Context, r routing.Route, workflowID string, ev payflow.Event) (duplicate bool, err error)
}

// TemporalHandoff delivers with SignalWithStartWorkflow.
type TemporalHandoff struct {
	Client    client.Client
	TaskQueue string
}

// Deliver signals the workflow, starting it if it is not running.
func (t *TemporalHandoff) Deliver(ctx context.Context, r routing.Route, id string, ev payflow.Event) (bool, error) {
	attrs := routing.StartAttributes(ev.CustomerID)
	opts := client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             t.TaskQueue,
		WorkflowIDReusePolicy: r.Reuse,
		TypedSearchAttributes: temporal.NewSearchAttributes(attrs...),
	}
	_, err := t.Client.SignalWithStartWorkflow(ctx, id, routing.SignalEvent, ev, opts, r.Workflow, r.Input(id, ev))
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return true, nil
	}
	return false, err
}

// permanent tells a hand-off error that no retry can cure: Temporal refused
// the request itself (InvalidArgument, e.g. a search attribute value over
// its size limit), as opposed to being unreachable or slow.
func permanent(err error) bool {
	var invalid *serviceerror.InvalidArgument
	return errors.As(err, &invalid)
}

// Metrics of the receiver.
type Metrics struct {
	Deliveries  *prometheus.CounterVec // type, outcome
	Latency     prometheus.Histogram
	PortalLinks *prometheus.CounterVec // outcome (portal.go)
}

// NewMetrics registers the receiver's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payflow_webhook_deliveries_total",
			Help: "Webhook deliveries by event type and outcome (accepted, duplicate, quarantined, unhandled, skipped, rejected_<reason>, unavailable).",
		}, []string{"type", "outcome"}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "payflow_webhook_ack_seconds",
			Help:    "Time from receiving a delivery to answering it.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		PortalLinks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payflow_portal_links_total",
			Help: "Billing portal links followed, by outcome (redirected, checked, expired, bad_signature, malformed, unknown_customer, stripe_unavailable).",
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.Deliveries, m.Latency, m.PortalLinks)
	return m
}

// Server is the receiver's HTTP side.
type Server struct {
	Verifier *Verifier
	Handoff  Handoff
	Log      *slog.Logger
	Metrics  *Metrics
	// Gatherer feeds /metrics on OpsHandler (a listener of its own, never
	// the public port); nil: no /metrics.
	Gatherer       prometheus.Gatherer
	Ready          func(ctx context.Context) error
	HandoffTimeout time.Duration
	BodyLimit      int           // bytes; 0: DefaultBodyLimit
	MaxConns       int           // 0: DefaultMaxConns
	ReadTimeout    time.Duration // 0: DefaultReadTimeout
	// Quarantine keeps the events Decode returns as *Uninterpretable
	// (quarantine.go); nil: the Handoff, when it is a Quarantiner.
	Quarantine Quarantiner
	// Decode reads a verified payload; nil: the package's Decode.
	Decode func(payload []byte) (payflow.Event, error)
	// Accept is which events this deployment processes (STRIPE_LIVEMODE,
	// STRIPE_ACCOUNTS); one it does not accept is quarantined like an
	// uninterpretable one (accept.go). Zero: either mode, platform only.
	Accept Acceptance
	// Portal serves GET /billing/portal/:token (portal.go); nil: billing
	// portal links are not configured and the path is not served.
	Portal *Portal
	// Tracer makes the span of each webhook request (trace.go), which the
	// hand-off's SignalWithStart continues; nil: no spans.
	Tracer trace.Tracer
}

type errorBody struct {
	Error string `json:"error"`
}

type okBody struct {
	Received  bool   `json:"received"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Ignored   string `json:"ignored,omitempty"`
	// Quarantined is the reason an event payflow cannot interpret was
	// kept in quarantine.
	Quarantined string `json:"quarantined,omitempty"`
}

// App builds the public Fiber app: POST /webhooks/stripe, GET /healthz
// and GET /readyz, and GET /billing/portal/:token when Portal is set.
// /metrics is not on it (see OpsHandler).
func (s *Server) App() *fiber.App {
	limit := s.BodyLimit
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	conns := s.MaxConns
	if conns <= 0 {
		conns = DefaultMaxConns
	}
	readTimeout := s.ReadTimeout
	if readTimeout <= 0 {
		readTimeout = DefaultReadTimeout
	}
	app := fiber.New(fiber.Config{
		BodyLimit:             limit,
		Concurrency:           conns,
		ReadBufferSize:        ReadBufferSize,
		DisableStartupMessage: true,
		ReadTimeout:           readTimeout,
		WriteTimeout:          15 * time.Second,
		IdleTimeout:           90 * time.Second,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			// Errors of the HTTP layer, before any handler: too large a
			// body or head, a request too slow to arrive, bad framing.
			code := fiber.StatusInternalServerError
			var fe *fiber.Error
			if errors.As(err, &fe) {
				code = fe.Code
			}
			msg := http.StatusText(code)
			switch code {
			case fiber.StatusRequestEntityTooLarge:
				s.count("", "rejected_too_large")
				msg = "body larger than " + strconv.Itoa(limit) + " bytes"
			case fiber.StatusRequestHeaderFieldsTooLarge:
				s.count("", "rejected_header_too_large")
				msg = "request headers larger than " + strconv.Itoa(ReadBufferSize) + " bytes"
			case fiber.StatusRequestTimeout:
				s.count("", "rejected_timeout")
			}
			return c.Status(code).JSON(errorBody{Error: msg})
		},
	})
	app.All(Path, s.traced(s.receive))
	if s.Portal != nil {
		app.Get(PortalPath, s.portal) // GET and HEAD
	}
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", func(c *fiber.Ctx) error {
		code, body := s.readiness(c.UserContext())
		return c.Status(code).JSON(body)
	})
	return app
}

// OpsHandler serves /metrics (when Gatherer is set), /healthz and /readyz
// for the operations listener (PAYFLOW_METRICS_ADDR): metrics stay off the
// port the internet reaches.
func (s *Server) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	if s.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{}))
	}
	writeJSON := func(w http.ResponseWriter, code int, body any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		code, body := s.readiness(r.Context())
		writeJSON(w, code, body)
	})
	return mux
}

func (s *Server) readiness(ctx context.Context) (int, map[string]string) {
	if s.Ready == nil {
		return http.StatusOK, map[string]string{"status": "ready"}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		return http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()}
	}
	return http.StatusOK, map[string]string{"status": "ready"}
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// metricType keeps the type label's cardinality bounded to the handled types.
func metricType(t string) string {
	if _, ok := routing.Routes[t]; ok {
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
	s.countReq(c, eventType, "rejected_"+reason)
	s.log().WarnContext(c.UserContext(), "webhook rejected", "status", status, "reason", reason, "error", err.Error(), "type", eventType)
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
	// The header decides before the body is looked at: Stripe never
	// compresses, and inflating is how a few kilobytes become gigabytes.
	if !identityEncoding(c.Request().Header.PeekAll(fiber.HeaderContentEncoding)) {
		return s.reject(c, fiber.StatusUnsupportedMediaType, "", "encoding",
			errors.New("unsupported Content-Encoding: send the body uncompressed"))
	}
	// The raw body, exactly as received. (Fiber's c.Body() would inflate
	// it according to Content-Encoding.)
	payload := c.Request().Body()
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
	decode := s.Decode
	if decode == nil {
		decode = Decode
	}
	ev, err := decode(payload)
	annotate(c, ev)
	if u := (*Uninterpretable)(nil); errors.As(err, &u) {
		return s.quarantine(c, payload, ev, u)
	}
	if err != nil {
		return s.reject(c, fiber.StatusBadRequest, "", "malformed", err)
	}
	if u := s.Accept.Check(ev); u != nil {
		// The wrong mode or a connected account this deployment does not
		// serve: kept, like an event payflow cannot read, until a
		// configuration change and a replay accept it.
		return s.quarantine(c, payload, ev, u)
	}
	log := s.log().With("event_id", ev.ID, "type", ev.Type)
	rctx := c.UserContext() // the request's span: its IDs go on every line
	route, id, skip, ok := routing.Resolve(ev)
	if !ok {
		s.countReq(c, ev.Type, "unhandled")
		log.InfoContext(rctx, "event type not handled")
		return c.JSON(okBody{Received: true, Ignored: "unhandled event type"})
	}
	if skip != "" {
		// A handled type whose object no workflow owns. Retrying cannot
		// change that, so it is acknowledged (Stripe would otherwise retry
		// for three days and then disable the endpoint) and logged.
		s.countReq(c, ev.Type, "skipped")
		log.WarnContext(rctx, "event skipped", "reason", skip)
		return c.JSON(okBody{Received: true, Ignored: skip})
	}
	trace.SpanFromContext(rctx).SetAttributes(AttrWorkflowID.String(id))
	timeout := s.HandoffTimeout
	if timeout <= 0 {
		timeout = DefaultHandoffTimeout
	}
	ctx, cancel := context.WithTimeout(rctx, timeout)
	defer cancel()
	dup, err := s.Handoff.Deliver(ctx, route, id, ev)
	if err != nil && permanent(err) {
		// Temporal refused the request itself: retrying cannot change it,
		// so this is bad input, not an outage. Error level: an operator
		// has to look (the event is still in Stripe, and reconcile can
		// replay it once the cause is fixed).
		s.countReq(c, ev.Type, "rejected_invalid_argument")
		log.ErrorContext(rctx, "temporal refused the event", "workflow_id", id, "error", err)
		return c.Status(fiber.StatusBadRequest).JSON(errorBody{Error: "event not accepted: the workflow service refused it as invalid"})
	}
	if err != nil {
		s.countReq(c, ev.Type, "unavailable")
		log.ErrorContext(rctx, "temporal hand-off failed", "workflow_id", id, "error", err)
		c.Set(fiber.HeaderRetryAfter, "10")
		return c.Status(fiber.StatusServiceUnavailable).JSON(errorBody{Error: "event not accepted: workflow service unavailable, retry later"})
	}
	if dup {
		s.countReq(c, ev.Type, "duplicate")
		log.InfoContext(rctx, "workflow already completed: duplicate delivery", "workflow_id", id)
		return c.JSON(okBody{Received: true, Duplicate: true})
	}
	s.countReq(c, ev.Type, "accepted")
	log.DebugContext(rctx, "event accepted", "workflow_id", id)
	return c.JSON(okBody{Received: true})
}

// identityEncoding: no Content-Encoding, or only "identity" (in any case,
// in any number of headers and list items).
func identityEncoding(values [][]byte) bool {
	for _, v := range values {
		for len(v) > 0 {
			item := v
			if i := bytes.IndexByte(v, ','); i >= 0 {
				item, v = v[:i], v[i+1:]
			} else {
				v = nil
			}
			item = bytes.TrimSpace(item)
			if len(item) > 0 && !bytes.EqualFold(item, []byte("identity")) {
				return false
			}
		}
	}
	return true
}
