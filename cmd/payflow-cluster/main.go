// Command payflow-cluster runs payflow's local Temporal cluster (package
// internal/cluster) in the background: `make cluster` and `make
// cluster-down`.
//
//	payflow-cluster up     [-dir .payflow/cluster] [-port-offset 10000] [-namespace default] [-metrics] [-reset]
//	payflow-cluster status [-dir …]
//	payflow-cluster down   [-dir …] [-drop]
//
// up starts Temporal's four services as processes of their own session and
// returns once the cluster serves payflow; they keep running until down.
// The data stays in PostgreSQL (payflow_temporal, payflow_temporal_visibility)
// across down and up; -drop (make cluster-down CLUSTER_RESET=1) drops it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/payflow/payflow/internal/cluster"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "up":
		err = up(os.Args[2:])
	case "down":
		err = down(os.Args[2:])
	case "status":
		err = status(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "payflow-cluster:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: payflow-cluster up|status|down [flags] (payflow-cluster <command> -h for the flags)")
	os.Exit(2)
}

func up(args []string) error {
	fl := flag.NewFlagSet("up", flag.ExitOnError)
	o := cluster.Options{Detach: true, Progress: os.Stdout}
	fl.StringVar(&o.Dir, "dir", ".payflow/cluster", "configuration, logs and state of the running cluster")
	fl.IntVar(&o.PortOffset, "port-offset", 10000, "added to Temporal's default ports (frontend 7233+offset); 0: the first free offset")
	fl.StringVar(&o.Namespace, "namespace", "default", "namespace to register, with payflow's search attributes")
	fl.StringVar(&o.Database, "db", "payflow_temporal", "Temporal's database (visibility: <db>_visibility)")
	fl.IntVar(&o.Shards, "shards", 4, "history shards (fixed when the database is first set up)")
	fl.IntVar(&o.HistoryHosts, "history-hosts", 1, fmt.Sprintf("history processes sharing the shards (1–%d; host i>0 on 7250+offset+i)", cluster.MaxHistoryHosts))
	fl.BoolVar(&o.Metrics, "metrics", false, "Prometheus endpoint per process on 127.0.0.1:8000+offset+i (history, matching, frontend, worker)")
	fl.BoolVar(&o.Reset, "reset", false, "drop both databases first: a fresh cluster")
	fl.StringVar(&o.PGHost, "pg-host", "127.0.0.1", "PostgreSQL host")
	fl.IntVar(&o.PGPort, "pg-port", 5432, "PostgreSQL port")
	fl.StringVar(&o.PGUser, "pg-user", "postgres", "PostgreSQL user")
	fl.StringVar(&o.ServerBin, "server", "", "temporal-server binary (default $PAYFLOW_TEMPORAL_SERVER_BIN or .tools/bin/temporal-server)")
	fl.StringVar(&o.SQLToolBin, "sql-tool", "", "temporal-sql-tool binary (default $PAYFLOW_TEMPORAL_SQL_BIN or .tools/bin/temporal-sql-tool)")
	fl.StringVar(&o.LogLevel, "log-level", "warn", "server log level (logs in <dir>/logs)")
	_ = fl.Parse(args)
	o.PGPassword = os.Getenv("PGPASSWORD")
	o.VisibilityDatabase = o.Database + "_visibility"
	if c, err := cluster.Attach(o.Dir); err == nil {
		if c.Running() {
			fmt.Printf("payflow-cluster: already running (frontend %s, namespace %s)\n", c.Address, c.Namespace)
			return nil
		}
		if alive := c.Alive(); len(alive) > 0 {
			return fmt.Errorf("the cluster in %s runs only in part (%d of %d processes; logs in %s/logs): stop it first (make cluster-down)", o.Dir, len(alive), len(c.Processes), o.Dir)
		}
	}
	// Ctrl-C during start-up stops what was started (Start cleans up when
	// its context ends).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	begin := time.Now()
	c, err := cluster.Start(ctx, o)
	if err != nil {
		return err
	}
	fmt.Printf(`
Temporal cluster up in %s (Temporal server, PostgreSQL %s, %s):
  frontend   %s (gRPC)   %s (HTTP)
  namespace  %s, search attributes StripeCustomerID, PayflowStatus, PayflowDunningStage
%s  logs       %s/logs
Point payflow at it:
  export TEMPORAL_ADDRESS=%s TEMPORAL_NAMESPACE=%s
  ./bin/payflow worker & ./bin/payflow serve
Stop it: make cluster-down   (keeps the data; CLUSTER_RESET=1 drops both databases)
`, time.Since(begin).Round(100*time.Millisecond), o.PGHost+fmt.Sprintf(":%d", o.PGPort), c.Database+", "+c.VisibilityDatabase,
		c.Address, c.HTTPAddress, c.Namespace, processes(c), c.Options().Dir, c.Address, c.Namespace)
	return nil
}

func processes(c *cluster.Cluster) string {
	var b strings.Builder
	for _, p := range c.Processes {
		name := p.Service
		if p.Instance > 0 {
			name = fmt.Sprintf("%s-%d", p.Service, p.Instance+1)
		}
		fmt.Fprintf(&b, "  %-10s pid %d, %s", name, p.PID, p.GRPCAddress)
		if p.MetricsAddress != "" {
			fmt.Fprintf(&b, ", metrics http://%s/metrics", p.MetricsAddress)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func status(args []string) error {
	fl := flag.NewFlagSet("status", flag.ExitOnError)
	dir := fl.String("dir", ".payflow/cluster", "as for up")
	_ = fl.Parse(args)
	c, err := cluster.Attach(*dir)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Println("payflow-cluster: not running")
		return nil
	}
	if err != nil {
		return err
	}
	state := "running"
	if alive := c.Alive(); len(alive) == 0 {
		state = "NOT running (stopped without `make cluster-down`)"
	} else if len(alive) < len(c.Processes) {
		state = fmt.Sprintf("BROKEN, %d of %d processes running (logs in %s/logs; `make cluster-down`, then `make cluster`)", len(alive), len(c.Processes), c.Options().Dir)
	}
	fmt.Printf("payflow-cluster: %s since %s: frontend %s, namespace %s, databases %s, %s\n%s",
		state, c.Started.Format(time.RFC3339), c.Address, c.Namespace, c.Database, c.VisibilityDatabase, processes(c))
	return nil
}

func down(args []string) error {
	fl := flag.NewFlagSet("down", flag.ExitOnError)
	dir := fl.String("dir", ".payflow/cluster", "as for up")
	drop := fl.Bool("drop", false, "drop both databases too (make cluster-down CLUSTER_RESET=1)")
	db := fl.String("db", "payflow_temporal", "the databases to drop when no cluster state is left (visibility: <db>_visibility)")
	_ = fl.Parse(args)
	c, err := cluster.Attach(*dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Println("payflow-cluster: no cluster running from", *dir)
	case err != nil:
		return err
	default:
		begin := time.Now()
		if err := c.Stop(); err != nil {
			return err
		}
		fmt.Printf("payflow-cluster: stopped in %s\n", time.Since(begin).Round(100*time.Millisecond))
	}
	if !*drop {
		return nil
	}
	o := cluster.Options{Database: *db, VisibilityDatabase: *db + "_visibility", PGPassword: os.Getenv("PGPASSWORD"), Progress: os.Stdout}
	if c != nil {
		o = c.Options()
		o.PGPassword, o.Progress = os.Getenv("PGPASSWORD"), os.Stdout
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cluster.DropDatabases(ctx, o)
}
