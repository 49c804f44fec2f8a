// Command benchrun is `make bench`: payflow's speed measured side by side
// with its baselines, in one run, on this machine.
//
//  1. micro: go test -bench on the receiver's hot path (webhook/bench_test.go);
//  2. ingest: the real receiver (verify, decode, route; the Temporal hand-off a
//     no-op) against a minimal Fiber + stripe-go ConstructEvent handler and
//     the Express + stripe handler of Stripe's docs, each its own process,
//     under the Go load generator at 1/16/64 connections (alternating order,
//     median of the rounds), plus a fixed-rate run;
//  3. end to end: N events posted to `payflow dev` until every workflow has
//     completed, beside a bare Temporal client doing the same
//     SignalWithStart calls on the same server, and the bare client against
//     a default-configured dev server; optionally a burst;
//  4. cluster: the same end-to-end measurement on a fresh real Temporal
//     cluster (internal/cluster: four processes on the local PostgreSQL)
//     with `payflow serve` and `payflow worker` on it, and what an event
//     costs each process and PostgreSQL (skipped, with a notice, when
//     PostgreSQL or the server binaries are missing).
//
// It prints a table with the ratios and the targets, and writes every figure
// to bench/results/<timestamp>.json. All traffic goes to 127.0.0.1; every
// loop is bounded in count and time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	Payflow  string `json:"payflow"`
	Temporal string `json:"temporal"`

	Conns          []int         `json:"conns"`
	Duration       time.Duration `json:"duration_ns"`
	Warmup         time.Duration `json:"warmup_ns"`
	Rounds         int           `json:"rounds"`
	Pool           int           `json:"pool"`
	FixedRate      int           `json:"fixed_rate"`
	FixedDuration  time.Duration `json:"fixed_duration_ns"`
	FixedConns     int           `json:"fixed_conns"`
	MicroBenchtime string        `json:"micro_benchtime"`

	Events          int           `json:"events"`
	E2EConns        int           `json:"e2e_conns"`
	E2ERounds       int           `json:"e2e_rounds"`
	Burst           int           `json:"burst"`
	BurstConns      int           `json:"burst_conns"`
	CompleteTimeout time.Duration `json:"complete_timeout_ns"`

	SkipIngest  bool `json:"skip_ingest"`
	SkipE2E     bool `json:"skip_e2e"`
	SkipMicro   bool `json:"skip_micro"`
	SkipExpress bool `json:"skip_express"`
	SkipDefault bool `json:"skip_default_server"`
	SkipCluster bool `json:"skip_cluster"`

	ClusterShards    int    `json:"cluster_shards"`
	ClusterPG        string `json:"-"` // may hold a password
	ClusterPayflowDB string `json:"cluster_payflow_db"`

	Out     string        `json:"-"`
	Timeout time.Duration `json:"timeout_ns"`
	Keep    bool          `json:"-"`
	Work    string        `json:"-"` // temp folder
	Root    string        `json:"-"` // repository root
}

func parseConns(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1024 {
			return nil, fmt.Errorf("bad -conns entry %q (1..1024)", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	var cfg config
	var conns string
	flag.StringVar(&cfg.Payflow, "payflow", "bin/payflow", "payflow binary (make build); used by the end-to-end benchmark")
	flag.StringVar(&cfg.Temporal, "temporal", ".tools/bin/temporal", "Temporal CLI (dev server)")
	flag.StringVar(&conns, "conns", "1,16,64", "ingest: connection counts")
	flag.DurationVar(&cfg.Duration, "duration", 3*time.Second, "ingest: measured time of one run")
	flag.DurationVar(&cfg.Warmup, "warmup", time.Second, "ingest: unmeasured load before each run")
	flag.IntVar(&cfg.Rounds, "rounds", 5, "ingest: rounds (server order rotates each round; medians reported)")
	flag.IntVar(&cfg.Pool, "pool", 8192, "ingest: distinct signed events in the load generator's pool")
	flag.IntVar(&cfg.FixedRate, "fixed-rate", 2000, "ingest: open-loop request rate for the latency run (0: skip)")
	flag.DurationVar(&cfg.FixedDuration, "fixed-duration", 3*time.Second, "ingest: length of the fixed-rate run")
	flag.IntVar(&cfg.FixedConns, "fixed-conns", 64, "ingest: connections available to the fixed-rate run")
	flag.StringVar(&cfg.MicroBenchtime, "benchtime", "1s", "micro: go test -benchtime")
	flag.IntVar(&cfg.Events, "events", 2000, "end to end: events (distinct payment intents) per phase")
	flag.IntVar(&cfg.E2EConns, "e2e-conns", 64, "end to end: concurrent senders (HTTP connections / SignalWithStart calls)")
	flag.IntVar(&cfg.E2ERounds, "e2e-rounds", 1, "end to end: rounds of bare client (events/2), payflow (events), bare client (events/2)")
	flag.IntVar(&cfg.Burst, "burst", 0, "end to end: also post a burst of this many events at full speed (e.g. 10000; 0: skip)")
	flag.IntVar(&cfg.BurstConns, "burst-conns", 128, "end to end: concurrent senders of the burst")
	flag.DurationVar(&cfg.CompleteTimeout, "complete-timeout", 0, "end to end: longest wait for every workflow of a phase to complete (0: 2m + 150ms per event)")
	flag.BoolVar(&cfg.SkipIngest, "skip-ingest", false, "skip the ingest benchmark")
	flag.BoolVar(&cfg.SkipE2E, "skip-e2e", false, "skip the end-to-end benchmark")
	flag.BoolVar(&cfg.SkipMicro, "skip-micro", false, "skip the go test micro-benchmarks")
	flag.BoolVar(&cfg.SkipExpress, "skip-express", false, "skip the Express baseline")
	flag.BoolVar(&cfg.SkipDefault, "skip-default-server", false, "skip the default-configured dev server comparison")
	flag.BoolVar(&cfg.SkipCluster, "skip-cluster", false, "skip the end-to-end benchmark on a real Temporal cluster (it runs when PostgreSQL answers and make cluster-tools has built the server)")
	flag.IntVar(&cfg.ClusterShards, "cluster-shards", 4, "cluster: history shards")
	flag.StringVar(&cfg.ClusterPG, "cluster-postgres", "postgres://postgres@127.0.0.1:5432/postgres", "cluster: the PostgreSQL server (127.0.0.1 only) of Temporal's databases and payflow's")
	flag.StringVar(&cfg.ClusterPayflowDB, "cluster-payflow-db", "postgres", "cluster: payflow's own database: postgres (production's topology) or sqlite (as payflow dev)")
	flag.StringVar(&cfg.Out, "out", "bench/results", "folder of the result JSON files")
	flag.DurationVar(&cfg.Timeout, "timeout", 0, "bound on the whole run (0: 30m, plus 200ms per burst event)")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the temporary folder (logs, databases)")
	flag.Parse()

	var err error
	if cfg.Conns, err = parseConns(conns); err != nil {
		fatal(err)
	}
	if cfg.Rounds < 1 || cfg.Rounds > 50 || cfg.Events < 2 || cfg.Events > 1_000_000 || cfg.Burst < 0 || cfg.Burst > 1_000_000 ||
		cfg.E2EConns < 1 || cfg.E2EConns > 4096 || cfg.BurstConns < 1 || cfg.BurstConns > 4096 || cfg.E2ERounds < 1 || cfg.E2ERounds > 20 ||
		cfg.Pool < 1 || cfg.Pool > 200_000 || cfg.Duration <= 0 || cfg.Duration > 10*time.Minute ||
		cfg.ClusterShards < 1 || cfg.ClusterShards > 16384 {
		fatal(errors.New("a flag is out of range"))
	}
	if cfg.ClusterPayflowDB != "postgres" && cfg.ClusterPayflowDB != "sqlite" {
		fatal(errors.New("-cluster-payflow-db: postgres or sqlite"))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30*time.Minute + time.Duration(cfg.Burst)*200*time.Millisecond
	}
	if cfg.Root, err = repoRoot(); err != nil {
		fatal(err)
	}
	for _, p := range []*string{&cfg.Payflow, &cfg.Temporal, &cfg.Out} {
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(cfg.Root, *p)
		}
	}
	if cfg.Work, err = os.MkdirTemp("", "payflow-bench-"); err != nil {
		fatal(err)
	}
	if !cfg.Keep {
		defer os.RemoveAll(cfg.Work)
	}

	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	res := &results{Started: time.Now().UTC(), Config: cfg, Machine: describeMachine(cfg)}
	logf("payflow bench: %s; %d CPUs; work folder %s", res.Machine.CPUModel, res.Machine.NProc, cfg.Work)

	if !cfg.SkipMicro && ctx.Err() == nil {
		res.Micro, err = runMicro(ctx, cfg)
		if err != nil {
			res.notice("micro-benchmarks: %v", err)
		}
	}
	if !cfg.SkipIngest && ctx.Err() == nil {
		res.Ingest, err = runIngest(ctx, cfg, res)
		if err != nil {
			res.notice("ingest benchmark: %v", err)
		}
	}
	if !cfg.SkipE2E && ctx.Err() == nil {
		res.E2E, err = runE2E(ctx, cfg, res)
		if err != nil {
			res.notice("end-to-end benchmark: %v", err)
		}
	}
	if cfg.SkipCluster {
		res.ClusterSkipped = "-skip-cluster"
	} else if ctx.Err() == nil {
		if why := clusterAvailable(ctx, cfg); why != "" {
			res.ClusterSkipped = why
			res.notice("cluster benchmark skipped: %s", why)
		} else {
			res.Cluster, err = runCluster(ctx, cfg, res)
			if err != nil {
				res.notice("cluster benchmark: %v", err)
			}
			res.Cluster.summarize(cfg.E2ERounds)
			res.Cluster.VsDev = compareDev(res.Cluster, res.E2E)
		}
	}
	if ctx.Err() != nil {
		res.notice("run cut short: %v", context.Cause(ctx))
	}
	res.Finished = time.Now().UTC()
	res.evaluate()
	res.print(os.Stdout)
	path, err := res.write(cfg.Out)
	if err != nil {
		fatal(err)
	}
	fmt.Printf("\nresults: %s\n", path)
	if cfg.Keep {
		fmt.Printf("logs and databases kept in %s\n", cfg.Work)
	}
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 20 {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/payflow/payflow\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("run benchrun inside the payflow repository (make bench)")
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "benchrun:", err)
	os.Exit(1)
}

// runCmd runs a short command, bounded by ctx and timeout, returning its
// combined output.
func runCmd(ctx context.Context, timeout time.Duration, dir string, env []string, name string, args ...string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Machine describes where the figures come from.
type Machine struct {
	NProc       int    `json:"nproc"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
	CPUModel    string `json:"cpu_model"`
	MemTotal    string `json:"mem_total"`
	Kernel      string `json:"kernel"`
	GoVersion   string `json:"go_version"`
	Node        string `json:"node_version,omitempty"`
	TemporalCLI string `json:"temporal_cli,omitempty"`
	LoadAvg     string `json:"loadavg_at_start"`
	// FsyncUs is the mean time of a 4 KiB synchronous write (O_DSYNC) in
	// the folder the dev servers keep their SQLite files in: what SQLite's
	// default synchronous=full pays at every commit, and what payflow dev's
	// pragmas save.
	FsyncUs float64 `json:"fsync_4k_us"`
}

func describeMachine(cfg config) Machine {
	m := Machine{NProc: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				fs := strings.Fields(v)
				if len(fs) > 0 {
					kb, _ := strconv.ParseFloat(fs[0], 64)
					m.MemTotal = fmt.Sprintf("%.1f GiB", kb/(1<<20))
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	m.FsyncUs = fsyncProbe(cfg.Work)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := runCmd(ctx, 5*time.Second, "", nil, "node", "--version"); err == nil {
		m.Node = strings.TrimSpace(out)
	}
	if out, err := runCmd(ctx, 5*time.Second, "", nil, cfg.Temporal, "--version"); err == nil {
		m.TemporalCLI = strings.TrimSpace(out)
	}
	return m
}

// fsyncProbe times 200 synchronous 4 KiB writes (at most 10 s) in dir.
func fsyncProbe(dir string) float64 {
	path := filepath.Join(dir, "fsync-probe")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_DSYNC, 0o600)
	if err != nil {
		return 0
	}
	defer os.Remove(path)
	defer f.Close()
	buf := make([]byte, 4096)
	start := time.Now()
	n := 0
	for ; n < 200 && time.Since(start) < 10*time.Second; n++ {
		if _, err := f.WriteAt(buf, int64(n%16)*4096); err != nil {
			return 0
		}
	}
	return us(time.Since(start)) / float64(n)
}
