package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
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
	"github.com/payflow/payflow/config"
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

func newTelemetry() *telemetry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reporter := tallyprom.NewReporter(tallyprom.Options{Registerer: reg, Gatherer: reg,
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
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return nil, fmt.Errorf("temporal client configuration: %w", err)
	}
	if opts.HostPort == "" {
		opts.HostPort = cfg.TemporalAddress
	}
	if opts.Namespace == "" {
		opts.Namespace = cfg.TemporalNamespace
	}
	opts.Logger = sdklog.NewStructuredLogger(log.With("component", "temporal"))
	if metrics != nil {
		opts.MetricsHandler = metrics
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.DialContext(dctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w", opts.HostPort, opts.Namespace, err)
	}
	return c, nil
}

// registerSearchAttributes adds StripeCustomerID and PayflowStatus to the
// namespace; already registered is fine.
func registerSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace,
		SearchAttributes: map[string]enumspb.IndexedValueType{
			workflows.CustomerIDKey.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
			workflows.StatusKey.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		},
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register search attributes: %w", err)
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
	w.RegisterActivity(newActivities(cfg, st, log, reg))
	return w
}

func registerWorkflows(w worker.Registry) {
	w.RegisterWorkflowWithOptions(workflows.OrderWorkflow, workflow.RegisterOptions{Name: workflows.OrderWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.SubscriptionWorkflow, workflow.RegisterOptions{Name: workflows.SubscriptionWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.DisputeWorkflow, workflow.RegisterOptions{Name: workflows.DisputeWorkflowName})
}

func newActivities(cfg config.Config, st payflow.Store, log *slog.Logger, reg prometheus.Registerer) *activities.Activities {
	acts := &activities.Activities{Store: st, Policy: cfg.Dunning, AlertEmail: cfg.AlertEmail, Log: log}
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
	return acts
}

func newReceiver(cfg config.Config, c client.Client, log *slog.Logger, tel *telemetry) *webhook.Server {
	srv := &webhook.Server{
		Verifier:  &webhook.Verifier{Secrets: cfg.WebhookSecrets, Tolerance: cfg.WebhookTolerance},
		Handoff:   &webhook.TemporalHandoff{Client: c, TaskQueue: cfg.TaskQueue},
		Log:       log,
		BodyLimit: cfg.WebhookMaxBody,
		Ready:     readiness(c, nil),
	}
	if tel != nil {
		srv.Metrics = webhook.NewMetrics(tel.reg)
		srv.Gatherer = tel.reg
	}
	return srv
}

// readiness checks that Temporal (and the database, when the process uses
// one) answer: /readyz of the receiver, the worker and dev.
func readiness(c client.Client, st payflow.Store) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if st != nil {
			if err := st.Ping(ctx); err != nil {
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
	log := cfg.Logger(os.Stderr, "json")
	tel := newTelemetry()
	defer tel.closer.Close()
	c, err := dialTemporal(ctx, cfg, log, tel.handler)
	if err != nil {
		return err
	}
	defer c.Close()
	app := newReceiver(cfg, c, log, tel).App()
	log.Info("receiver listening", "addr", cfg.Addr, "path", webhook.Path)
	return serveUntilDone(ctx, log, func() error { return app.Listen(cfg.Addr) }, func(sctx context.Context) error {
		return app.ShutdownWithContext(sctx)
	})
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
	log := cfg.Logger(os.Stderr, "json")
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	tel := newTelemetry()
	defer tel.closer.Close()
	c, err := dialTemporal(ctx, cfg, log, tel.handler)
	if err != nil {
		return err
	}
	defer c.Close()
	w := newWorker(c, cfg, st, log, tel.reg, tune)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(tel.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, `{"status":"ok"}`) })
	ready := readiness(c, st)
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
	hs := &http.Server{Addr: cfg.MetricsAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Info("worker running", "task_queue", cfg.TaskQueue, "metrics", cfg.MetricsAddr)
	return serveUntilDone(ctx, log, func() error {
		err := hs.ListenAndServe()
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}, hs.Shutdown)
}

func runConfig(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("config", "config   (prints the effective configuration, secrets masked)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.FromEnv()
	cfg.Print(stdout)
	if err != nil {
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
	c, err := dialTemporal(ctx, cfg, cfg.Logger(os.Stderr, "text"), nil)
	if err != nil {
		return fmt.Errorf("%w (use -no-temporal to migrate the database only)", err)
	}
	defer c.Close()
	if err := registerSearchAttributes(ctx, c, cfg.TemporalNamespace); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "search attributes StripeCustomerID, PayflowStatus registered")
	return nil
}
