package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/payflow/payflow/internal/syncbuf"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/proto"

	"github.com/payflow/payflow/config"
	"github.com/payflow/payflow/fakes/sendgridapi"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/store"
	"github.com/payflow/payflow/webhook"
)

// devTemporal starts the pinned CLI's dev server (in memory, no UI) with
// the given namespaces and returns its address; the test is skipped
// without the CLI (`make test` installs it), as the integration tests are.
func devTemporal(t *testing.T, namespaces ...string) string {
	t.Helper()
	bin := os.Getenv("PAYFLOW_TEMPORAL_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", ".tools", "bin", "temporal")
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Temporal CLI missing in CI: %v", err)
		}
		t.Skip("no Temporal CLI (run `make test`, which installs it)")
	}
	addr := freeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	args := []string{"server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", port, "--log-level", "error"}
	for _, ns := range namespaces {
		args = append(args, "--namespace", ns)
	}
	cmd := exec.Command(bin, args...)
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := client.DialContext(ctx, client.Options{HostPort: addr, Logger: quietLogger{}})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
		}
		cancel()
		if err == nil {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev server not up after 60 s: %v\n%s", err, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// `payflow migrate` registers the search attributes in the namespace the
// clients use — a Temporal profile's — not in payflow's default one.
func TestMigrateRegistersInTheResolvedNamespace(t *testing.T) {
	addr := devTemporal(t, "payments")
	temporalProfileEnv(t, fmt.Sprintf("[profile.default]\naddress = %q\nnamespace = \"payments\"\n", addr))
	t.Setenv("PAYFLOW_PAYLOAD_KEYS", testPayloadKeys)
	t.Setenv("DATABASE_URL", filepath.Join(t.TempDir(), "payflow.db"))
	t.Setenv("LOG_LEVEL", "error")
	var out bytes.Buffer
	if err := runMigrateAll(context.Background(), nil, &out); err != nil {
		t.Fatalf("payflow migrate: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "registered in namespace payments at "+addr) {
		t.Errorf("migrate output: %s", out.String())
	}
	c, err := client.Dial(client.Options{HostPort: addr, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	attrs := func(ns string) map[string]bool {
		res, err := c.OperatorService().ListSearchAttributes(context.Background(), &operatorservice.ListSearchAttributesRequest{Namespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for name := range res.GetCustomAttributes() {
			got[name] = true
		}
		return got
	}
	payments, def := attrs("payments"), attrs("default")
	for _, name := range routing.SearchAttributeNames() {
		if !payments[name] {
			t.Errorf("%s not registered in the profile's namespace payments: %v", name, payments)
		}
		if def[name] {
			t.Errorf("%s registered in namespace default, which no client uses", name)
		}
	}
}

// One trace from the webhook request to every activity: the receiver's
// span is the root; Temporal's interceptor continues it through the
// SignalWithStart's header into the workflow run, and from there into
// each activity. Real SignalWithStart, real worker, the dev server; spans
// caught by an in-memory exporter. The receiver's log lines carry the
// trace's ID.
func TestWebhookTraceReachesEveryActivity(t *testing.T) {
	const secret = "whsec_trace_test_0123456789"
	addr := devTemporal(t, "traces")
	temporalProfileEnv(t, "") // an empty profile file: the environment alone
	t.Setenv("TEMPORAL_ADDRESS", addr)
	t.Setenv("TEMPORAL_NAMESPACE", "traces")
	t.Setenv("TEMPORAL_TASK_QUEUE", "trace-test")
	t.Setenv("STRIPE_WEBHOOK_SECRET", secret)
	t.Setenv("PAYFLOW_PAYLOAD_KEYS", testPayloadKeys)
	t.Setenv("DATABASE_URL", filepath.Join(t.TempDir(), "payflow.db"))
	t.Setenv("LOG_LEVEL", "debug")
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp") // tracing on; the exporter below replaces OTLP
	for _, v := range []string{"OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
		"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	// The side effects' services: Stripe, SendGrid, the merchant's app.
	stripe := stripeapi.New("sk_test_trace")
	stripeURL, stopStripe := stripe.Start()
	defer stopStripe()
	sg := sendgridapi.New("SG.trace")
	sgURL, stopSG := sg.Start()
	defer stopSG()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer app.Close()
	t.Setenv("STRIPE_API_KEY", "sk_test_trace")
	t.Setenv("STRIPE_API_BASE", stripeURL)
	t.Setenv("SENDGRID_API_KEY", "SG.trace")
	t.Setenv("SENDGRID_API_BASE", sgURL)
	t.Setenv("PROVISIONING_WEBHOOK_URL", app.URL)
	t.Setenv("PROVISIONING_WEBHOOK_SECRET", "provisioning-secret-0123456789")

	// The exporter gets each span as it ends; the recorder sees spans
	// start, so a chain through a run still going (a subscription's) can
	// be followed too.
	exp := tracetest.NewInMemoryExporter()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	installTracing(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) })

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Tracing.On {
		t.Fatalf("tracing off: %s", cfg.Tracing.Why)
	}
	logs := &syncbuf.Buffer{}
	log := cfg.Logger(logs, "json")
	if _, err := store.Migrate(ctx, cfg.DatabaseURL); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, conn, err := dialTemporalConn(ctx, cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := registerSearchAttributes(ctx, c, conn.Namespace()); err != nil {
		t.Fatal(err)
	}
	w := newWorker(c, cfg, st, log, nil, defaultTuning())
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	srv := newReceiver(cfg, c, log, nil)
	deliver := func(body []byte) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(body))
			req.Header.Set("Stripe-Signature", fixtures.Sign(body, []string{secret}, time.Now()))
			resp, err := srv.App().Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode == 200 {
				return
			}
			// The search attributes just registered may take a moment
			// to be usable (400 until then).
			if time.Now().After(deadline) {
				t.Fatalf("webhook answered %d\n%s", resp.StatusCode, logs.String())
			}
			time.Sleep(500 * time.Millisecond)
		}
	}

	const pi = "pi_traced_e2e"
	body, err := fixtures.Build("payment_intent.succeeded", fixtures.Options{PaymentIntentID: pi, CustomerID: "cus_traced", Email: "jenny@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var ev struct{ ID string }
	_ = json.Unmarshal(body, &ev)
	deliver(body)
	wid := routing.WorkflowID("", routing.KindOrder, pi)
	if err := c.GetWorkflow(ctx, wid, "").Get(ctx, nil); err != nil {
		t.Fatalf("workflow %s: %v\n%s", wid, err, logs.String())
	}
	replayTraced(t, ctx, c, cfg, wid)

	// Every span has ended once the run has completed (the run's span
	// ends as the workflow function returns, before the task completes).
	spans := exp.GetSpans()
	byID := map[trace.SpanID]tracetest.SpanStub{}
	var root tracetest.SpanStub
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
		if s.Name == "POST "+webhook.Path && attr(s, "payflow.outcome") == "accepted" {
			root = s
		}
	}
	if !root.SpanContext.IsValid() {
		t.Fatalf("no accepted webhook span among %s", names(spans))
	}
	if attr(root, "stripe.event.id") != ev.ID || attr(root, "stripe.event.type") != "payment_intent.succeeded" ||
		attr(root, "payflow.workflow_id") != wid || attr(root, "http.response.status_code") != "200" {
		t.Errorf("webhook span attributes %v", root.Attributes)
	}
	// descends walks s's parents up to root.
	descends := func(s tracetest.SpanStub) (string, bool) {
		chain := []string{s.Name}
		for p := s.Parent; p.IsValid(); {
			ps, ok := byID[p.SpanID()]
			if !ok {
				return strings.Join(chain, " ← ") + " ← (unknown parent)", false
			}
			chain = append(chain, ps.Name)
			if ps.SpanContext.SpanID() == root.SpanContext.SpanID() {
				return strings.Join(chain, " ← "), true
			}
			p = ps.Parent
		}
		return strings.Join(chain, " ← "), false
	}
	want := map[string]bool{
		"SignalWithStartWorkflow:" + routing.OrderWorkflowName: false,
		"RunWorkflow:" + routing.OrderWorkflowName:             false,
		"HandleSignal:" + routing.SignalEvent:                  false,
	}
	var activities []string
	for _, s := range spans {
		if s.SpanContext.SpanID() == root.SpanContext.SpanID() || s.SpanContext.TraceID() != root.SpanContext.TraceID() && s.Name == "POST "+webhook.Path {
			continue // the request itself, or an earlier attempt (400 before the attributes were usable)
		}
		if strings.HasPrefix(s.Name, "RunActivity:") || strings.HasPrefix(s.Name, "RunWorkflow:") || strings.HasPrefix(s.Name, "StartActivity:") ||
			strings.HasPrefix(s.Name, "SignalWithStartWorkflow:") && attr(s, "temporalWorkflowID") == wid || strings.HasPrefix(s.Name, "HandleSignal:") {
			if s.SpanContext.TraceID() != root.SpanContext.TraceID() {
				t.Errorf("%s is in trace %s, the webhook's is %s", s.Name, s.SpanContext.TraceID(), root.SpanContext.TraceID())
				continue
			}
			chain, ok := descends(s)
			if !ok {
				t.Errorf("%s does not descend from the webhook span: %s", s.Name, chain)
			}
			t.Log(chain)
			if _, w := want[s.Name]; w {
				want[s.Name] = true
			}
			if name, ok := strings.CutPrefix(s.Name, "RunActivity:"); ok {
				activities = append(activities, name)
			}
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("no %s span in the webhook's trace: %s", name, names(spans))
		}
	}
	if len(activities) == 0 {
		t.Fatalf("no activity span in the webhook's trace: %s", names(spans))
	}
	t.Logf("activities in the trace: %v", activities)
	for _, must := range []string{"SendEmail", "SetAccess"} {
		found := false
		for _, a := range activities {
			found = found || a == must
		}
		if !found {
			t.Errorf("no RunActivity:%s in the trace (activities %v)", must, activities)
		}
	}

	// A Stripe API call: a failed renewal starts a dunning campaign, whose
	// activities call Stripe (the invoice's decline, taking the invoice's
	// collection over). The subscription's run goes on, so its span has
	// not ended: the chain is followed through the spans started.
	const sub, inv = "sub_traced", "in_traced"
	stripe.PutSubscription(stripeapi.Subscription{ID: sub, CustomerID: "cus_traced", Status: "past_due"})
	stripe.PutInvoice(stripeapi.Invoice{ID: inv, CustomerID: "cus_traced", SubscriptionID: sub, Amount: 2000, Currency: "usd",
		Status: "open", BillingReason: "subscription_cycle", AttemptCount: 1})
	failed, err := fixtures.Build("invoice.payment_failed", fixtures.Options{CustomerID: "cus_traced", SubscriptionID: sub, InvoiceID: inv})
	if err != nil {
		t.Fatal(err)
	}
	deliver(failed)
	started := func() map[trace.SpanID]sdktrace.ReadOnlySpan {
		m := map[trace.SpanID]sdktrace.ReadOnlySpan{}
		for _, s := range rec.Started() {
			m[s.SpanContext().SpanID()] = s
		}
		return m
	}
	stripeCalls := map[string]bool{"FetchDecline": true, "TakeOverInvoice": true}
	var stripeSpan sdktrace.ReadOnlySpan
	for deadline := time.Now().Add(30 * time.Second); stripeSpan == nil; time.Sleep(100 * time.Millisecond) {
		for _, s := range rec.Ended() {
			if name, ok := strings.CutPrefix(s.Name(), "RunActivity:"); ok && stripeCalls[name] {
				stripeSpan = s
			}
		}
		if stripeSpan == nil && time.Now().After(deadline) {
			t.Fatalf("no Stripe-calling activity span after 30 s\n%s", logs.String())
		}
	}
	all := started()
	chain := []string{stripeSpan.Name()}
	var top sdktrace.ReadOnlySpan = stripeSpan
	for p := stripeSpan.Parent(); p.IsValid(); p = top.Parent() {
		ps, ok := all[p.SpanID()]
		if !ok {
			t.Fatalf("%s: parent %s never started", strings.Join(chain, " ← "), p.SpanID())
		}
		top = ps
		chain = append(chain, ps.Name())
	}
	t.Log(strings.Join(chain, " ← "))
	if top.Name() != "POST "+webhook.Path || top.SpanContext().TraceID() != stripeSpan.SpanContext().TraceID() || len(chain) != 5 {
		t.Errorf("the Stripe call's span does not descend from its webhook request: %s", strings.Join(chain, " ← "))
	}

	// The receiver's per-request line carries the trace's ID.
	traceID := root.SpanContext.TraceID().String()
	var found bool
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"msg":"event accepted"`) && strings.Contains(line, `"workflow_id":"`+wid+`"`) {
			found = strings.Contains(line, `"trace_id":"`+traceID+`"`) && strings.Contains(line, `"span_id":"`+root.SpanContext.SpanID().String()+`"`)
			if !found {
				t.Errorf("receiver line without the request's trace: %s", line)
			}
		}
	}
	if !found {
		t.Errorf("no \"event accepted\" line with trace_id %s:\n%s", traceID, logs.String())
	}
}

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

func names(spans tracetest.SpanStubs) string {
	var n []string
	for _, s := range spans {
		n = append(n, s.Name)
	}
	return strings.Join(n, ", ")
}

// replayTraced checks that the history of a traced run carries the span in
// its headers and replays on a worker with the tracing interceptor and on
// one without: tracing adds headers, never commands, so it can be turned
// on or off under running workflows.
func replayTraced(t *testing.T, ctx context.Context, c client.Client, cfg config.Config, wid string) {
	t.Helper()
	hist := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, ev)
	}
	start := hist.Events[0].GetWorkflowExecutionStartedEventAttributes()
	if start.GetHeader().GetFields()["_tracer-data"] == nil {
		t.Errorf("the run's start carries no span header: %v", start.GetHeader())
	}
	opts, err := temporalOptions(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	ti, err := tracingInterceptor()
	if err != nil {
		t.Fatal(err)
	}
	for name, icpts := range map[string][]interceptor.WorkerInterceptor{"without tracing": nil, "with tracing": {ti}} {
		r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
			DataConverter: opts.DataConverter, FailureConverter: opts.FailureConverter, Interceptors: icpts})
		if err != nil {
			t.Fatal(err)
		}
		registerWorkflows(r)
		// A copy each: a replay consumes the history it is given.
		if err := r.ReplayWorkflowHistory(nil, proto.Clone(hist).(*historypb.History)); err != nil {
			t.Errorf("traced history does not replay %s: %v", name, err)
		}
	}
}
