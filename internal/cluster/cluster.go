// Package cluster runs a real Temporal cluster on this machine for payflow:
// Temporal server v1.29.1 (deploy/temporal) on the local PostgreSQL, with
// the frontend, history, matching and worker services each in a process of
// its own, the namespace registered and payflow's search attributes on it.
// `make cluster` (cmd/payflow-cluster) and the cluster integration test and
// benchmarks use it; the dev server of `payflow dev` stays the default for
// everything else.
//
// Start sets up the two databases (create, then Temporal's own schema tool),
// writes the configuration into Options.Dir, starts the four processes,
// waits until the frontend answers, history owns its shards and matching
// serves, registers the namespace and the search attributes, and returns
// the frontend's address. Stop ends the processes (and, when asked, drops
// the databases).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	deploytemporal "github.com/payflow/payflow/deploy/temporal"
)

// Services are Temporal's four services, one process each, in the order
// they are started and listed.
var Services = []string{"history", "matching", "frontend", "worker"}

// Options say where and how the cluster runs. The zero value of every field
// but Dir has a default (in brackets).
type Options struct {
	// Dir holds the rendered configuration (config/), each process's log
	// (logs/<service>.log) and, for a detached cluster, the state file.
	Dir string

	// ServerBin and SQLToolBin are Temporal's server and SQL schema tool,
	// built from go.temporal.io/server (cmd/server, cmd/tools/sql) at
	// deploy/temporal.ServerVersion [$PAYFLOW_TEMPORAL_SERVER_BIN and
	// $PAYFLOW_TEMPORAL_SQL_BIN, else .tools/bin/temporal-server and
	// .tools/bin/temporal-sql-tool of the repository].
	ServerBin, SQLToolBin string

	// PortOffset is added to Temporal's default ports (frontend 7233, HTTP
	// 7243, history 7234, matching 7235, worker 7239, membership 6933–6939;
	// metrics, when on, 8000–8003). [0: the first offset from 10000 up, in
	// steps of 100, whose ports are all free; every port stays below 32768.]
	PortOffset int

	// PostgreSQL, reached over TCP [127.0.0.1, 5432, postgres, no password].
	PGHost     string
	PGPort     int
	PGUser     string
	PGPassword string

	// Database and VisibilityDatabase are Temporal's two databases
	// [payflow_temporal, payflow_temporal_visibility]. Created when absent,
	// their schema brought to the server's version when behind; nothing
	// else in PostgreSQL is touched.
	Database, VisibilityDatabase string

	// HistoryHosts is how many history processes run [1]: each owns a
	// share of the shards, and when one ends the others take its shards
	// over (Kill, Restart). At most MaxHistoryHosts.
	HistoryHosts int

	// Shards is the number of history shards [4]. It is fixed when the
	// database is first set up; a different value later makes the server
	// refuse to start (Reset first).
	Shards int

	// Namespace is registered with Retention and gets payflow's search
	// attributes [default, 72h].
	Namespace string
	Retention time.Duration

	// Reset drops both databases before setting them up: a fresh cluster.
	Reset bool
	// DropOnStop drops both databases when the cluster stops (tests).
	DropOnStop bool

	// Detach starts the processes in a session of their own, to outlive the
	// caller (`make cluster`); Stop then works from the state file in Dir
	// (Attach).
	Detach bool

	// Metrics turns on each process's Prometheus endpoint
	// (127.0.0.1:8000+PortOffset+i, i the index in Services).
	Metrics bool

	// LogLevel of the server processes [warn].
	LogLevel string

	// DBMaxConns is each process's connection pool to the main database
	// [10]; visibility has 2 per process.
	DBMaxConns int

	// Progress gets a line for each step [discarded].
	Progress io.Writer
}

// Process is one running server process.
type Process struct {
	Service string `json:"service"`
	// Instance numbers the processes of one service from 0 (history, with
	// Options.HistoryHosts > 1).
	Instance int    `json:"instance,omitempty"`
	PID      int    `json:"pid"`
	Log      string `json:"log"`
	// GRPCAddress is the service's own gRPC address (the frontend's is the
	// cluster's address).
	GRPCAddress string `json:"grpc_address"`
	// MetricsAddress is its Prometheus endpoint, when Options.Metrics.
	MetricsAddress string `json:"metrics_address,omitempty"`
}

// Cluster is a running cluster.
type Cluster struct {
	// Address is the frontend's gRPC address (TEMPORAL_ADDRESS).
	Address string `json:"address"`
	// HTTPAddress is the frontend's HTTP API.
	HTTPAddress string `json:"http_address"`
	// Namespace is registered, with payflow's search attributes.
	Namespace string `json:"namespace"`

	Database           string    `json:"database"`
	VisibilityDatabase string    `json:"visibility_database"`
	PortOffset         int       `json:"port_offset"`
	Processes          []Process `json:"processes"`
	Started            time.Time `json:"started"`
	Detached           bool      `json:"detached"`
	// DropOnStop is Options.DropOnStop.
	DropOnStop bool `json:"drop_on_stop"`

	opts  Options
	procs []*proc // nil for an attached (detached, then re-read) cluster
}

var dbName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// databaseDefaults fills in and checks where the cluster's databases are.
func (o *Options) databaseDefaults() error {
	if o.PGHost == "" {
		o.PGHost = "127.0.0.1"
	}
	if o.PGPort == 0 {
		o.PGPort = 5432
	}
	if o.PGUser == "" {
		o.PGUser = "postgres"
	}
	if o.Database == "" {
		o.Database = "payflow_temporal"
	}
	if o.VisibilityDatabase == "" {
		o.VisibilityDatabase = o.Database + "_visibility"
	}
	for _, n := range []string{o.Database, o.VisibilityDatabase} {
		if !dbName.MatchString(n) {
			return fmt.Errorf("cluster: database name %q: lower-case letters, digits and _ only", n)
		}
	}
	return nil
}

func (o *Options) defaults() error {
	if o.Dir == "" {
		return errors.New("cluster: Options.Dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	o.Dir = dir
	if o.ServerBin == "" {
		o.ServerBin = toolPath("PAYFLOW_TEMPORAL_SERVER_BIN", "temporal-server")
	}
	if o.SQLToolBin == "" {
		o.SQLToolBin = toolPath("PAYFLOW_TEMPORAL_SQL_BIN", "temporal-sql-tool")
	}
	for _, b := range []string{o.ServerBin, o.SQLToolBin} {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("cluster: %w (run `make cluster-tools`: Temporal server %s from the Go module proxy)", err, deploytemporal.ServerVersion)
		}
	}
	if err := o.databaseDefaults(); err != nil {
		return err
	}
	if o.Database == o.VisibilityDatabase {
		return errors.New("cluster: Database and VisibilityDatabase must differ")
	}
	if o.Shards == 0 {
		o.Shards = 4
	}
	if o.HistoryHosts == 0 {
		o.HistoryHosts = 1
	}
	if o.HistoryHosts < 1 || o.HistoryHosts > MaxHistoryHosts {
		return fmt.Errorf("cluster: HistoryHosts %d: 1 to %d", o.HistoryHosts, MaxHistoryHosts)
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Retention == 0 {
		o.Retention = 72 * time.Hour
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	if o.DBMaxConns == 0 {
		o.DBMaxConns = 10
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.PortOffset != 0 {
		if err := checkOffset(o.PortOffset, o.HistoryHosts, o.Metrics); err != nil {
			return err
		}
	}
	return nil
}

// toolPath is $env, else .tools/bin/name of the repository holding the
// working directory (found by walking up to go.mod).
func toolPath(env, name string) string {
	if p := os.Getenv(env); p != "" {
		return p
	}
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, ".tools", "bin", name)
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, ".tools", "bin", name)
		}
	}
}

func (o *Options) step(format string, args ...any) {
	fmt.Fprintf(o.Progress, "cluster: "+format+"\n", args...)
}

// Start brings the cluster up and returns once a payflow worker and
// receiver can use it. On error nothing it started is left running.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	begin := time.Now()
	if err := os.MkdirAll(filepath.Join(opts.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	if opts.Detach {
		if c, err := Attach(opts.Dir); err == nil && c.Running() {
			return nil, fmt.Errorf("cluster: already running from %s (frontend %s); stop it first", opts.Dir, c.Address)
		}
	}
	if opts.PortOffset == 0 {
		off, err := freeOffset(opts.HistoryHosts, opts.Metrics)
		if err != nil {
			return nil, err
		}
		opts.PortOffset = off
	}
	if err := setupDatabases(ctx, &opts); err != nil {
		return nil, err
	}
	opts.step("databases %s, %s ready (%s)", opts.Database, opts.VisibilityDatabase, time.Since(begin).Round(100*time.Millisecond))
	configDir, err := writeConfig(&opts)
	if err != nil {
		return nil, err
	}
	p := portsFor(opts.PortOffset, opts.HistoryHosts)
	c := &Cluster{
		Address:            fmt.Sprintf("127.0.0.1:%d", p.grpc["frontend"]),
		HTTPAddress:        fmt.Sprintf("127.0.0.1:%d", p.http),
		Namespace:          opts.Namespace,
		Database:           opts.Database,
		VisibilityDatabase: opts.VisibilityDatabase,
		PortOffset:         opts.PortOffset,
		Started:            time.Now().UTC(),
		Detached:           opts.Detach,
		DropOnStop:         opts.DropOnStop,
		opts:               opts,
	}
	fail := func(err error) (*Cluster, error) {
		_ = c.stopProcesses()
		if opts.Detach {
			_ = os.Remove(statePath(opts.Dir))
		}
		if opts.DropOnStop {
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err = errors.Join(err, DropDatabases(dctx, opts))
		}
		return nil, err
	}
	for i, pi := range processList(opts.HistoryHosts) {
		svc := pi.service
		pr, err := startProcess(&opts, configDir, svc, pi.instance, false)
		if err != nil {
			return fail(err)
		}
		c.procs = append(c.procs, pr)
		c.Processes = append(c.Processes, pr.Process)
		if opts.Detach {
			if err := c.writeState(); err != nil {
				return fail(err)
			}
		}
		if i == 0 {
			// Every process writes the cluster's metadata and system
			// namespace when the database has none; four at once on a new
			// database race on the insert and the losers exit. The others
			// start once the first has written them.
			if err := c.waitInitialized(ctx); err != nil {
				return fail(err)
			}
			opts.step("%s started, cluster metadata in place (%s)", svc, time.Since(begin).Round(100*time.Millisecond))
		}
	}
	opts.step("started %d processes; waiting for the frontend at %s", len(c.procs), c.Address)
	if err := c.waitReady(ctx); err != nil {
		return fail(err)
	}
	opts.step("up in %s: frontend %s, namespace %s", time.Since(begin).Round(100*time.Millisecond), c.Address, c.Namespace)
	return c, nil
}

// Stop ends the processes (SIGTERM, SIGKILL after 20 s) and, for a
// cluster started with DropOnStop, drops its databases.
func (c *Cluster) Stop() error {
	err := c.stopProcesses()
	if c.Detached {
		_ = os.Remove(statePath(c.opts.Dir))
	}
	if c.DropOnStop {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = errors.Join(err, DropDatabases(ctx, c.opts))
	}
	return err
}

// processList is every process of a cluster in the order they start:
// Services, with the further history hosts right after the first.
func processList(historyHosts int) []procID {
	var out []procID
	for _, svc := range Services {
		out = append(out, procID{svc, 0})
		if svc == "history" {
			for i := 1; i < historyHosts; i++ {
				out = append(out, procID{svc, i})
			}
		}
	}
	return out
}

// procID names one process: its service and instance.
type procID struct {
	service  string
	instance int
}

// Kill ends one process at once (SIGKILL to its process group), as a host
// that crashes or loses power, and waits until it is gone; the others keep
// running. Only for a cluster this program started (not Attach).
func (c *Cluster) Kill(service string, instance int) error {
	i, err := c.procIndex(service, instance)
	if err != nil {
		return err
	}
	p := c.procs[i]
	_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	select {
	case <-p.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("cluster: %s (pid %d) still runs 10 s after SIGKILL", processName(service, instance), p.PID)
	}
}

// Restart starts a process that has ended (Kill, or a crash) again, with
// its ports and configuration; it rejoins the cluster through membership.
// Restart does not wait for the service to take work: the cluster's
// clients retry until it does.
func (c *Cluster) Restart(service string, instance int) error {
	i, err := c.procIndex(service, instance)
	if err != nil {
		return err
	}
	select {
	case <-c.procs[i].exited:
	default:
		return fmt.Errorf("cluster: %s (pid %d) still runs", processName(service, instance), c.procs[i].PID)
	}
	pr, err := startProcess(&c.opts, filepath.Join(c.opts.Dir, "config"), service, instance, true)
	if err != nil {
		return err
	}
	c.procs[i] = pr
	for j := range c.Processes {
		if c.Processes[j].Service == service && c.Processes[j].Instance == instance {
			c.Processes[j] = pr.Process
		}
	}
	return nil
}

func (c *Cluster) procIndex(service string, instance int) (int, error) {
	if c.procs == nil {
		return 0, errors.New("cluster: only a cluster this program started can kill or restart its processes")
	}
	for i, p := range c.procs {
		if p.Service == service && p.Instance == instance {
			return i, nil
		}
	}
	return 0, fmt.Errorf("cluster: no process %s", processName(service, instance))
}

// Options are the options the cluster runs with, defaults filled in.
func (c *Cluster) Options() Options { return c.opts }
