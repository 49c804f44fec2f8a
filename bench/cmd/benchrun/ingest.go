package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/payflow/payflow/internal/localrun"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/payflow/payflow/bench/internal/load"
	"github.com/payflow/payflow/bench/internal/payloads"
	"github.com/payflow/payflow/bench/internal/proc"
	"github.com/payflow/payflow/webhook"
)

// Server names.
const (
	srvPayflow = "payflow"
	srvFiber   = "fiber-constructevent"
	srvExpress = "express"
)

// IngestRun is one measured run of one server.
type IngestRun struct {
	Server     string  `json:"server"`
	Conns      int     `json:"conns"`
	Round      int     `json:"round"`
	Position   int     `json:"position"` // order within the round
	Requests   int64   `json:"requests"`
	Non2xx     int64   `json:"non_2xx"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	RPS        float64 `json:"rps"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	MaxUs      float64 `json:"max_us"`
	CPUus      float64 `json:"cpu_us_per_req"`        // server process utime+stime / requests
	ClientCPU  float64 `json:"client_cpu_us_per_req"` // load generator's CPU / requests
	RSSMiB     float64 `json:"rss_mib_after"`
	BgCores    float64 `json:"background_cores"` // other processes' CPU during the run, in cores
}

// FixedRun is one open-loop run at a fixed rate.
type FixedRun struct {
	Server  string  `json:"server"`
	Round   int     `json:"round"`
	Rate    int     `json:"rate"`
	OK      int64   `json:"ok"`
	Failed  int64   `json:"failed"`
	Late    int64   `json:"late"`
	P50us   float64 `json:"p50_us"`
	P99us   float64 `json:"p99_us"`
	MaxUs   float64 `json:"max_us"`
	CPUus   float64 `json:"cpu_us_per_req"`
	Seconds float64 `json:"seconds"`
}

// IngestSummary is the median over rounds of one server at one connection count.
type IngestSummary struct {
	Server string  `json:"server"`
	Conns  int     `json:"conns"`
	RPS    float64 `json:"rps"`
	P50us  float64 `json:"p50_us"`
	P99us  float64 `json:"p99_us"`
	CPUus  float64 `json:"cpu_us_per_req"`
	Errors int64   `json:"errors_and_non_2xx"`
	BgMax  float64 `json:"background_cores_max"`
}

// IngestResult is the whole ingest benchmark.
type IngestResult struct {
	Servers  []string                  `json:"servers"`
	Runs     []IngestRun               `json:"runs"`
	Summary  []IngestSummary           `json:"summary"`
	Fixed    []FixedRun                `json:"fixed_rate_runs,omitempty"`
	FixedSum []FixedRun                `json:"fixed_rate_summary,omitempty"`
	PeakRSS  map[string]float64        `json:"peak_rss_mib"`
	Ratios   map[string]map[int]Ratios `json:"ratios"` // baseline -> conns -> payflow/baseline
	Payload  int                       `json:"payload_bytes"`
}

// Ratios are payflow's figures divided by a baseline's.
type Ratios struct {
	RPS float64 `json:"rps"`
	CPU float64 `json:"cpu_per_req"`
	P99 float64 `json:"p99"`
}

type server struct {
	name string
	addr string
	p    *proc.Proc
}

func (r *IngestResult) summary(name string, conns int) (IngestSummary, bool) {
	for _, s := range r.Summary {
		if s.Server == name && s.Conns == conns {
			return s, true
		}
	}
	return IngestSummary{}, false
}

// startServers builds the Go server and starts the three servers under test.
func startServers(ctx context.Context, cfg config, res *results, secret string) ([]*server, error) {
	bin := filepath.Join(cfg.Work, "ingestserver")
	logf("ingest: building bench/cmd/ingestserver")
	if out, err := runCmd(ctx, 5*time.Minute, cfg.Root, os.Environ(), "go", "build", "-o", bin, "./bench/cmd/ingestserver"); err != nil {
		return nil, fmt.Errorf("build ingestserver: %v\n%s", err, out)
	}
	var servers []*server
	start := func(name string, argv []string, env []string) error {
		port, err := proc.FreePort()
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if name == srvExpress {
			env = append(env, fmt.Sprintf("PORT=%d", port))
		} else {
			argv = append(argv, "-addr", addr)
		}
		p, err := proc.Start(name, filepath.Join(cfg.Work, "ingest-"+name+".log"), cfg.Root, env, argv...)
		if err != nil {
			return err
		}
		s := &server{name: name, addr: addr, p: p}
		servers = append(servers, s)
		return proc.WaitTCP(addr, 30*time.Second, p)
	}
	env := localrun.CleanEnv("STRIPE_WEBHOOK_SECRET=" + secret)
	stopAll := func() {
		for _, s := range servers {
			_ = s.p.Stop(10*time.Second, true)
		}
	}
	for _, mode := range []string{srvPayflow, srvFiber} {
		if err := start(mode, []string{bin, "-mode", mode}, env); err != nil {
			stopAll()
			return nil, err
		}
	}
	if cfg.SkipExpress {
		res.notice("Express baseline skipped (-skip-express)")
		return servers, nil
	}
	if err := prepareExpress(ctx, cfg); err != nil {
		res.notice("Express baseline skipped: %v", err)
		return servers, nil
	}
	node, _ := exec.LookPath("node")
	if err := start(srvExpress, []string{node, filepath.Join(cfg.Root, "bench", "express", "server.js")}, env); err != nil {
		res.notice("Express baseline skipped: %v", err)
		last := servers[len(servers)-1]
		_ = last.p.Stop(5*time.Second, true)
		servers = servers[:len(servers)-1]
	}
	return servers, nil
}

// prepareExpress checks for Node and installs the baseline's packages from
// its lock file when they are missing.
func prepareExpress(ctx context.Context, cfg config) error {
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("node is not installed")
	}
	dir := filepath.Join(cfg.Root, "bench", "express")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "stripe", "package.json")); err == nil {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "express", "package.json")); err == nil {
			return nil
		}
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return errors.New("bench/express/node_modules is missing and npm is not installed")
	}
	logf("ingest: npm ci in bench/express")
	if out, err := runCmd(ctx, 5*time.Minute, dir, os.Environ(), "npm", "ci", "--no-audit", "--no-fund"); err != nil {
		return fmt.Errorf("npm ci: %v\n%s", err, tail(out, 10))
	}
	return nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func runIngest(ctx context.Context, cfg config, res *results) (*IngestResult, error) {
	secret := payloads.NewSecret()
	servers, err := startServers(ctx, cfg, res, secret)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, s := range servers {
			if err := s.p.Stop(10*time.Second, true); err != nil {
				res.notice("%v", err)
			}
		}
	}()
	logf("ingest: building a pool of %d signed events", cfg.Pool)
	pool, err := payloads.Build(cfg.Pool, "ing"+payloads.Tag(), secret, time.Now())
	if err != nil {
		return nil, err
	}
	out := &IngestResult{PeakRSS: map[string]float64{}, Ratios: map[string]map[int]Ratios{}, Payload: len(pool.Events[0].Payload)}
	for _, s := range servers {
		out.Servers = append(out.Servers, s.name)
	}
	var next atomic.Uint64
	total := len(cfg.Conns) * cfg.Rounds * len(servers)
	n := 0
	for _, conns := range cfg.Conns {
		for round := range cfg.Rounds {
			for pos := range servers {
				if ctx.Err() != nil {
					return out, ctx.Err()
				}
				s := servers[(pos+round)%len(servers)] // rotate the order every round
				n++
				run, err := ingestRun(ctx, cfg, s, conns, pool, &next)
				if err != nil {
					return out, err
				}
				run.Round, run.Position = round+1, pos+1
				logf("ingest %2d/%d  %-22s conns=%-3d %8.0f req/s  p50 %7.0fµs  p99 %7.0fµs  cpu %6.1fµs/req  errors %d  background %.2f cores",
					n, total, s.name, conns, run.RPS, run.P50us, run.P99us, run.CPUus, run.Errors+run.Non2xx, run.BgCores)
				if run.Errors+run.Non2xx > 0 {
					res.notice("ingest %s conns=%d round %d: %d errors, %d non-2xx (%s)", s.name, conns, round+1, run.Errors, run.Non2xx, run.FirstError)
				}
				out.Runs = append(out.Runs, run)
			}
		}
	}
	if cfg.FixedRate > 0 {
		for round := range min(cfg.Rounds, 3) {
			for pos := range servers {
				if ctx.Err() != nil {
					return out, ctx.Err()
				}
				s := servers[(pos+round)%len(servers)]
				fr, err := fixedRun(ctx, cfg, s, pool, &next)
				if err != nil {
					return out, err
				}
				fr.Round = round + 1
				logf("fixed %d req/s  %-22s p50 %7.0fµs  p99 %7.0fµs  cpu %6.1fµs/req  failed %d late %d",
					cfg.FixedRate, s.name, fr.P50us, fr.P99us, fr.CPUus, fr.Failed, fr.Late)
				out.Fixed = append(out.Fixed, fr)
			}
		}
	}
	for _, s := range servers {
		_, peak, err := proc.Memory(s.p.Pid())
		if err == nil {
			out.PeakRSS[s.name] = float64(peak) / (1 << 20)
		}
	}
	out.summarize(cfg)
	return out, nil
}

func ingestRun(ctx context.Context, cfg config, s *server, conns int, pool *payloads.Pool, next *atomic.Uint64) (IngestRun, error) {
	pool.Resign(time.Now())
	c, err := load.NewClient(s.addr, webhook.Path, conns, 10*time.Second)
	if err != nil {
		return IngestRun{}, err
	}
	defer c.Close()
	if cfg.Warmup > 0 {
		c.ClosedLoop(ctx, conns, cfg.Warmup, pool, next)
	}
	cpu0, err := proc.CPU(s.p.Pid())
	if err != nil {
		return IngestRun{}, fmt.Errorf("%s: %w (did it exit? see %s)", s.name, err, cfg.Work)
	}
	self0, sys0 := proc.SelfCPU(), proc.SystemBusy()
	smp := c.ClosedLoop(ctx, conns, cfg.Duration, pool, next)
	self1, sys1 := proc.SelfCPU(), proc.SystemBusy()
	cpu1, err := proc.CPU(s.p.Pid())
	if err != nil {
		return IngestRun{}, fmt.Errorf("%s: %w", s.name, err)
	}
	rss, _, _ := proc.Memory(s.p.Pid())
	r := IngestRun{
		Server: s.name, Conns: conns, Requests: smp.OK, Non2xx: smp.Non2xx, Errors: smp.Errors, FirstError: smp.FirstError,
		Seconds: smp.Elapsed.Seconds(), RPS: smp.RPS(),
		P50us: us(load.Percentile(smp.Latencies, 50)), P99us: us(load.Percentile(smp.Latencies, 99)),
		MaxUs: us(load.Percentile(smp.Latencies, 100)), RSSMiB: float64(rss) / (1 << 20),
	}
	if all := smp.OK + smp.Non2xx; all > 0 {
		r.CPUus = us(cpu1-cpu0) / float64(all)
		r.ClientCPU = us(self1-self0) / float64(all)
	}
	r.BgCores = max(0, (sys1-sys0-(cpu1-cpu0)-(self1-self0)).Seconds()/smp.Elapsed.Seconds())
	return r, nil
}

func fixedRun(ctx context.Context, cfg config, s *server, pool *payloads.Pool, next *atomic.Uint64) (FixedRun, error) {
	pool.Resign(time.Now())
	c, err := load.NewClient(s.addr, webhook.Path, cfg.FixedConns, 10*time.Second)
	if err != nil {
		return FixedRun{}, err
	}
	defer c.Close()
	if cfg.Warmup > 0 {
		c.FixedRate(ctx, cfg.FixedRate, cfg.FixedConns, cfg.Warmup, pool, next)
	}
	cpu0, err := proc.CPU(s.p.Pid())
	if err != nil {
		return FixedRun{}, err
	}
	smp := c.FixedRate(ctx, cfg.FixedRate, cfg.FixedConns, cfg.FixedDuration, pool, next)
	cpu1, err := proc.CPU(s.p.Pid())
	if err != nil {
		return FixedRun{}, err
	}
	fr := FixedRun{
		Server: s.name, Rate: cfg.FixedRate, OK: smp.OK, Failed: smp.Errors + smp.Non2xx, Late: smp.Late,
		P50us: us(load.Percentile(smp.Latencies, 50)), P99us: us(load.Percentile(smp.Latencies, 99)),
		MaxUs: us(load.Percentile(smp.Latencies, 100)), Seconds: smp.Elapsed.Seconds(),
	}
	if all := smp.OK + smp.Non2xx; all > 0 {
		fr.CPUus = us(cpu1-cpu0) / float64(all)
	}
	return fr, nil
}

func (r *IngestResult) summarize(cfg config) {
	for _, name := range r.Servers {
		for _, conns := range cfg.Conns {
			var rps, p50, p99, cpu []float64
			var errs int64
			var bg float64
			for _, run := range r.Runs {
				if run.Server == name && run.Conns == conns {
					rps, p50, p99, cpu = append(rps, run.RPS), append(p50, run.P50us), append(p99, run.P99us), append(cpu, run.CPUus)
					errs += run.Errors + run.Non2xx
					bg = max(bg, run.BgCores)
				}
			}
			if len(rps) == 0 {
				continue
			}
			r.Summary = append(r.Summary, IngestSummary{Server: name, Conns: conns, RPS: median(rps), P50us: median(p50), P99us: median(p99), CPUus: median(cpu), Errors: errs, BgMax: bg})
		}
		var p50, p99, cpu, mx []float64
		var ok, failed, late int64
		for _, f := range r.Fixed {
			if f.Server == name {
				p50, p99, cpu, mx = append(p50, f.P50us), append(p99, f.P99us), append(cpu, f.CPUus), append(mx, f.MaxUs)
				ok, failed, late = ok+f.OK, failed+f.Failed, late+f.Late
			}
		}
		if len(p50) > 0 {
			r.FixedSum = append(r.FixedSum, FixedRun{Server: name, Rate: cfg.FixedRate, OK: ok, Failed: failed, Late: late,
				P50us: median(p50), P99us: median(p99), CPUus: median(cpu), MaxUs: slices.Max(mx)})
		}
	}
	for _, base := range []string{srvFiber, srvExpress} {
		for _, conns := range cfg.Conns {
			p, ok1 := r.summary(srvPayflow, conns)
			b, ok2 := r.summary(base, conns)
			if !ok1 || !ok2 || b.RPS == 0 || b.CPUus == 0 || b.P99us == 0 {
				continue
			}
			if r.Ratios[base] == nil {
				r.Ratios[base] = map[int]Ratios{}
			}
			r.Ratios[base][conns] = Ratios{RPS: p.RPS / b.RPS, CPU: p.CPUus / b.CPUus, P99: p.P99us / b.P99us}
		}
	}
}
