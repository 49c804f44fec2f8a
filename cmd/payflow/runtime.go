package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.opentelemetry.io/otel"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	sdktally "go.temporal.io/sdk/contrib/tally"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/codec"
	"github.com/payflow/payflow/config"
	"github.com/payflow/payflow/internal/portallink"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/store"
	"github.com/payflow/payflow/webhook"
	"github.com/payflow/payflow/workflows"
)

// telemetry is one process's Prometheus registry, with the Temporal SDK's
// metrics bridged into it through tally.
type telemetry struct {
	reg     *prometheus.Registry
	handler client.MetricsHandler
	closer  io.Closer
}

// TimerBuckets are the histogram buckets of every timer, in seconds.
var TimerBuckets = []float64{
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900,
	3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 3 * 86400, 5 * 86400, 7 * 86400, 14 * 86400, 30 * 86400,
}

func newTelemetry() *telemetry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Timers are histograms (aggregatable across workers, unlike summaries),
	// with buckets from milliseconds (Temporal's task latencies) to a month
	// (payflow_dunning_time_to_recover_seconds).
	reporter := tallyprom.NewReporter(tallyprom.Options{Registerer: reg, Gatherer: reg,
		DefaultTimerType: tallyprom.HistogramTimerType, DefaultHistogramBuckets: TimerBuckets,
		OnRegisterError: func(err error) { slog.Debug("metric registration", "error", err) }})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	scope = sdktally.NewPrometheusNamingScope(scope)
	return &telemetry{reg: reg, handler: sdktally.NewMetricsHandler(scope), closer: closer}
}

// dialTemporal connects with Temporal's own environment conventions
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
// and the config file profile), so the same binary reaches a local dev
// server, a self-hosted cluster with mTLS, or Temporal Cloud.
func dialTemporal(ctx context.Context, cfg config.Config, log *slog.Logger, metrics client.MetricsHandler) (client.Client, error) {
	c, _, err := dialTemporalConn(ctx, cfg, log, metrics)
	return c, err
}

// dialTemporalConn is dialTemporal that also says where it connected: the
// namespace search attributes are registered in is that one.
func dialTemporalConn(ctx context.Context, cfg config.Config, log *slog.Logger, metrics client.MetricsHandler) (client.Client, config.TemporalConnection, error) {
	opts, conn, err := resolvedTemporalOptions(cfg, log, metrics)
	if err != nil {
		return nil, conn, err
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.DialContext(dctx, opts)
	if err != nil {
		return nil, conn, fmt.Errorf("connect to Temporal at %s (namespace %s; %s): %w", opts.HostPort, opts.Namespace, conn.AddressFrom, err)
	}
	return c, conn, nil
}

// lazyTemporal makes a client that connects on first use and, while
// Temporal is unreachable, tries again on every call (gRPC reconnects with
// a back-off of at most 10 s): `payflow serve` starts and answers 503
// until Temporal answers, instead of exiting.
func lazyTemporal(cfg config.Config, log *slog.Logger, metrics client.MetricsHandler) (client.Client, error) {
	c, _, err := lazyTemporalConn(cfg, log, metrics)
	return c, err
}

// lazyTemporalConn is lazyTemporal that also says where it connects.
func lazyTemporalConn(cfg config.Config, log *slog.Logger, metrics client.MetricsHandler) (client.Client, config.TemporalConnection, error) {
	opts, conn, err := resolvedTemporalOptions(cfg, log, metrics)
	if err != nil {
		return nil, conn, err
	}
	c, err := client.NewLazyClient(opts)
	if err != nil {
		return nil, conn, fmt.Errorf("temporal client for %s (namespace %s): %w", opts.HostPort, opts.Namespace, err)
	}
	return c, conn, nil
}

// temporalOptions reads Temporal's client environment (envconfig) over
// payflow's defaults, with payflow's payload codec (codec.go): every
// client payflow makes encrypts what it writes and reads what it wrote.
func temporalOptions(cfg config.Config, log *slog.Logger, metrics client.MetricsHandler) (client.Options, error) {
	opts, _, err := resolvedTemporalOptions(cfg, log, metrics)
	return opts, err
}

// resolvedTemporalOptions are temporalOptions and the connection they
// start from: config.ResolveTemporal, the one resolver `payflow config`
// prints too (address, namespace, TLS, API key and where each came from).
// With tracing on (OTEL_*), Temporal's OpenTelemetry interceptor is on the
// client and so on every worker made from it (tracing.go).
func resolvedTemporalOptions(cfg config.Config, log *slog.Logger, metrics client.MetricsHandler) (client.Options, config.TemporalConnection, error) {
	conn, err := config.ResolveTemporal(cfg, envconfig.EnvLookupOS)
	if err != nil {
		return client.Options{}, conn, err
	}
	opts := conn.Options
	pc, err := payloadCodec(withDevPayloadKeys(cfg))
	if err != nil {
		return opts, conn, err
	}
	opts.DataConverter, opts.FailureConverter = codec.Converters(pc)
	opts.Logger = sdklog.NewStructuredLogger(log.With("component", "temporal"))
	if metrics != nil {
		opts.MetricsHandler = metrics
	}
	if cfg.Tracing.On {
		ti, err := tracingInterceptor()
		if err != nil {
			return opts, conn, err
		}
		opts.Interceptors = append(opts.Interceptors, ti)
	}
	log.Debug("temporal connection", "address", conn.Address(), "address_from", conn.AddressFrom,
		"namespace", conn.Namespace(), "namespace_from", conn.NamespaceFrom, "tls", conn.TLS(), "api_key", conn.APIKey())
	return opts, conn, nil
}

// registerSearchAttributes adds StripeCustomerID, PayflowStatus and
// PayflowDunningStage to the namespace; already registered is fine.
func registerSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	// One call per attribute: a namespace that already has the older ones
	// (an upgrade) still gets the new one, whatever the server answers for
	// those that exist.
	for _, name := range routing.SearchAttributeNames() {
		_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace:        namespace,
			SearchAttributes: map[string]enumspb.IndexedValueType{name: enumspb.INDEXED_VALUE_TYPE_KEYWORD},
		})
		var exists *serviceerror.AlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("register search attribute %s: %w", name, err)
		}
	}
	return nil
}

// WorkerTuning sizes the worker. The SDK's default of 2 workflow-task
// pollers leaves a burst of new workflows waiting; more pollers let one
// worker keep up with a dev server or a small cluster.
type workerTuning struct {
	WorkflowPollers, ActivityPollers int
	MaxActivities, MaxWorkflowTasks  int
}

func defaultTuning() workerTuning {
	return workerTuning{WorkflowPollers: 8, ActivityPollers: 8, MaxActivities: 200, MaxWorkflowTasks: 200}
}

func newWorker(c client.Client, cfg config.Config, st payflow.Store, log *slog.Logger, reg prometheus.Registerer, t workerTuning) worker.Worker {
	w := worker.New(c, cfg.TaskQueue, worker.Options{
		MaxConcurrentWorkflowTaskPollers:       t.WorkflowPollers,
		MaxConcurrentActivityTaskPollers:       t.ActivityPollers,
		MaxConcurrentActivityExecutionSize:     t.MaxActivities,
		MaxConcurrentWorkflowTaskExecutionSize: t.MaxWorkflowTasks,
		// Let running activities finish on SIGTERM; what does not finish in
		// time is retried by another worker.
		WorkerStopTimeout: 20 * time.Second,
	})
	registerWorkflows(w)
	acts := newActivities(cfg, st, log, reg)
	// NotifyOwner signals the owner of a disputed payment (SignalWithStart).
	acts.Temporal, acts.TaskQueue = c, cfg.TaskQueue
	w.RegisterActivity(acts)
	return w
}

func registerWorkflows(w worker.WorkflowRegistry) { // a worker, or a replayer
	w.RegisterWorkflowWithOptions(workflows.OrderWorkflow, workflow.RegisterOptions{Name: routing.OrderWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.SubscriptionWorkflow, workflow.RegisterOptions{Name: routing.SubscriptionWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.DisputeWorkflow, workflow.RegisterOptions{Name: routing.DisputeWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.CustomerWorkflow, workflow.RegisterOptions{Name: routing.CustomerWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.QuarantineWorkflow, workflow.RegisterOptions{Name: routing.QuarantineWorkflowName})
}

func newActivities(cfg config.Config, st payflow.Store, log *slog.Logger, reg prometheus.Registerer) *activities.Activities {
	acts := &activities.Activities{Store: st, Policy: cfg.Dunning, AlertEmail: cfg.AlertEmail, Log: log,
		Email: emailSettings(cfg.Email)}
	if reg != nil {
		acts.Metrics = activities.NewMetrics(reg)
	}
	if cfg.SendGridAPIKey != "" {
		acts.Mailer = &activities.SendGrid{APIKey: cfg.SendGridAPIKey, Base: cfg.SendGridAPIBase, From: cfg.EmailFrom}
	}
	if cfg.StripeAPIKey != "" {
		acts.Stripe = activities.NewStripeAPI(cfg.StripeAPIKey, cfg.StripeAPIBase)
	}
	if cfg.ProvisioningURL != "" {
		acts.Provisioner = &activities.Provisioner{URL: cfg.ProvisioningURL, Secret: cfg.ProvisioningSecret}
	}
	if cfg.PortalLinks() {
		links, err := portallink.NewLinks(cfg.PublicURL, cfg.LinkSecret, cfg.PortalLinkTTL)
		if err != nil { // config.Load has refused what NewLinks refuses
			log.Error("billing portal links off", "error", err)
		} else {
			acts.PortalLinks = links
		}
	}
	return acts
}

func newReceiver(cfg config.Config, c client.Client, log *slog.Logger, tel *telemetry) *webhook.Server {
	srv := &webhook.Server{
		Verifier:  &webhook.Verifier{Secrets: cfg.WebhookSecrets, Tolerance: cfg.WebhookTolerance},
		Handoff:   &webhook.TemporalHandoff{Client: c, TaskQueue: cfg.TaskQueue},
		Log:       log,
		BodyLimit: cfg.WebhookMaxBody,
		MaxConns:  cfg.WebhookMaxConns,
		Ready:     readiness(c, nil),
		Accept:    cfg.Acceptance(), // STRIPE_LIVEMODE, STRIPE_ACCOUNTS
	}
	if tel != nil {
		srv.Metrics = webhook.NewMetrics(tel.reg)
		srv.Gatherer = tel.reg
	}
	srv.Portal = newPortal(cfg, log)
	if cfg.Tracing.On {
		srv.Tracer = otel.Tracer(receiverTracerName) // the global provider startTracing installed
	}
	return srv
}

// newPortal serves the billing portal links of dunning emails
// (GET /billing/portal/<token>) when they are configured; portal sessions
// are opened through the Stripe client the worker uses (STRIPE_API_KEY,
// STRIPE_API_BASE). nil: links off, or no Stripe key (serve refuses to
// start then; dev warns).
func newPortal(cfg config.Config, log *slog.Logger) *webhook.Portal {
	if !cfg.PortalLinks() {
		return nil
	}
	if cfg.StripeAPIKey == "" {
		log.Warn("billing portal links are configured but STRIPE_API_KEY is not set: GET " + portallink.PathPrefix + "… is not served")
		return nil
	}
	signer, err := portallink.NewSigner(cfg.LinkSecret)
	if err != nil { // config.Load has refused what NewSigner refuses
		log.Error("billing portal links not served", "error", err)
		return nil
	}
	return &webhook.Portal{
		Signer:        signer,
		Sessions:      activities.NewStripeAPI(cfg.StripeAPIKey, cfg.StripeAPIBase),
		ReturnURL:     cfg.PortalReturnURL,
		Configuration: cfg.PortalConfiguration,
	}
}

// readiness checks that Temporal answers and, when the process writes to a
// database (the worker, dev), that the database accepts a write — a ping
// answers on a read-only file, a full disk or a standby: /readyz of the
// receiver, the worker and dev.
func readiness(c client.Client, st payflow.Store) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if st != nil {
			if err := st.WriteCheck(ctx); err != nil {
				return fmt.Errorf("database: %w", err)
			}
		}
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			return fmt.Errorf("temporal: %w", err)
		}
		return nil
	}
}

func loadConfig() (config.Config, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		return cfg, fmt.Errorf("configuration:\n%w", err)
	}
	return cfg, nil
}

func runServe(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("serve", "serve [flags]   (configuration from the environment: payflow config)")
	addr := fs.String("addr", "", "listen address (default $PAYFLOW_ADDR or :4242)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	if *addr != "" {
		cfg.Addr = *addr
	}
	if len(cfg.WebhookSecrets) == 0 {
		return errors.New("STRIPE_WEBHOOK_SECRET is not set: the receiver refuses unsigned traffic (payflow dev generates one)")
	}
	if cfg.PortalLinks() && cfg.StripeAPIKey == "" {
		return errors.New("STRIPE_API_KEY is not set: the receiver opens billing portal sessions with it (PAYFLOW_PUBLIC_URL, PAYFLOW_LINK_SECRET and STRIPE_BILLING_PORTAL_RETURN_URL are set)")
	}
	if err := cfg.RequirePayloadKeys(); err != nil {
		return err
	}
	log := cfg.Logger(os.Stderr, "json")
	tel := newTelemetry()
	defer tel.closer.Close()
	stopTracing, err := startTracing(ctx, cfg, "serve", log)
	if err != nil {
		return err
	}
	defer stopTracing() // last: after the receiver's in-flight requests
	// Lazy: Temporal may be down at start (or come after the receiver in a
	// deploy); webhooks get 503 and /readyz says why until it answers.
	c, conn, err := lazyTemporalConn(cfg, log, tel.handler)
	if err != nil {
		return err
	}
	defer c.Close()
	srv := newReceiver(cfg, c, log, tel)
	stopOps, err := startOps(cfg.MetricsAddr, srv.OpsHandler())
	if err != nil {
		return err
	}
	defer stopOps()
	go watchTemporal(ctx, c, conn.Address(), log)
	app := srv.App()
	log.Info("receiver listening", "addr", cfg.Addr, "path", webhook.Path, "metrics", cfg.MetricsAddr,
		"temporal", conn.Address(), "namespace", conn.Namespace())
	return serveUntilDone(ctx, log, func() error { return app.Listen(cfg.Addr) }, func(sctx context.Context) error {
		return app.ShutdownWithContext(sctx)
	})
}

// startOps serves h (/metrics, /healthz, /readyz) on addr, the operations
// listener, apart from the public port. It fails at once when addr cannot
// be bound; stop closes it.
func startOps(addr string, h http.Handler) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener (PAYFLOW_METRICS_ADDR): %w", err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return func() { _ = hs.Close() }, nil
}

// watchTemporal logs when Temporal stops or starts answering (checked
// every 5 s), so the log of a receiver answering 503 says why.
func watchTemporal(ctx context.Context, c client.Client, addr string, log *slog.Logger) {
	up, first := false, true
	for {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.CheckHealth(hctx, &client.CheckHealthRequest{})
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && (up || first):
			log.Warn("Temporal unreachable: webhooks are answered 503 (Stripe retries them) until it answers", "temporal", addr, "error", err)
		case err == nil && (!up || first):
			log.Info("Temporal answers: accepting webhooks", "temporal", addr)
		}
		up, first = err == nil, false
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// serveUntilDone runs a server until ctx ends, then shuts it down
// gracefully: no new connections, in-flight requests finish.
func serveUntilDone(ctx context.Context, log *slog.Logger, listen func() error, shutdown func(context.Context) error) error {
	errc := make(chan error, 1)
	go func() { errc <- listen() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return shutdown(sctx)
}

func runWorker(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("worker", "worker [flags]   (configuration from the environment: payflow config)")
	tune := defaultTuning()
	fs.IntVar(&tune.WorkflowPollers, "workflow-pollers", tune.WorkflowPollers, "workflow task pollers")
	fs.IntVar(&tune.ActivityPollers, "activity-pollers", tune.ActivityPollers, "activity task pollers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	if err := cfg.RequirePayloadKeys(); err != nil {
		return err
	}
	log := cfg.Logger(os.Stderr, "json")
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	tel := newTelemetry()
	defer tel.closer.Close()
	stopTracing, err := startTracing(ctx, cfg, "worker", log)
	if err != nil {
		return err
	}
	defer stopTracing() // last: after the worker has stopped
	c, conn, err := dialTemporalConn(ctx, cfg, log, tel.handler)
	if err != nil {
		return err
	}
	defer c.Close()
	// The ops port is bound before polling starts: a worker that cannot
	// serve its probes exits before it takes any task.
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("PAYFLOW_METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
	}
	w := newWorker(c, cfg, st, log, tel.reg, tune)
	if err := w.Start(); err != nil {
		ln.Close()
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	hs := &http.Server{Handler: workerMux(tel.reg, readiness(c, st)), ReadHeaderTimeout: 5 * time.Second}
	log.Info("worker running", "task_queue", cfg.TaskQueue, "metrics", cfg.MetricsAddr,
		"temporal", conn.Address(), "namespace", conn.Namespace())
	return serveUntilDone(ctx, log, func() error {
		err := hs.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}, hs.Shutdown)
}

// workerMux serves the worker's /metrics, /healthz and /readyz (503 with
// the reason while ready fails).
func workerMux(reg prometheus.Gatherer, ready func(context.Context) error) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, `{"status":"ok"}`) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		rctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		if err := ready(rctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		fmt.Fprintln(w, `{"status":"ready"}`)
	})
	return mux
}

func runConfig(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("config", "config   (prints the effective configuration, secrets masked)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.FromEnv()
	// The connection every client makes, by the resolver temporalOptions
	// uses: what is printed is what is dialled.
	conn, terr := config.ResolveTemporal(cfg, envconfig.EnvLookupOS)
	if terr == nil {
		cfg.Temporal = &conn
	}
	cfg.Print(stdout)
	if err = errors.Join(err, terr); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	return nil
}

// runMigrateAll migrates the database and, unless -no-temporal, registers
// the search attributes.
func runMigrateAll(ctx context.Context, args []string, stdout io.Writer) error {
	var dbArgs []string
	registerSA := true
	for _, a := range args {
		if a == "-no-temporal" || a == "--no-temporal" {
			registerSA = false
			continue
		}
		dbArgs = append(dbArgs, a)
	}
	if err := runMigrate(ctx, dbArgs, stdout); err != nil {
		return err
	}
	if !registerSA {
		return nil
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	c, conn, err := dialTemporalConn(ctx, cfg, cfg.Logger(os.Stderr, "text"), nil)
	if err != nil {
		return fmt.Errorf("%w (use -no-temporal to migrate the database only)", err)
	}
	defer c.Close()
	// In the namespace the clients use: a profile's, when it names one.
	if err := registerSearchAttributes(ctx, c, conn.Namespace()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "search attributes StripeCustomerID, PayflowStatus, PayflowDunningStage registered in namespace %s at %s\n",
		conn.Namespace(), conn.Address())
	return nil
}
