// Command loadgen posts signed Stripe events to a receiver on 127.0.0.1: the
// load generator of make bench, usable on its own.
//
//	loadgen -addr 127.0.0.1:4242 -secret whsec_… -conns 64 -duration 5s
//	loadgen -addr 127.0.0.1:4242 -secret whsec_… -rate 2000 -duration 5s
//
// Every event is a distinct payment_intent.succeeded from package fixtures
// (a pool of -pool events, re-signed before the run). The run is bounded by
// -duration.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"time"

	"github.com/payflow/payflow/bench/internal/load"
	"github.com/payflow/payflow/bench/internal/payloads"
	"github.com/payflow/payflow/webhook"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4242", "receiver host:port (127.0.0.1 only)")
	path := flag.String("path", webhook.Path, "URL path")
	secret := flag.String("secret", os.Getenv("STRIPE_WEBHOOK_SECRET"), "signing secret (default $STRIPE_WEBHOOK_SECRET)")
	conns := flag.Int("conns", 16, "connections (closed loop), or the most connections of the fixed-rate run")
	rate := flag.Int("rate", 0, "requests a second (open loop); 0: closed loop")
	duration := flag.Duration("duration", 5*time.Second, "length of the run (at most 10m)")
	warmup := flag.Duration("warmup", time.Second, "unmeasured load before the run")
	poolSize := flag.Int("pool", 8192, "distinct events")
	flag.Parse()
	if *secret == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -secret or STRIPE_WEBHOOK_SECRET is required")
		os.Exit(2)
	}
	if *duration <= 0 || *duration > 10*time.Minute || *conns < 1 || *conns > 4096 || *poolSize < 1 || *poolSize > 200_000 || *rate < 0 || *rate > 1_000_000 {
		fmt.Fprintln(os.Stderr, "loadgen: a flag is out of range")
		os.Exit(2)
	}
	c, err := load.NewClient(*addr, *path, *conns, 10*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	defer c.Close()
	pool, err := payloads.Build(*poolSize, "lg"+payloads.Tag(), *secret, time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var next atomic.Uint64
	run := func(d time.Duration) load.Sample {
		if *rate > 0 {
			return c.FixedRate(ctx, *rate, *conns, d, pool, &next)
		}
		return c.ClosedLoop(ctx, *conns, d, pool, &next)
	}
	if *warmup > 0 {
		run(*warmup)
	}
	s := run(*duration)
	fmt.Printf("%d ok, %d non-2xx, %d errors, %d late in %.2fs: %.0f req/s; latency p50 %s p90 %s p99 %s max %s\n",
		s.OK, s.Non2xx, s.Errors, s.Late, s.Elapsed.Seconds(), s.RPS(),
		load.Percentile(s.Latencies, 50), load.Percentile(s.Latencies, 90), load.Percentile(s.Latencies, 99), load.Percentile(s.Latencies, 100))
	if s.FirstError != "" {
		fmt.Println("first error:", s.FirstError)
	}
}
