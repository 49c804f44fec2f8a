// Command chaos runs payflow's fault scenarios against real processes on
// this machine and fails on any lost or duplicated effect (make chaos).
//
//	go run ./chaos/cmd/chaos -temporal .tools/bin/temporal [-scenario worker-kill,db-sqlite] [-n 300]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/payflow/payflow/chaos"
)

func main() {
	os.Exit(run())
}

func run() int {
	var names []string
	for _, s := range chaos.Scenarios() {
		names = append(names, s.Name)
	}
	cfg := chaos.Config{Out: os.Stderr}
	scenario := flag.String("scenario", "all", "scenarios to run, comma-separated: "+strings.Join(names, ", "))
	flag.StringVar(&cfg.Payflow, "payflow", "", "payflow binary (default: built from ./cmd/payflow into the work folder)")
	flag.StringVar(&cfg.Temporal, "temporal", ".tools/bin/temporal", "the pinned Temporal CLI (make tools installs it)")
	flag.IntVar(&cfg.N, "n", 300, "events per burst")
	flag.Float64Var(&cfg.Rate, "rate", 15, "first deliveries a second")
	flag.DurationVar(&cfg.FaultAt, "fault-at", 5*time.Second, "when the fault starts, from the first delivery")
	flag.DurationVar(&cfg.FaultFor, "fault-for", 10*time.Second, "how long the fault lasts (a killed process is restarted after it)")
	flag.DurationVar(&cfg.RetryFor, "retry-for", time.Minute, "how long after the last first delivery an unacknowledged event is still retried")
	flag.DurationVar(&cfg.Wait, "wait", 90*time.Second, "bound on the wait for every effect after the burst")
	flag.StringVar(&cfg.PostgresURL, "postgres", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"PostgreSQL admin URL (loopback, trust auth) for db-postgres and the cluster scenarios, which create and drop databases of their own; empty skips them")
	flag.Uint64Var(&cfg.Seed, "seed", 0, "order of the storms' deliveries (0: from the clock; every run prints its seed)")
	keep := flag.Bool("keep", false, "keep the work folder (logs, databases) even when every scenario passed")
	timeout := flag.Duration("timeout", 15*time.Minute, "bound on the whole run")
	flag.Parse()

	var selected []chaos.Scenario
	all := chaos.ScenariosFor(cfg.N)
	if *scenario == "all" {
		selected = all
	} else {
		for _, n := range strings.Split(*scenario, ",") {
			i := slices.IndexFunc(all, func(s chaos.Scenario) bool { return s.Name == strings.TrimSpace(n) })
			if i < 0 {
				fmt.Fprintf(os.Stderr, "chaos: unknown scenario %q (have: %s)\n", n, strings.Join(names, ", "))
				return 2
			}
			selected = append(selected, all[i])
		}
	}
	if cfg.N < 1 || cfg.N > 20000 || cfg.Rate <= 0 || cfg.Rate > 1000 {
		fmt.Fprintln(os.Stderr, "chaos: -n must be 1..20000 and -rate 0..1000")
		return 2
	}
	var err error
	if cfg.Temporal, err = filepath.Abs(cfg.Temporal); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	if st, err := os.Stat(cfg.Temporal); err != nil || st.IsDir() {
		fmt.Fprintf(os.Stderr, "chaos: Temporal CLI not found at %s (make tools installs it)\n", cfg.Temporal)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	cfg.Work, err = os.MkdirTemp("", "payflow-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	if cfg.Payflow == "" {
		cfg.Payflow = filepath.Join(cfg.Work, "payflow")
		fmt.Fprintln(os.Stderr, "chaos: building ./cmd/payflow")
		build := exec.CommandContext(ctx, "go", "build", "-o", cfg.Payflow, "./cmd/payflow")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "chaos: build payflow: %v\n%s", err, out)
			return 1
		}
	} else if cfg.Payflow, err = filepath.Abs(cfg.Payflow); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}

	start := time.Now()
	var results []*chaos.Result
	for _, sc := range selected {
		if ctx.Err() != nil {
			break
		}
		results = append(results, chaos.Run(ctx, cfg, sc))
	}
	chaos.Report(os.Stdout, results)
	failed := ctx.Err() != nil || len(results) < len(selected)
	for _, r := range results {
		failed = failed || r.Failed()
	}
	fmt.Printf("\n%d scenarios in %s", len(results), time.Since(start).Round(time.Second))
	if ctx.Err() != nil {
		fmt.Printf(" (stopped: %v)", context.Cause(ctx))
	}
	fmt.Println()
	if failed || *keep {
		fmt.Printf("logs and databases: %s\n", cfg.Work)
	} else {
		os.RemoveAll(cfg.Work)
	}
	if failed {
		fmt.Println("FAIL: lost, duplicated or unacknowledged events (or a harness error) above")
		return 1
	}
	flagged := 0
	for _, r := range results {
		flagged += r.Flagged
	}
	if flagged > 0 {
		fmt.Printf("PASS: no event lost, no unflagged duplicate; %d receipts sent twice in the documented window, each flagged by the worker as a possible duplicate\n", flagged)
		return 0
	}
	fmt.Println("PASS: every acknowledged event had exactly one effect")
	return 0
}
