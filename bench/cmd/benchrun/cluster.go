package main

// The cluster phase: the end-to-end measurement of e2e.go on a real
// Temporal cluster (internal/cluster: frontend, history, matching and
// worker as four processes on the local PostgreSQL) with payflow as it runs
// in production (`payflow serve` and `payflow worker`, payflow's own
// database on the same PostgreSQL), beside the bare SignalWithStart client
// on the same cluster; plus what each event costs every process and
// PostgreSQL, for a paper estimate of larger deployments.

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/payflow/payflow/bench/internal/load"
	"github.com/payflow/payflow/bench/internal/payloads"
	"github.com/payflow/payflow/bench/internal/proc"
	"github.com/payflow/payflow/codec"
	"github.com/payflow/payflow/internal/cluster"
	"github.com/payflow/payflow/internal/localrun"
	"github.com/payflow/payflow/webhook"
)

// The cluster phase's databases: its own names, dropped before (a killed
// run's leftovers) and after the phase.
const (
	clusterDB           = "payflow_temporal_bench"
	clusterVisibilityDB = "payflow_temporal_bench_visibility"
	clusterPayflowDB    = "payflow_bench"
)

const (
	// pgSettle is how long the phase waits, once a phase's workflows have
	// completed, before it reads PostgreSQL's counters: an idle backend
	// reports its pending statistics within 10 s (PGSTAT_IDLE_INTERVAL).
	pgSettle = 11 * time.Second
	// idleWindow measures what the cluster costs doing nothing (shard and
	// task-queue upkeep), before the measured phases.
	idleWindow = 10 * time.Second
)

// ClusterResult is the cluster phase.
type ClusterResult struct {
	Shards             int    `json:"history_shards"`
	Database           string `json:"database"`
	VisibilityDatabase string `json:"visibility_database"`
	// PayflowDB is payflow's own database: postgres (the production
	// topology, database payflow_bench) or sqlite (as payflow dev).
	PayflowDB         string         `json:"payflow_database"`
	PayloadEncryption bool           `json:"payload_encryption"`
	PostgresVersion   string         `json:"postgres_version"`
	PostgresSettings  string         `json:"postgres_settings"`
	StartSeconds      float64        `json:"cluster_start_seconds"`
	Processes         map[string]int `json:"process_count"` // service → processes

	Phases []Phase     `json:"phases"`
	Rounds []E2ERound  `json:"rounds"`
	Usage  []PhaseCost `json:"phase_usage"` // every measured phase's CPU and PostgreSQL counters
	Idle   *Usage      `json:"idle,omitempty"`

	// Payflow against the bare client on the cluster: medians over rounds.
	RatioVsBare     float64 `json:"payflow_vs_bare_ack_rate"`
	PayflowAckRate  float64 `json:"payflow_ack_rate_median"`
	BareAckRate     float64 `json:"bare_ack_rate_median"`
	DoneRatioVsBare float64 `json:"payflow_vs_bare_completion_rate"`
	PayflowDoneRate float64 `json:"payflow_completion_rate_median"`
	BareDoneRate    float64 `json:"bare_completion_rate_median"`

	// VsDev compares with the dev-server phase of the same run.
	VsDev *ClusterVsDev `json:"cluster_vs_dev_server,omitempty"`

	// Costs are per event: over the payflow phases, and over the bare
	// client's.
	Costs    []Cost         `json:"cost_per_event"`
	Capacity []CapacityLine `json:"capacity_per_core"` // from payflow's cost

	PeakRSSMiB map[string]float64 `json:"peak_rss_mib"`
	Lost       int                `json:"lost_total"`
}

// ClusterVsDev is the cluster's median rates divided by the dev server's
// (payflow dev), for payflow and the bare client alike.
type ClusterVsDev struct {
	PayflowAck  float64 `json:"payflow_ack_rate"`
	PayflowDone float64 `json:"payflow_completion_rate"`
	BareAck     float64 `json:"bare_ack_rate"`
	BareDone    float64 `json:"bare_completion_rate"`
	// The dev server's medians the ratios divide by.
	DevPayflowAck  float64 `json:"dev_payflow_ack_rate"`
	DevPayflowDone float64 `json:"dev_payflow_completion_rate"`
	DevBareAck     float64 `json:"dev_bare_ack_rate"`
	DevBareDone    float64 `json:"dev_bare_completion_rate"`
}

// compareDev divides the cluster's medians by the dev server's; nil when
// either has no round.
func compareDev(c *ClusterResult, dev *E2EResult) *ClusterVsDev {
	if c == nil || dev == nil || len(c.Rounds) == 0 || len(dev.Rounds) == 0 {
		return nil
	}
	_, dpa, dba := roundMedians(dev.Rounds)
	_, dpd, dbd := doneMedians(dev.Rounds)
	v := &ClusterVsDev{DevPayflowAck: dpa, DevBareAck: dba, DevPayflowDone: dpd, DevBareDone: dbd}
	div := func(a, b float64) float64 {
		if a <= 0 || b <= 0 {
			return 0
		}
		return a / b
	}
	v.PayflowAck, v.BareAck = div(c.PayflowAckRate, dpa), div(c.BareAckRate, dba)
	v.PayflowDone, v.BareDone = div(c.PayflowDoneRate, dpd), div(c.BareDoneRate, dbd)
	return v
}

// clusterBinaries are Temporal's server and SQL tool: the Makefile's
// variables ($PAYFLOW_TEMPORAL_SERVER_BIN, $PAYFLOW_TEMPORAL_SQL_BIN), else
// .tools/bin of the repository.
func clusterBinaries(root string) (server, sqlTool string) {
	server, sqlTool = os.Getenv("PAYFLOW_TEMPORAL_SERVER_BIN"), os.Getenv("PAYFLOW_TEMPORAL_SQL_BIN")
	if server == "" {
		server = filepath.Join(root, ".tools", "bin", "temporal-server")
	}
	if sqlTool == "" {
		sqlTool = filepath.Join(root, ".tools", "bin", "temporal-sql-tool")
	}
	return server, sqlTool
}

// pgTarget is the PostgreSQL server the cluster phase uses, from
// -cluster-postgres (a loopback address only).
type pgTarget struct {
	Host, User, Password string
	Port                 int
}

func parsePG(raw string) (pgTarget, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Hostname() == "" {
		return pgTarget{}, fmt.Errorf("-cluster-postgres: want postgres://user@127.0.0.1:5432/, got %q", raw)
	}
	t := pgTarget{Host: u.Hostname(), Port: 5432, User: u.User.Username()}
	if t.User == "" {
		t.User = "postgres"
	}
	t.Password, _ = u.User.Password()
	if p := u.Port(); p != "" {
		if t.Port, err = strconv.Atoi(p); err != nil {
			return pgTarget{}, fmt.Errorf("-cluster-postgres: bad port %q", p)
		}
	}
	if err := load.CheckLoopback(net.JoinHostPort(t.Host, strconv.Itoa(t.Port))); err != nil {
		return pgTarget{}, fmt.Errorf("-cluster-postgres: %w", err)
	}
	return t, nil
}

// url is the connection URL of database db.
func (t pgTarget) url(db string) string {
	return cluster.PostgresURL(t.Host, t.Port, t.User, t.Password, db)
}

// clusterAvailable says why the cluster phase cannot run here ("" when it
// can): the server binaries are missing or PostgreSQL does not answer.
func clusterAvailable(ctx context.Context, cfg config) string {
	server, sqlTool := clusterBinaries(cfg.Root)
	for _, b := range []string{server, sqlTool} {
		if st, err := os.Stat(b); err != nil || st.IsDir() {
			return fmt.Sprintf("%s not found (make cluster-tools builds it; make bench does)", b)
		}
	}
	t, err := parsePG(cfg.ClusterPG)
	if err != nil {
		return err.Error()
	}
	addr := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return fmt.Sprintf("no PostgreSQL at %s (%v)", addr, err)
	}
	c.Close()
	db, err := sql.Open("pgx", t.url("postgres"))
	if err != nil {
		return err.Error()
	}
	defer db.Close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		return fmt.Sprintf("PostgreSQL at %s does not accept user %s: %v", addr, t.User, err)
	}
	return ""
}

// progressLog turns the cluster's progress lines into log lines.
type progressLog struct{}

func (progressLog) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if l != "" {
			logf("%s", l)
		}
	}
	return len(b), nil
}

// dropDatabase drops db, connections and all (PostgreSQL 13+).
func dropDatabase(ctx context.Context, admin *sql.DB, db string) error {
	_, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
	return err
}

// leftoverDatabases lists which of names still exist.
func leftoverDatabases(ctx context.Context, admin *sql.DB, names ...string) ([]string, error) {
	var out []string
	for _, n := range names {
		var exists bool
		if err := admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, n).Scan(&exists); err != nil {
			return out, err
		}
		if exists {
			out = append(out, n)
		}
	}
	return out, nil
}

// runCluster starts a fresh cluster, payflow serve and worker on it, and
// runs the end-to-end phases of e2e.go there, measuring what each costs.
// Whatever happens (an error, Ctrl-C, the run's timeout), the processes are
// stopped and the databases dropped before it returns.
func runCluster(ctx context.Context, cfg config, res *results) (out *ClusterResult, err error) {
	out = &ClusterResult{Shards: cfg.ClusterShards, Database: clusterDB, VisibilityDatabase: clusterVisibilityDB,
		PayflowDB: cfg.ClusterPayflowDB, PayloadEncryption: true, PeakRSSMiB: map[string]float64{}, Processes: map[string]int{}}
	if _, err := os.Stat(cfg.Payflow); err != nil {
		return out, fmt.Errorf("%s not found (make bench builds bin/payflow)", cfg.Payflow)
	}
	pg, err := parsePG(cfg.ClusterPG)
	if err != nil {
		return out, err
	}
	admin, err := sql.Open("pgx", pg.url("postgres"))
	if err != nil {
		return out, err
	}
	defer admin.Close()
	admin.SetMaxOpenConns(2)
	if err := admin.QueryRowContext(ctx, `SELECT current_setting('server_version')`).Scan(&out.PostgresVersion); err != nil {
		return out, fmt.Errorf("PostgreSQL at %s:%d: %w", pg.Host, pg.Port, err)
	}
	out.PostgresSettings = pgSettings(ctx, admin)

	dir := filepath.Join(cfg.Work, "cluster")
	server, sqlTool := clusterBinaries(cfg.Root)
	opts := cluster.Options{
		Dir: filepath.Join(dir, "temporal"), ServerBin: server, SQLToolBin: sqlTool,
		PGHost: pg.Host, PGPort: pg.Port, PGUser: pg.User, PGPassword: pg.Password,
		Database: clusterDB, VisibilityDatabase: clusterVisibilityDB, Shards: cfg.ClusterShards,
		Reset: true, DropOnStop: true, Progress: progressLog{},
	}
	// Whatever the way out: nothing of the phase's is left in PostgreSQL.
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		names := []string{clusterDB, clusterVisibilityDB, clusterPayflowDB}
		left, lerr := leftoverDatabases(cctx, admin, names...)
		if lerr != nil {
			res.notice("cluster: could not check for leftover databases: %v", lerr)
		}
		for _, n := range left {
			if derr := dropDatabase(cctx, admin, n); derr != nil {
				res.notice("cluster: database %s left behind: %v (drop it: psql -h %s -U %s -c 'DROP DATABASE %s WITH (FORCE)')", n, derr, pg.Host, pg.User, n)
			}
		}
	}()

	logf("cluster: starting a fresh Temporal cluster (%d history shards) on PostgreSQL %s at %s:%d, databases %s, %s",
		cfg.ClusterShards, out.PostgresVersion, pg.Host, pg.Port, clusterDB, clusterVisibilityDB)
	begin := time.Now()
	c, err := cluster.Start(ctx, opts)
	if err != nil {
		return out, fmt.Errorf("cluster start: %w", err)
	}
	out.StartSeconds = time.Since(begin).Seconds()
	defer func() {
		s := time.Now()
		if serr := c.Stop(); serr != nil {
			res.notice("cluster stop: %v", serr)
		}
		if alive := c.Alive(); len(alive) > 0 {
			res.notice("cluster: %d processes still running after stop", len(alive))
		}
		logf("cluster: stopped, databases dropped (%.1fs)", time.Since(s).Seconds())
	}()
	logf("cluster: up in %.1fs, frontend %s", out.StartSeconds, c.Address)

	// payflow's own database.
	var dbURL string
	switch cfg.ClusterPayflowDB {
	case "postgres":
		if err := dropDatabase(ctx, admin, clusterPayflowDB); err != nil {
			return out, err
		}
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pgx.Identifier{clusterPayflowDB}.Sanitize()); err != nil {
			return out, fmt.Errorf("create database %s: %w", clusterPayflowDB, err)
		}
		dbURL = pg.url(clusterPayflowDB)
	default:
		dbURL = filepath.Join(dir, "payflow.db")
	}
	defer func() {
		if cfg.ClusterPayflowDB != "postgres" {
			return
		}
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if derr := dropDatabase(cctx, admin, clusterPayflowDB); derr != nil {
			res.notice("cluster: drop database %s: %v", clusterPayflowDB, derr)
		}
	}()

	// payflow serve and worker, as in production, with a payload key of
	// their own: payloads encrypted, as payflow dev encrypts them.
	key, err := codec.GenerateKey("bench-" + time.Now().UTC().Format("20060102"))
	if err != nil {
		return out, err
	}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = proc.FreePort(); err != nil {
			return out, err
		}
	}
	raddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	secret := payloads.NewSecret()
	env := func(extra ...string) []string {
		return localrun.CleanEnv(append([]string{"DATABASE_URL=" + dbURL, "TEMPORAL_ADDRESS=" + c.Address, "TEMPORAL_NAMESPACE=" + c.Namespace,
			"STRIPE_WEBHOOK_SECRET=" + secret, "PAYFLOW_PAYLOAD_KEYS=" + key.Export(), "PAYFLOW_ADDR=" + raddr}, extra...)...)
	}
	if out2, err := runCmd(ctx, 2*time.Minute, dir, env(), cfg.Payflow, "migrate"); err != nil {
		return out, fmt.Errorf("payflow migrate: %v\n%s", err, tail(out2, 15))
	}
	wlog, slogp := filepath.Join(dir, "payflow-worker.log"), filepath.Join(dir, "payflow-serve.log")
	worker, err := proc.Start("payflow worker", wlog, dir, env(fmt.Sprintf("PAYFLOW_METRICS_ADDR=127.0.0.1:%d", ports[1])), cfg.Payflow, "worker")
	if err != nil {
		return out, err
	}
	defer func() {
		if serr := worker.Stop(30*time.Second, true); serr != nil {
			res.notice("%v", serr)
		}
	}()
	serve, err := proc.Start("payflow serve", slogp, dir, env(fmt.Sprintf("PAYFLOW_METRICS_ADDR=127.0.0.1:%d", ports[2])), cfg.Payflow, "serve")
	if err != nil {
		return out, err
	}
	defer func() {
		if serr := serve.Stop(30*time.Second, true); serr != nil {
			res.notice("%v", serr)
		}
	}()
	for _, w := range []struct {
		url  string
		p    *proc.Proc
		logp string
	}{{fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1]), worker, wlog}, {"http://" + raddr + "/readyz", serve, slogp}} {
		if err := waitReady(ctx, w.url, 2*time.Minute, w.p); err != nil {
			return out, fmt.Errorf("%s did not come up: %w\n%s", w.p.Name, err, tailFile(w.logp, 15))
		}
	}

	tc, err := dial(ctx, c.Address)
	if err != nil {
		return out, err
	}
	defer tc.Close()
	bw, err := startBareWorker(tc, tunedWorker)
	if err != nil {
		return out, err
	}
	defer bw.Stop()
	httpc, err := load.NewClient(raddr, webhook.Path, cfg.E2EConns, 30*time.Second)
	if err != nil {
		return out, err
	}
	defer httpc.Close()

	// Every process whose CPU an event costs, by component.
	m := &meter{pg: pg, fixed: map[string][]int{}, roles: map[string]string{
		clusterDB: roleTemporal, clusterVisibilityDB: roleVisibility, clusterPayflowDB: rolePayflow}}
	t := &target{name: "cluster", c: tc, http: httpc, secret: secret, payflow: procs{serve, worker}}
	for _, p := range c.Processes {
		t.temporal = append(t.temporal, proc.Adopt("temporal "+p.Service, p.PID))
		m.fixed["temporal-"+p.Service] = append(m.fixed["temporal-"+p.Service], p.PID)
		out.Processes[p.Service]++
	}
	m.fixed[compServe] = []int{serve.Pid()}
	m.fixed[compWorker] = []int{worker.Pid()}
	if err := m.open(ctx); err != nil {
		return out, err
	}
	defer m.close()

	// Warm-up, unmeasured; then, once PostgreSQL has its statistics, what
	// the idle cluster costs.
	warm := min(50, cfg.Events)
	for _, bare := range []bool{false, true} {
		if _, err := runPhase(ctx, cfg, t, "warm-up", bare, warm, min(16, cfg.E2EConns)); err != nil {
			return out, err
		}
	}
	select {
	case <-ctx.Done():
		return out, ctx.Err()
	case <-time.After(pgSettle):
	}
	if u, err := m.measure(ctx, 0, func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(idleWindow):
			return nil
		}
	}); err == nil {
		out.Idle = &u
		logf("cluster: idle for %s: Temporal %.3f cores, PostgreSQL %.3f cores, %.1f commits/s in its databases",
			idleWindow, u.cores(temporalComponents()), u.cores(pgComponents), u.commitsPerSecond())
	} else {
		return out, err
	}

	phase := func(name, part string, round int, bare bool, n int) error {
		var ph Phase
		u, err := m.measure(ctx, pgSettle, func() error {
			var perr error
			ph, perr = runPhase(ctx, cfg, t, name, bare, n, cfg.E2EConns)
			return perr
		})
		ph.Round, ph.Part, ph.Server = round, part, "cluster"
		out.Phases = append(out.Phases, ph)
		if err != nil {
			return err
		}
		out.Usage = append(out.Usage, PhaseCost{Name: name, Round: round, Part: part, Events: n, Usage: u})
		logf("cluster %-18s CPU per event: Temporal %.1f ms, payflow %.1f ms, PostgreSQL %.1f ms; %.1f commits per event",
			name, u.perEvent(temporalComponents(), n)/1000, u.perEvent([]string{compServe, compWorker}, n)/1000,
			u.perEvent(pgComponents, n)/1000, float64(u.PG.commits(ourRoles...))/float64(n))
		return nil
	}
	// The same sequence as on payflow dev's server: the bare client's first
	// phase on the fresh cluster, then rounds of bare (half), payflow (all),
	// bare (the other half).
	half := max(cfg.Events/2, 1)
	if err := phase("bare-fresh-server", "", 0, true, half); err != nil {
		return out, err
	}
	for round := 1; round <= cfg.E2ERounds; round++ {
		for _, step := range roundSteps(cfg.Events) {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			if err := phase(step.name, step.part, round, step.bare, step.n); err != nil {
				return out, err
			}
		}
	}
	for _, p := range c.Processes {
		if _, peak, err := proc.Memory(p.PID); err == nil {
			out.PeakRSSMiB["temporal-"+p.Service] = max(out.PeakRSSMiB["temporal-"+p.Service], float64(peak)/(1<<20))
		}
	}
	for name, p := range map[string]*proc.Proc{compServe: serve, compWorker: worker} {
		if _, peak, err := proc.Memory(p.Pid()); err == nil {
			out.PeakRSSMiB[name] = float64(peak) / (1 << 20)
		}
	}
	return out, nil // main summarizes, after an error too
}

// summarize computes the rounds, the ratios, the costs per event and the
// capacity per core from the phases and their usage.
func (out *ClusterResult) summarize(rounds int) {
	out.Lost = 0
	for _, ph := range out.Phases {
		out.Lost += ph.Lost
	}
	out.Rounds = roundRatios(out.Phases, rounds)
	out.RatioVsBare, out.PayflowAckRate, out.BareAckRate = roundMedians(out.Rounds)
	out.DoneRatioVsBare, out.PayflowDoneRate, out.BareDoneRate = doneMedians(out.Rounds)
	out.Costs = nil
	for _, kind := range []string{"payflow", "bare"} {
		if c, ok := costOf(kind, out.Usage); ok {
			out.Costs = append(out.Costs, c)
		}
	}
	out.Capacity = nil
	if len(out.Costs) > 0 && out.Costs[0].Kind == "payflow" {
		out.Capacity = capacity(out.Costs[0])
	}
}

// pgSettings are the PostgreSQL settings that bound commits.
func pgSettings(ctx context.Context, db *sql.DB) string {
	rows, err := db.QueryContext(ctx, `SELECT name, setting, COALESCE(unit, '') FROM pg_settings
		WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'wal_sync_method', 'max_connections', 'commit_delay') ORDER BY name`)
	if err != nil {
		return ""
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var n, s, u string
		if rows.Scan(&n, &s, &u) == nil {
			if u == "8kB" {
				if v, err := strconv.Atoi(s); err == nil {
					s, u = strconv.Itoa(v*8/1024), "MB"
				}
			}
			parts = append(parts, n+"="+s+u)
		}
	}
	return strings.Join(parts, " ")
}
