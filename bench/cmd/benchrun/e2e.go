package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/payflow/payflow/internal/localrun"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/bench/internal/load"
	"github.com/payflow/payflow/bench/internal/payloads"
	"github.com/payflow/payflow/bench/internal/proc"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/webhook"
)

const (
	bareWorkflowName = "BenchBareWorkflow"
	bareTaskQueue    = "bench-bare"
	namespace        = "default"
	maxAttempts      = 8 // deliveries of one event (Stripe retries for days; we retry briefly)
)

// bareWorkflow is the trivial workflow of the bare client: it receives the
// one signal and returns.
func bareWorkflow(ctx workflow.Context, in routing.OrderInput) (string, error) {
	var ev payflow.Event
	workflow.GetSignalChannel(ctx, routing.SignalEvent).Receive(ctx, &ev)
	return ev.ID, nil
}

// Phase is one batch of events pushed to one server until every workflow
// completed (or the wait ran out).
type Phase struct {
	Name        string  `json:"name"` // payflow, bare, bare-default-server, payflow-burst
	Server      string  `json:"server"`
	Round       int     `json:"round,omitempty"`
	Part        string  `json:"part,omitempty"` // the bare client's phases: a (before payflow), b (after)
	Events      int     `json:"events"`
	Conns       int     `json:"conns"`
	Acked       int     `json:"acked"`
	Retries     int64   `json:"retries"` // deliveries answered with an error and sent again
	Failed      int     `json:"failed"`  // never acknowledged within maxAttempts
	AckSeconds  float64 `json:"ack_seconds"`
	AckRate     float64 `json:"ack_rate"` // acknowledged events a second
	AckP50ms    float64 `json:"ack_p50_ms"`
	AckP99ms    float64 `json:"ack_p99_ms"`
	AckMaxms    float64 `json:"ack_max_ms"`
	Completed   int     `json:"completed"`
	LastDoneSec float64 `json:"time_to_last_completion_s"` // from the first send; 0 when not all completed
	DoneRate    float64 `json:"completion_rate"`
	Lost        int     `json:"lost"`     // acknowledged but not completed in time
	NotDone     string  `json:"not_done"` // what the missing ones are doing
	FirstError  string  `json:"first_error,omitempty"`
	ClientCPUus float64 `json:"client_cpu_us_per_event"`            // this process (load generator, bare client and bare worker)
	ServerCPUus float64 `json:"server_cpu_us_per_event"`            // Temporal server processes (a cluster: all four)
	PayflowCPU  float64 `json:"payflow_cpu_us_per_event,omitempty"` // payflow dev, or serve + worker
	BgCores     float64 `json:"background_cores"`                   // other processes' CPU during the phase, in cores

	// While the events were being acknowledged: CPU used, in cores, by the
	// Temporal server, by payflow dev (receiver and worker), by this
	// process (load generator, or bare client and its worker), and by
	// everything else; and how many of the phase's workflows had completed
	// when the last event was acknowledged.
	AckTemporalCores float64 `json:"ack_window_temporal_cores"`
	AckPayflowCores  float64 `json:"ack_window_payflow_cores"`
	AckClientCores   float64 `json:"ack_window_client_cores"`
	AckBgCores       float64 `json:"ack_window_background_cores"`
	AckTemporalCPUus float64 `json:"ack_window_temporal_cpu_us_per_ack"`
	DoneAtLastAck    int     `json:"completed_at_last_ack"`
}

// E2ERound is one round on payflow dev's server: the bare client sends half
// the events, payflow all of them, the bare client the other half (so the
// slow-down as the dev server's database and caches grow falls on both alike).
type E2ERound struct {
	Round          int     `json:"round"`
	PayflowAckRate float64 `json:"payflow_ack_rate"`
	BareAckRate    float64 `json:"bare_ack_rate"` // both halves: events / their ack time
	Ratio          float64 `json:"payflow_vs_bare"`
	// Completion rates: events / time to the last completion (the bare
	// client's over both halves); 0 when a phase did not complete.
	PayflowDoneRate float64 `json:"payflow_completion_rate,omitempty"`
	BareDoneRate    float64 `json:"bare_completion_rate,omitempty"`
	DoneRatio       float64 `json:"payflow_vs_bare_completion,omitempty"`
}

// roundRatios pairs, in each of the rounds, payflow's phase with the bare
// client's two halves around it (phases named payflow and bare). A round
// without both ack rates is left out.
func roundRatios(phases []Phase, rounds int) []E2ERound {
	var out []E2ERound
	for round := 1; round <= rounds; round++ {
		r := E2ERound{Round: round}
		var bareAcked, bareEvents, bareHalves, bareDoneHalves int
		var bareSecs, bareDoneSecs float64
		for _, ph := range phases {
			if ph.Round != round {
				continue
			}
			switch ph.Name {
			case "payflow":
				r.PayflowAckRate, r.PayflowDoneRate = ph.AckRate, ph.DoneRate
			case "bare":
				bareHalves++
				bareAcked += ph.Acked
				bareSecs += ph.AckSeconds
				bareEvents += ph.Events
				if ph.LastDoneSec > 0 {
					bareDoneHalves++
					bareDoneSecs += ph.LastDoneSec
				}
			}
		}
		if bareSecs > 0 {
			r.BareAckRate = float64(bareAcked) / bareSecs
		}
		if r.PayflowAckRate <= 0 || r.BareAckRate <= 0 {
			continue
		}
		r.Ratio = r.PayflowAckRate / r.BareAckRate
		if bareDoneHalves == bareHalves && bareDoneSecs > 0 {
			r.BareDoneRate = float64(bareEvents) / bareDoneSecs
		}
		if r.PayflowDoneRate > 0 && r.BareDoneRate > 0 {
			r.DoneRatio = r.PayflowDoneRate / r.BareDoneRate
		}
		out = append(out, r)
	}
	return out
}

// roundMedians are the medians over rounds of the ack-rate ratio and of
// both ack rates.
func roundMedians(rounds []E2ERound) (ratio, payflow, bare float64) {
	var ratios, pf, br []float64
	for _, r := range rounds {
		ratios, pf, br = append(ratios, r.Ratio), append(pf, r.PayflowAckRate), append(br, r.BareAckRate)
	}
	return median(ratios), median(pf), median(br)
}

// doneMedians are the medians over rounds of the completion rates and
// their ratio, over the rounds where both completed.
func doneMedians(rounds []E2ERound) (ratio, payflow, bare float64) {
	var ratios, pf, br []float64
	for _, r := range rounds {
		if r.DoneRatio > 0 {
			ratios, pf, br = append(ratios, r.DoneRatio), append(pf, r.PayflowDoneRate), append(br, r.BareDoneRate)
		}
	}
	return median(ratios), median(pf), median(br)
}

// E2EResult is the end-to-end benchmark.
type E2EResult struct {
	Phases []Phase    `json:"phases"`
	Rounds []E2ERound `json:"rounds"`
	// RatioVsBare is the median over rounds of payflow's ack rate divided by
	// the bare client's (the judged figure).
	RatioVsBare    float64 `json:"payflow_vs_bare_ack_rate"`
	PayflowAckRate float64 `json:"payflow_ack_rate_median"`
	BareAckRate    float64 `json:"bare_ack_rate_median"`
	// The settings comparison is like for like: the bare client's first
	// phase on payflow dev's fresh server (after a small warm-up) against the
	// same phase on a fresh default-configured dev server.
	TunedAckRate    float64            `json:"bare_tuned_server_ack_rate"`
	DefaultAckRate  float64            `json:"bare_default_server_ack_rate"`
	RatioTuned      float64            `json:"tuned_vs_default_server_ack_rate"`
	RatioTunedDone  float64            `json:"tuned_vs_default_server_completion_rate"`
	PayflowDevPeak  float64            `json:"payflow_dev_peak_rss_mib"`
	TemporalPeakMiB map[string]float64 `json:"temporal_peak_rss_mib"`
	Lost            int                `json:"lost_total"`
}

func quietLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
}

func dial(ctx context.Context, hostPort string) (client.Client, error) {
	if err := load.CheckLoopback(hostPort); err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return client.DialContext(dctx, client.Options{HostPort: hostPort, Namespace: namespace, Logger: quietLogger()})
}

// tunedWorker is the worker sizing payflow dev uses (cmd/payflow
// defaultTuning); the default-configured side leaves worker.Options zero
// (the SDK's 2 workflow-task pollers).
var tunedWorker = worker.Options{
	MaxConcurrentWorkflowTaskPollers:       8,
	MaxConcurrentActivityTaskPollers:       8,
	MaxConcurrentActivityExecutionSize:     200,
	MaxConcurrentWorkflowTaskExecutionSize: 200,
}

func startBareWorker(c client.Client, opts worker.Options) (worker.Worker, error) {
	w := worker.New(c, bareTaskQueue, opts)
	w.RegisterWorkflowWithOptions(bareWorkflow, workflow.RegisterOptions{Name: bareWorkflowName})
	return w, w.Start()
}

// sender delivers event i; it returns whether it was acknowledged.
type sender func(ctx context.Context, i int) error

// push delivers n events with conns concurrent senders, retrying each
// failed delivery up to maxAttempts times (bounded by ctx).
func push(ctx context.Context, n, conns int, send sender) (lat []time.Duration, acked int, retries int64, elapsed time.Duration, firstErr string) {
	var next atomic.Int64
	var mu sync.Mutex
	lat = make([]time.Duration, 0, n)
	var wg sync.WaitGroup
	var nretries atomic.Int64
	start := time.Now()
	var lastAck time.Time
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				for attempt := 1; attempt <= maxAttempts && ctx.Err() == nil; attempt++ {
					err := send(ctx, i)
					if err == nil {
						now := time.Now()
						mu.Lock()
						lat = append(lat, now.Sub(t0))
						acked++
						if now.After(lastAck) {
							lastAck = now
						}
						mu.Unlock()
						break
					}
					mu.Lock()
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
					if attempt < maxAttempts {
						nretries.Add(1)
						select {
						case <-ctx.Done():
						case <-time.After(time.Duration(attempt) * 250 * time.Millisecond):
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	if !lastAck.IsZero() {
		elapsed = lastAck.Sub(start)
	}
	return lat, acked, nretries.Load(), elapsed, firstErr
}

// completion counts the workflows of one phase by status.
type completion struct {
	c      client.Client
	prefix string // workflow ID prefix of the phase
	typ    string
}

func (w completion) count(ctx context.Context, extra string) (int64, error) {
	q := fmt.Sprintf("WorkflowType = '%s' AND WorkflowId STARTS_WITH '%s'", w.typ, w.prefix)
	if extra != "" {
		q += " AND " + extra
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := w.c.CountWorkflow(cctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: q})
	if err != nil {
		return 0, err
	}
	return resp.GetCount(), nil
}

// wait polls until want workflows of the phase completed or timeout passed;
// it returns how many completed and when the last one was seen, counted
// from start.
func (w completion) wait(ctx context.Context, want int, start time.Time, timeout time.Duration) (int, time.Duration, error) {
	deadline := time.Now().Add(timeout)
	var done int64
	var err error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		done, err = w.count(ctx, "ExecutionStatus = 'Completed'")
		if err == nil && int(done) >= want {
			return int(done), time.Since(start), nil
		}
		// Poll often early, then about 50 times over the wait so far: the
		// time to the last completion is exact to about 2 %, and counting
		// adds little load to the server.
		select {
		case <-ctx.Done():
		case <-time.After(min(max(time.Since(start)/50, 250*time.Millisecond), time.Second)):
		}
	}
	if err != nil {
		return int(done), 0, err
	}
	return int(done), 0, nil
}

// describeMissing says what the workflows that did not complete are doing.
func (w completion) describeMissing(ctx context.Context, acked int) string {
	var out string
	total, err := w.count(ctx, "")
	if err != nil {
		return "count failed: " + err.Error()
	}
	out = fmt.Sprintf("%d workflows exist for %d acknowledged events", total, acked)
	for _, st := range []string{"Running", "Failed", "Terminated", "TimedOut", "Canceled", "ContinuedAsNew"} {
		if n, err := w.count(ctx, "ExecutionStatus = '"+st+"'"); err == nil && n > 0 {
			out += fmt.Sprintf("; %d %s", n, st)
		}
	}
	return out
}

type target struct {
	name     string // for the logs
	c        client.Client
	temporal procs // the Temporal server's processes (for their CPU): one dev server, or a cluster's four
	payflow  procs // payflow dev, or payflow serve and worker (none for a bare server)
	http     *load.Client
	secret   string
}

// procs are the processes of one side of a phase, whose CPU is summed.
type procs []*proc.Proc

func (ps procs) cpu() time.Duration {
	var d time.Duration
	for _, p := range ps {
		d += cpuOf(p)
	}
	return d
}

func cpuOf(p *proc.Proc) time.Duration {
	if p == nil {
		return 0
	}
	d, _ := proc.CPU(p.Pid())
	return d
}

// runPhase pushes n events to payflow over HTTP (bare=false) or with
// SignalWithStart from this process (bare=true), then waits for every
// workflow to complete.
func runPhase(ctx context.Context, cfg config, t *target, name string, bare bool, n, conns int) (Phase, error) {
	tag := payloads.Tag()
	pool, err := payloads.Build(n, tag, t.secret, time.Now())
	if err != nil {
		return Phase{}, err
	}
	ph := Phase{Name: name, Server: t.name, Events: n, Conns: conns}
	var send sender
	comp := completion{c: t.c}
	if bare {
		comp.typ, comp.prefix = bareWorkflowName, "bare/pi_"+tag
		evs := make([]payflow.Event, n)
		for i, e := range pool.Events {
			if evs[i], err = webhook.Decode(e.Payload); err != nil {
				return ph, err
			}
		}
		send = func(ctx context.Context, i int) error {
			ev := evs[i]
			r, id, _, ok := routing.Resolve(ev)
			if !ok || id == "" {
				return errors.New("event not routed")
			}
			id = "bare/" + ev.PaymentIntent
			// The same call TemporalHandoff makes: same options, search
			// attributes, signal and argument; only the workflow differs.
			attrs := routing.StartAttributes(ev.CustomerID)
			opts := client.StartWorkflowOptions{
				ID: id, TaskQueue: bareTaskQueue, WorkflowIDReusePolicy: r.Reuse,
				TypedSearchAttributes: temporal.NewSearchAttributes(attrs...),
			}
			cctx, cancel := context.WithTimeout(ctx, webhook.DefaultHandoffTimeout)
			defer cancel()
			_, err := t.c.SignalWithStartWorkflow(cctx, id, routing.SignalEvent, ev, opts, bareWorkflowName, r.Input(id, ev))
			return err
		}
	} else {
		comp.typ, comp.prefix = routing.OrderWorkflowName, routing.OrderID("pi_"+tag)
		send = func(ctx context.Context, i int) error {
			code, err := t.http.Post(&pool.Events[i])
			if err != nil {
				return err
			}
			if code < 200 || code > 299 {
				return fmt.Errorf("HTTP %d", code)
			}
			return nil
		}
	}
	cpuT0, cpuP0, self0, sys0 := t.temporal.cpu(), t.payflow.cpu(), proc.SelfCPU(), proc.SystemBusy()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	start := time.Now()
	lat, acked, retries, elapsed, firstErr := push(pctx, n, conns, send)
	if w := time.Since(start).Seconds(); w > 0 && len(t.temporal) > 0 {
		tc, pc, sc, sys := t.temporal.cpu()-cpuT0, t.payflow.cpu()-cpuP0, proc.SelfCPU()-self0, proc.SystemBusy()-sys0
		ph.AckTemporalCores, ph.AckPayflowCores, ph.AckClientCores = tc.Seconds()/w, pc.Seconds()/w, sc.Seconds()/w
		ph.AckBgCores = max(0, (sys-tc-pc-sc).Seconds()/w)
		if acked > 0 {
			ph.AckTemporalCPUus = us(tc) / float64(acked)
		}
	}
	if d, err := comp.count(ctx, "ExecutionStatus = 'Completed'"); err == nil {
		ph.DoneAtLastAck = int(d)
	}
	ph.Acked, ph.Retries, ph.Failed, ph.FirstError = acked, retries, n-acked, firstErr
	ph.AckSeconds = elapsed.Seconds()
	if elapsed > 0 {
		ph.AckRate = float64(acked) / elapsed.Seconds()
	}
	ph.AckP50ms = float64(load.Percentile(lat, 50)) / float64(time.Millisecond)
	ph.AckP99ms = float64(load.Percentile(lat, 99)) / float64(time.Millisecond)
	ph.AckMaxms = float64(load.Percentile(lat, 100)) / float64(time.Millisecond)
	logf("e2e %s %-18s %5d events, %3d conns: acked %d in %.1fs = %.0f/s, ack p99 %.0fms, retries %d; meanwhile %d completed, cores: Temporal %.2f payflow %.2f client %.2f other %.2f; waiting for completion",
		t.name, name, n, conns, acked, ph.AckSeconds, ph.AckRate, ph.AckP99ms, retries, ph.DoneAtLastAck, ph.AckTemporalCores, ph.AckPayflowCores, ph.AckClientCores, ph.AckBgCores)
	timeout := cfg.CompleteTimeout
	if timeout <= 0 {
		// Auto: generous for this machine's dev server (a payflow order
		// costs Temporal about 0.1 s of CPU), still bounded.
		timeout = 2*time.Minute + time.Duration(n)*150*time.Millisecond
	}
	done, last, err := comp.wait(ctx, acked, start, timeout)
	if err != nil {
		return ph, fmt.Errorf("%s: counting completed workflows: %w", name, err)
	}
	ph.Completed = done
	ph.Lost = max(acked-done, 0)
	if done >= acked && acked == n {
		ph.LastDoneSec = last.Seconds()
		ph.DoneRate = float64(n) / last.Seconds()
	}
	if ph.Lost > 0 || ph.Failed > 0 {
		ph.NotDone = comp.describeMissing(ctx, acked)
	}
	if n > 0 {
		self, srv, pf, sys := proc.SelfCPU()-self0, t.temporal.cpu()-cpuT0, t.payflow.cpu()-cpuP0, proc.SystemBusy()-sys0
		ph.ClientCPUus = us(self) / float64(n)
		ph.ServerCPUus = us(srv) / float64(n)
		if len(t.payflow) > 0 {
			ph.PayflowCPU = us(pf) / float64(n)
		}
		if len(t.temporal) > 0 {
			ph.BgCores = max(0, (sys-self-srv-pf).Seconds()/time.Since(start).Seconds())
		}
	}
	logf("e2e %s %-18s completed %d/%d, last after %.1fs (%.0f/s), lost %d; Temporal CPU %.1f ms/event, background %.2f cores",
		t.name, name, done, n, ph.LastDoneSec, ph.DoneRate, ph.Lost, ph.ServerCPUus/1000, ph.BgCores)
	return ph, nil
}

// roundStep is one phase of an end-to-end round.
type roundStep struct {
	name, part string
	bare       bool
	n          int
}

// roundSteps is one round of the end-to-end comparison, the same on every
// server: the bare client's first half, payflow's events, the bare
// client's other half (the halves bracket payflow's phase, so a drift
// falls on both sides alike).
func roundSteps(events int) []roundStep {
	half := max(events/2, 1)
	return []roundStep{{"bare", "a", true, half}, {"payflow", "", false, events}, {"bare", "b", true, max(events-half, 1)}}
}

// temporalChild finds the Temporal dev server payflow dev started.
func temporalChild(p *proc.Proc) *proc.Proc {
	for _, pid := range proc.Descendants(p.Pid()) {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil && len(b) > 0 {
			if slices.Contains(splitNUL(b), "start-dev") {
				return proc.Adopt("temporal", pid)
			}
		}
	}
	return nil
}

func splitNUL(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			out = append(out, string(b[start:i]))
			start = i + 1
		}
	}
	return out
}

func waitReady(ctx context.Context, url string, within time.Duration, p *proc.Proc) error {
	deadline := time.Now().Add(within)
	hc := &http.Client{Timeout: 3 * time.Second}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-p.Exited():
			return fmt.Errorf("%s exited: %v", p.Name, p.Err())
		default:
		}
		if resp, err := hc.Get(url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s", url, within)
}

func runE2E(ctx context.Context, cfg config, res *results) (*E2EResult, error) {
	out := &E2EResult{TemporalPeakMiB: map[string]float64{}}
	for _, f := range []string{cfg.Payflow, cfg.Temporal} {
		if st, err := os.Stat(f); err != nil || st.IsDir() {
			return out, fmt.Errorf("%s not found (make bench builds bin/payflow and installs the Temporal CLI)", f)
		}
	}
	if err := e2ePayflow(ctx, cfg, res, out); err != nil {
		return out, err
	}
	if !cfg.SkipDefault && ctx.Err() == nil {
		if err := e2eDefault(ctx, cfg, res, out); err != nil {
			res.notice("default-configured dev server: %v", err)
		}
	}
	var tunedDone, defaultDone float64
	for _, ph := range out.Phases {
		out.Lost += ph.Lost
		switch {
		case ph.Name == "bare-fresh-server":
			out.TunedAckRate, tunedDone = ph.AckRate, ph.DoneRate
		case ph.Name == "bare-default-server":
			out.DefaultAckRate, defaultDone = ph.AckRate, ph.DoneRate
		}
	}
	out.Rounds = roundRatios(out.Phases, cfg.E2ERounds)
	out.RatioVsBare, out.PayflowAckRate, out.BareAckRate = roundMedians(out.Rounds)
	if out.DefaultAckRate > 0 {
		out.RatioTuned = out.TunedAckRate / out.DefaultAckRate
	}
	if defaultDone > 0 {
		out.RatioTunedDone = tunedDone / defaultDone
	}
	return out, nil
}

// e2ePayflow runs payflow dev as `make dev` does, and on its Temporal
// server both payflow and the bare client.
func e2ePayflow(ctx context.Context, cfg config, res *results, out *E2EResult) error {
	dir := filepath.Join(cfg.Work, "payflow-dev")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ports := make([]int, 3)
	for i := range ports {
		p, err := proc.FreePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	tport, uiport, rport := ports[0], ports[1], ports[2]
	secret := payloads.NewSecret()
	raddr := fmt.Sprintf("127.0.0.1:%d", rport)
	logf("e2e: starting payflow dev (Temporal on 127.0.0.1:%d, receiver on %s)", tport, raddr)
	dev, err := proc.Start("payflow dev", filepath.Join(dir, "payflow-dev.log"), dir, localrun.CleanEnv("STRIPE_WEBHOOK_SECRET="+secret),
		cfg.Payflow, "dev", "-dir", dir, "-temporal-port", strconv.Itoa(tport), "-ui-port", strconv.Itoa(uiport),
		"-addr", raddr, "-temporal", cfg.Temporal)
	if err != nil {
		return err
	}
	defer func() {
		if err := dev.Stop(30*time.Second, false); err != nil {
			res.notice("%v", err)
		}
	}()
	if err := waitReady(ctx, "http://"+raddr+"/readyz", 2*time.Minute, dev); err != nil {
		return fmt.Errorf("payflow dev did not come up: %w (log: %s)\n%s", err, filepath.Join(dir, "payflow-dev.log"), tailFile(filepath.Join(dir, "payflow-dev.log"), 15))
	}
	c, err := dial(ctx, fmt.Sprintf("127.0.0.1:%d", tport))
	if err != nil {
		return err
	}
	defer c.Close()
	w, err := startBareWorker(c, tunedWorker)
	if err != nil {
		return err
	}
	defer w.Stop()
	httpc, err := load.NewClient(raddr, webhook.Path, max(cfg.E2EConns, cfg.BurstConns), 30*time.Second)
	if err != nil {
		return err
	}
	defer httpc.Close()
	t := &target{name: "payflow-dev", c: c, payflow: procs{dev}, http: httpc, secret: secret}
	if tp := temporalChild(dev); tp != nil {
		t.temporal = procs{tp}
	} else {
		res.notice("could not find payflow dev's Temporal server process: its CPU is not reported")
	}

	// Warm-up, unmeasured: connections, caches, the first SQLite pages.
	warm := min(50, cfg.Events)
	for _, bare := range []bool{false, true} {
		if _, err := runPhase(ctx, cfg, t, "warm-up", bare, warm, min(16, cfg.E2EConns)); err != nil {
			return err
		}
	}
	// The bare client's first phase on the fresh server: the figure the
	// default-configured server is compared with (same phase on a fresh
	// server there), and the warm-up that takes this server past its
	// fresh-start speed (the first thousand workflows on a new dev server go
	// faster than any later ones), so the rounds compare payflow and the
	// bare client in the same regime.
	{
		ph, err := runPhase(ctx, cfg, t, "bare-fresh-server", true, max(cfg.Events/2, 1), cfg.E2EConns)
		out.Phases = append(out.Phases, ph)
		if err != nil {
			return err
		}
	}
	// Each round: bare client (half the events), payflow (all), bare client
	// (the other half). The dev server slows down as its database and caches
	// grow; the bare client's halves bracket payflow's phase so the drift
	// falls on both sides alike.
	for round := range cfg.E2ERounds {
		for _, step := range roundSteps(cfg.Events) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			ph, err := runPhase(ctx, cfg, t, step.name, step.bare, step.n, cfg.E2EConns)
			ph.Round, ph.Part = round+1, step.part
			out.Phases = append(out.Phases, ph)
			if err != nil {
				return err
			}
		}
	}
	if cfg.Burst > 0 && ctx.Err() == nil {
		ph, err := runPhase(ctx, cfg, t, "payflow-burst", false, cfg.Burst, cfg.BurstConns)
		out.Phases = append(out.Phases, ph)
		if err != nil {
			return err
		}
	}
	if _, peak, err := proc.Memory(dev.Pid()); err == nil {
		out.PayflowDevPeak = float64(peak) / (1 << 20)
	}
	if len(t.temporal) > 0 {
		if _, peak, err := proc.Memory(t.temporal[0].Pid()); err == nil {
			out.TemporalPeakMiB["payflow-dev"] = float64(peak) / (1 << 20)
		}
	}
	return nil
}

// e2eDefault runs the bare client against a dev server started without
// payflow dev's storage pragmas, with a default-configured worker.
func e2eDefault(ctx context.Context, cfg config, res *results, out *E2EResult) error {
	dir := filepath.Join(cfg.Work, "default-dev")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tport, err := proc.FreePort()
	if err != nil {
		return err
	}
	uiport, err := proc.FreePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", tport)
	logf("e2e: starting a default-configured Temporal dev server on %s", addr)
	// payflow dev's flags without --sqlite-pragma: the dev server's default
	// storage settings (still a file, as payflow dev uses one).
	srv, err := proc.Start("temporal (default)", filepath.Join(dir, "temporal.log"), dir, localrun.CleanEnv(), cfg.Temporal,
		"server", "start-dev", "--db-filename", filepath.Join(dir, "temporal.db"), "--port", strconv.Itoa(tport),
		"--ui-port", strconv.Itoa(uiport), "--ip", "127.0.0.1", "--namespace", namespace,
		"--search-attribute", routing.CustomerIDKey.GetName()+"=Keyword",
		"--search-attribute", routing.StatusKey.GetName()+"=Keyword",
		"--search-attribute", routing.DunningStageKey.GetName()+"=Keyword", "--log-level", "warn")
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Stop(20*time.Second, true); err != nil {
			res.notice("%v", err)
		}
	}()
	if err := proc.WaitTCP(addr, 2*time.Minute, srv); err != nil {
		return err
	}
	c, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	// The namespace and search attributes are ready a moment after the port.
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = c.CheckHealth(hctx, &client.CheckHealthRequest{})
	cancel()
	if err != nil {
		return err
	}
	w, err := startBareWorker(c, worker.Options{})
	if err != nil {
		return err
	}
	defer w.Stop()
	t := &target{name: "default-dev", c: c, temporal: procs{srv}, secret: payloads.NewSecret()}
	// The same warm-up and phase as the bare client's first on payflow dev's
	// server.
	if _, err := runPhase(ctx, cfg, t, "warm-up", true, min(50, cfg.Events), min(16, cfg.E2EConns)); err != nil {
		return err
	}
	ph, err := runPhase(ctx, cfg, t, "bare-default-server", true, max(cfg.Events/2, 1), cfg.E2EConns)
	out.Phases = append(out.Phases, ph)
	if _, peak, err := proc.Memory(srv.Pid()); err == nil {
		out.TemporalPeakMiB["default-dev"] = float64(peak) / (1 << 20)
	}
	return err
}

func tailFile(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return tail(string(b), lines)
}
