package chaos

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/payflow/payflow/internal/localrun"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL: the chaos database and the checks
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	_ "modernc.org/sqlite" // SQLite: the write lock and the checks

	"github.com/payflow/payflow/codec"
	"github.com/payflow/payflow/fakes/sendgridapi"
	"github.com/payflow/payflow/internal/cluster"
)

const (
	namespace   = "default"
	sendgridKey = "SG.chaos"
	emailFrom   = "billing@merchant.example"
)

// system is one run of payflow as production runs it, on this machine:
// a Temporal dev server or a real Temporal cluster, `payflow serve` and
// `payflow worker` processes (one of each, or more), the SendGrid fake (in
// this process, so its records are read directly) and a database.
type system struct {
	cfg  Config
	topo Topology
	dir  string
	logf func(format string, args ...any)

	temporal     *Proc            // the dev server, or nil
	cluster      *cluster.Cluster // the cluster, or nil
	temporalAddr string
	workers      []*Proc
	workerURLs   []string // each worker's ops listener (/metrics, /readyz)
	serves       []*Proc
	receiverURLs []string // http://127.0.0.1:port, no path
	secret       string

	sendgrid *sendgridapi.Server
	sgStop   func()

	backend    string // sqlite or postgres
	dbURL      string // what payflow is given (through the proxy for PostgreSQL)
	checkURL   string // what the checks read (PostgreSQL directly)
	sqlitePath string
	pgProxy    *Proxy
	pgName     string

	tc    client.Client
	check *sql.DB
}

// temporalArgs are payflow dev's dev server flags: a file database, so a
// kill -9 and a restart keep every workflow, and the same tuning.
func temporalArgs(bin, dbFile string, port, uiPort int) []string {
	return append([]string{bin}, localrun.DevServerArgs(dbFile, port, uiPort, namespace)...)
}

func ports(n int) ([]int, error) {
	out := make([]int, n)
	seen := map[int]bool{}
	for i := range out {
		for range 20 {
			p, err := freePort()
			if err != nil {
				return nil, err
			}
			if !seen[p] {
				seen[p], out[i] = true, p
				break
			}
		}
		if out[i] == 0 {
			return nil, errors.New("no free ports")
		}
	}
	return out, nil
}

// startSystem brings everything up; the caller must call stop, also on error.
func startSystem(ctx context.Context, cfg Config, sc Scenario, dir string, logf func(string, ...any)) (*system, error) {
	s := &system{cfg: cfg, topo: sc.Topology.withDefaults(), dir: dir, logf: logf, backend: sc.DB, secret: newSecret()}

	// SendGrid.
	s.sendgrid = sendgridapi.New(sendgridKey)
	sgURL, stop := s.sendgrid.Start()
	s.sgStop = stop

	// Database.
	switch sc.DB {
	case "postgres":
		if err := s.createPostgres(ctx); err != nil {
			return s, err
		}
	default:
		s.sqlitePath = filepath.Join(dir, "payflow.db")
		s.dbURL, s.checkURL = s.sqlitePath, s.sqlitePath+"?_pragma=busy_timeout(5000)"
	}

	// Temporal.
	if s.topo.Cluster {
		if err := s.startCluster(ctx); err != nil {
			return s, err
		}
	} else {
		p, err := ports(2)
		if err != nil {
			return s, err
		}
		tport, uiport := p[0], p[1]
		s.temporalAddr = fmt.Sprintf("127.0.0.1:%d", tport)
		s.temporal = NewProc("temporal", filepath.Join(dir, "temporal.log"), dir, localrun.CleanEnv(),
			temporalArgs(cfg.Temporal, filepath.Join(dir, "temporal.db"), tport, uiport)...)
		if err := s.startTemporal(ctx); err != nil {
			return s, err
		}
	}
	var err error
	s.tc, err = client.Dial(client.Options{HostPort: s.temporalAddr, Namespace: namespace,
		Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))})
	if err != nil {
		return s, fmt.Errorf("connect to Temporal: %w", err)
	}

	// Payloads encrypted as in production (serve and worker refuse to
	// start without a key); the checks read no payloads.
	payloadKey, err := codec.GenerateKey("chaos")
	if err != nil {
		return s, err
	}
	env := localrun.CleanEnv(
		"STRIPE_WEBHOOK_SECRET="+s.secret, "PAYFLOW_PAYLOAD_KEYS="+payloadKey.Export(),
		"SENDGRID_API_KEY="+sendgridKey, "SENDGRID_API_BASE="+sgURL, "EMAIL_FROM="+emailFrom,
		"DATABASE_URL="+s.dbURL,
		"TEMPORAL_ADDRESS="+s.temporalAddr, "TEMPORAL_NAMESPACE="+namespace,
		"LOG_LEVEL=info", "LOG_FORMAT=json",
	)
	// Migrations and search attributes, as a deployment runs them once.
	mctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	mig := exec.CommandContext(mctx, cfg.Payflow, "migrate")
	mig.Env, mig.Dir = env, dir
	if out, err := mig.CombinedOutput(); err != nil {
		return s, fmt.Errorf("payflow migrate: %v\n%s", err, out)
	}
	if s.check, err = sql.Open(map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[s.backendName()], s.checkURL); err != nil {
		return s, err
	}
	s.check.SetMaxOpenConns(2)

	// The dev server binds more ports than the two it is given (HTTP API,
	// metrics, its services' own): pick payflow's only now that those are
	// taken, so none is handed out twice. Each process gets its own
	// listeners (PAYFLOW_METRICS_ADDR: the worker's /metrics, and the
	// receiver's), so nothing collides with a default port another run
	// holds.
	p, err := ports(s.topo.Workers + 2*s.topo.Receivers)
	if err != nil {
		return s, err
	}
	for i := range s.topo.Workers {
		wport := p[i]
		s.workerURLs = append(s.workerURLs, fmt.Sprintf("http://127.0.0.1:%d", wport))
		s.workers = append(s.workers, NewProc(procName("worker", i), filepath.Join(dir, procName("worker", i)+".log"), dir,
			slices.Concat(env, []string{fmt.Sprintf("PAYFLOW_METRICS_ADDR=127.0.0.1:%d", wport)}), cfg.Payflow, "worker"))
		if err := s.startWorker(ctx, i); err != nil {
			return s, err
		}
	}
	p = p[s.topo.Workers:]
	for i := range s.topo.Receivers {
		rport, rmport := p[2*i], p[2*i+1]
		s.receiverURLs = append(s.receiverURLs, fmt.Sprintf("http://127.0.0.1:%d", rport))
		serve := NewProc(procName("serve", i), filepath.Join(dir, procName("serve", i)+".log"), dir,
			slices.Concat(env, []string{fmt.Sprintf("PAYFLOW_ADDR=127.0.0.1:%d", rport), fmt.Sprintf("PAYFLOW_METRICS_ADDR=127.0.0.1:%d", rmport)}),
			cfg.Payflow, "serve")
		s.serves = append(s.serves, serve)
		if err := serve.Start(); err != nil {
			return s, err
		}
		if err := waitOK(ctx, 60*time.Second, serve, fmt.Sprintf("http://127.0.0.1:%d/readyz", rmport)); err != nil {
			return s, err
		}
	}
	return s, nil
}

// procName is a payflow process's name: worker, worker-2, …
func procName(kind string, i int) string {
	if i == 0 {
		return kind
	}
	return fmt.Sprintf("%s-%d", kind, i+1)
}

// startCluster starts a real Temporal cluster with databases of this run's
// own on the PostgreSQL server of Config.PostgresURL, dropped at stop.
func (s *system) startCluster(ctx context.Context) error {
	admin, err := url.Parse(s.cfg.PostgresURL)
	if err != nil || s.cfg.PostgresURL == "" {
		return fmt.Errorf("a cluster needs PostgreSQL (-postgres): %v", err)
	}
	o := cluster.Options{
		Dir:          filepath.Join(s.dir, "cluster"),
		ServerBin:    s.cfg.TemporalServer,
		SQLToolBin:   s.cfg.TemporalSQLTool,
		PGHost:       admin.Hostname(),
		PGUser:       admin.User.Username(),
		Database:     fmt.Sprintf("payflow_temporal_chaos_%d", os.Getpid()),
		HistoryHosts: s.topo.HistoryHosts,
		Namespace:    namespace,
		Reset:        true,
		DropOnStop:   true,
	}
	o.PGPassword, _ = admin.User.Password()
	if port := admin.Port(); port != "" {
		o.PGPort, _ = strconv.Atoi(port)
	}
	progress, err := os.Create(filepath.Join(s.dir, "cluster-start.log"))
	if err != nil {
		return err
	}
	defer progress.Close()
	o.Progress = progress
	begin := time.Now()
	if s.cluster, err = cluster.Start(ctx, o); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	s.temporalAddr = s.cluster.Address
	s.logf("cluster up in %.1fs: %d processes (%d history hosts, %d shards), frontend %s",
		time.Since(begin).Seconds(), len(s.cluster.Processes), s.topo.HistoryHosts, s.cluster.Options().Shards, s.cluster.Address)
	return nil
}

func (s *system) backendName() string {
	if s.backend == "postgres" {
		return "postgres"
	}
	return "sqlite"
}

// startTemporal starts (or restarts, on the same ports and database file)
// the dev server and waits until it serves the namespace.
func (s *system) startTemporal(ctx context.Context) error {
	if err := s.temporal.Start(); err != nil {
		return err
	}
	if err := waitTCP(ctx, s.temporalAddr, 90*time.Second, s.temporal); err != nil {
		return err
	}
	if s.tc == nil {
		return nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.tc.CheckHealth(hctx, &client.CheckHealthRequest{})
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("temporal restarted but not healthy: %w", err)
		}
		sleep(ctx, 250*time.Millisecond)
	}
}

// startWorker starts (or restarts) worker i and waits for its /readyz.
func (s *system) startWorker(ctx context.Context, i int) error {
	if err := s.workers[i].Start(); err != nil {
		return err
	}
	return waitOK(ctx, 60*time.Second, s.workers[i], s.workerURLs[i]+"/readyz")
}

// createPostgres makes this run's own database and a proxy in front of
// the server, which the database fault closes.
func (s *system) createPostgres(ctx context.Context) error {
	admin, err := url.Parse(s.cfg.PostgresURL)
	if err != nil {
		return fmt.Errorf("-postgres: %w", err)
	}
	if err := checkLoopback(hostPort(admin)); err != nil {
		return err
	}
	db, err := sql.Open("pgx", s.cfg.PostgresURL)
	if err != nil {
		return err
	}
	defer db.Close()
	name := fmt.Sprintf("payflow_chaos_%d", os.Getpid())
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, _ = db.ExecContext(cctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	if _, err := db.ExecContext(cctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	s.pgName = name
	if s.pgProxy, err = NewProxy(hostPort(admin)); err != nil {
		return err
	}
	direct := *admin
	direct.Path = "/" + name
	viaProxy := direct
	viaProxy.Host = s.pgProxy.Addr
	s.dbURL, s.checkURL = viaProxy.String(), direct.String()
	return nil
}

func hostPort(u *url.URL) string {
	if u.Port() == "" {
		return u.Hostname() + ":5432"
	}
	return u.Host
}

func (s *system) dropPostgres() error {
	if s.pgName == "" {
		return nil
	}
	db, err := sql.Open("pgx", s.cfg.PostgresURL)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+s.pgName+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", s.pgName, err)
	}
	return nil
}

// exitedEarly names the processes that died without being told to.
func (s *system) exitedEarly() []string {
	var out []string
	for _, p := range slices.Concat([]*Proc{s.temporal}, s.workers, s.serves) {
		if p != nil && !p.Running() {
			out = append(out, fmt.Sprintf("%s exited unexpectedly (%v); log tail:\n%s", p.Name, p.ExitErr(), p.Tail(10)))
		}
	}
	if s.cluster != nil {
		alive := map[int]bool{}
		for _, p := range s.cluster.Alive() {
			alive[p.PID] = true
		}
		for _, p := range s.cluster.Processes {
			if !alive[p.PID] {
				out = append(out, fmt.Sprintf("Temporal %s (instance %d) exited unexpectedly; log tail:\n%s", p.Service, p.Instance, tailFile(p.Log, 10)))
			}
		}
	}
	return out
}

// sqliteFiles are the SQLite database file and its write-ahead log (the
// files a write changes), those that exist.
func (s *system) sqliteFiles() []string {
	var out []string
	for _, f := range []string{s.sqlitePath, s.sqlitePath + "-wal"} {
		if _, err := os.Stat(f); err == nil {
			out = append(out, f)
		}
	}
	return out
}

func chattr(flag string, files ...string) error {
	if len(files) == 0 {
		return errors.New("no files")
	}
	out, err := exec.Command("chattr", append([]string{flag}, files...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("chattr %s: %v: %s", flag, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// stop ends every process and fake, whatever state they are in.
func (s *system) stop() error {
	var errs []error
	if s.sqlitePath != "" { // never leave an immutable file behind
		_ = chattr("-i", s.sqliteFiles()...)
	}
	for _, p := range slices.Concat(s.serves, s.workers, []*Proc{s.temporal}) {
		if p != nil {
			errs = append(errs, p.Stop(15*time.Second))
		}
	}
	if s.cluster != nil {
		errs = append(errs, s.cluster.Stop())
	}
	if s.tc != nil {
		s.tc.Close()
	}
	if s.check != nil {
		s.check.Close()
	}
	if s.sgStop != nil {
		s.sgStop()
	}
	if s.pgProxy != nil {
		s.pgProxy.Close()
	}
	errs = append(errs, s.dropPostgres())
	return errors.Join(errs...)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// evidence reads the worker's /metrics (kept in the scenario folder) and
// sums the counters that show a fault reached it: failed activity and
// local activity attempts, failed workflow tasks, emails by outcome. A
// restarted worker counts from its restart.
func (s *system) evidence() string {
	hc := &http.Client{Timeout: 5 * time.Second}
	var all []byte
	for i, u := range s.workerURLs {
		resp, err := hc.Get(u + "/metrics")
		if err != nil {
			return "unavailable: " + err.Error()
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		if err != nil {
			return "unavailable: " + err.Error()
		}
		_ = os.WriteFile(filepath.Join(s.dir, procName("worker", i)+"-metrics.txt"), b, 0o644)
		all = append(all, b...)
	}
	sums := map[string]float64{}
	var order []string
	for _, line := range strings.Split(string(all), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		series := name
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
			if name == "payflow_emails_total" { // keep the outcome
				if j := strings.Index(series, `outcome="`); j >= 0 {
					outcome, _, _ := strings.Cut(series[j+len(`outcome="`):], `"`)
					name += "{" + outcome + "}"
				}
			}
		}
		if !(strings.Contains(name, "failed") || strings.Contains(name, "error") || strings.HasPrefix(name, "payflow_emails_total")) ||
			strings.HasSuffix(name, "_bucket") {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest + " 0")[0], 64)
		if err != nil || v == 0 {
			continue
		}
		if _, ok := sums[name]; !ok {
			order = append(order, name)
		}
		sums[name] += v
	}
	if len(order) == 0 {
		return "no failures counted"
	}
	sort.Strings(order)
	var out []string
	for _, n := range order {
		out = append(out, fmt.Sprintf("%s=%g", n, sums[n]))
	}
	return strings.Join(out, " ")
}

// flaggedDuplicates reads the worker's log (every run of it appends to the
// same file, so a killed worker's lines are there too) for the sends it
// flagged as possible duplicates, keyed by dedupe key.
func (s *system) flaggedDuplicates() map[string]bool {
	out := map[string]bool{}
	var b []byte
	for i := range s.workers {
		w, _ := os.ReadFile(filepath.Join(s.dir, procName("worker", i)+".log"))
		b = append(b, w...)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "may have it twice") {
			continue
		}
		var rec struct {
			DedupeKey string `json:"dedupe_key"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.DedupeKey != "" {
			out[rec.DedupeKey] = true
		}
	}
	return out
}
