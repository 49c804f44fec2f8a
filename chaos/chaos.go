// Package chaos runs payflow as production runs it, on this machine only
// (a Temporal dev server, `payflow serve`, `payflow worker`, SQLite or
// PostgreSQL, the SendGrid fake), sends a burst of signed
// payment_intent.succeeded events the way Stripe delivers them (retrying
// until acknowledged), injects one fault mid-burst, and then checks every
// effect from the outside: each acknowledged event must end with its order
// fulfilled in the database and exactly one receipt accepted by SendGrid.
// `make chaos` runs every scenario.
//
// Everything is bounded: the burst by its size and rate, retries by a
// deadline, the wait for effects by -wait, each scenario by its own
// timeout; every process is stopped at the end of its scenario, even on
// failure, and killed with the harness if it dies.
package chaos

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Config is a chaos run.
type Config struct {
	Payflow, Temporal string  // binaries
	Work              string  // folder for every scenario's logs and databases
	N                 int     // events per burst
	Rate              float64 // first deliveries a second
	FaultAt           time.Duration
	FaultFor          time.Duration
	RetryFor          time.Duration // how long after the last first delivery events are still retried
	Wait              time.Duration // bound on the wait for effects after the burst
	PostgresURL       string        // an admin connection (trust auth); "" skips PostgreSQL and the cluster
	Out               io.Writer     // progress lines
	// TemporalServer and TemporalSQLTool run the cluster scenarios
	// [internal/cluster's defaults: $PAYFLOW_TEMPORAL_SERVER_BIN, …].
	TemporalServer, TemporalSQLTool string
	// Seed orders a storm's deliveries [the clock].
	Seed uint64
}

// Topology is what a scenario runs payflow on and how it is fed. The zero
// value is the dev server, one worker, one receiver, each event delivered
// once, in order, every event a payment_intent.succeeded.
type Topology struct {
	// Cluster runs Temporal as a real cluster (internal/cluster: frontend,
	// history, matching and worker processes on PostgreSQL), with
	// HistoryHosts history processes [1], instead of the dev server.
	Cluster      bool
	HistoryHosts int
	// Workers and Receivers are how many `payflow worker` and `payflow
	// serve` processes run, all on one database [1 each].
	Workers, Receivers int
	// Copies is how many times each event is delivered, each copy a
	// delivery of its own [1]; copy c goes to receiver c first, each retry
	// to the next. Shuffle sends the first deliveries in random order.
	Copies  int
	Shuffle bool
	// Subscriptions × Invoices of the burst's events are invoice.paid of
	// that many subscriptions (the rest are one-off payments): many events
	// for one workflow, arriving through every receiver at once.
	Subscriptions, Invoices int
}

func (t Topology) withDefaults() Topology {
	t.Workers, t.Receivers, t.Copies, t.HistoryHosts = max(t.Workers, 1), max(t.Receivers, 1), max(t.Copies, 1), max(t.HistoryHosts, 1)
	return t
}

// Scenario is one fault.
type Scenario struct {
	Name string
	DB   string // sqlite or postgres
	What string
	// Fault injects the fault at FaultAt into the burst, keeps it for d and
	// ends it (restart, continue, unlock, ...).
	Fault func(ctx context.Context, s *system, d time.Duration) error
	// Flagged: a receipt sent twice passes only if the worker flagged that
	// very send as a possible duplicate (the one window payflow documents:
	// SendGrid accepted, the worker died before the acceptance reached
	// Temporal). Any duplicate it did not flag still fails the scenario.
	Flagged bool
	// Topology: the dev server and one of each process, unless set.
	Topology Topology
}

// storm is the cluster scenarios' topology: production's shape on one
// machine. Two history hosts share the shards, two workers and two
// receivers share one PostgreSQL database, every event is delivered twice
// in a shuffled order, and a tenth of the events are renewals of a few
// subscriptions.
func storm(n int) Topology {
	subs := max(n/40, 1)
	return Topology{Cluster: true, HistoryHosts: 2, Workers: 2, Receivers: 2, Copies: 2, Shuffle: true, Subscriptions: subs, Invoices: 4}
}

// Scenarios is every fault `make chaos` runs, in order.
func Scenarios() []Scenario {
	return ScenariosFor(300)
}

// ScenariosFor is every scenario for bursts of n events (the storm's share
// of subscription renewals depends on n).
func ScenariosFor(n int) []Scenario {
	return []Scenario{
		{Name: "worker-kill", DB: "sqlite", What: "payflow worker kill -9, restarted after the fault time", Fault: faultWorkerKill},
		{Name: "worker-kill-backlog", DB: "sqlite", What: "payflow worker kill -9, restarted after the fault time; kill -9 again 1 s into the backlog, restarted at once (duplicates allowed only where the worker flagged them)", Fault: faultWorkerKillTwice, Flagged: true},
		{Name: "temporal-kill", DB: "sqlite", What: "Temporal dev server kill -9, restarted on the same ports and database file after the fault time", Fault: faultTemporalKill},
		{Name: "temporal-stop", DB: "sqlite", What: "Temporal dev server SIGSTOP, SIGCONT after the fault time", Fault: faultTemporalStop},
		{Name: "db-sqlite", DB: "sqlite", What: "SQLite unwritable: database file and WAL immutable (chattr +i) for the fault time", Fault: faultSQLiteUnwritable},
		{Name: "db-postgres", DB: "postgres", What: "PostgreSQL unreachable: the loopback proxy payflow connects through refuses connections and cuts open ones for the fault time", Fault: faultPostgresDown},
		{Name: "sendgrid-fail", DB: "sqlite", What: "SendGrid answers 503 to every send for the fault time", Fault: faultSendGridFail},
		{Name: "sendgrid-hang", DB: "sqlite", What: "SendGrid accepts connections and never answers for the fault time (dropped at its end)", Fault: faultSendGridHang},
		{Name: "cluster-storm", DB: "postgres", What: "no fault: a shuffled storm, every event twice, through two receivers and two workers on a Temporal cluster (two history hosts)", Fault: faultNone, Topology: storm(n)},
		{Name: "cluster-kill", DB: "postgres", What: "the same storm; kill -9 of one payflow worker and one Temporal history host at once, both restarted after the fault time (duplicates allowed only where the worker flagged them)", Fault: faultClusterKill, Flagged: true, Topology: storm(n)},
	}
}

// faultNone injects nothing: the scenario measures the topology itself.
func faultNone(context.Context, *system, time.Duration) error { return nil }

// faultClusterKill kills one payflow worker and one history host of the
// cluster at the same moment, as a lost machine would, and restarts both
// after d, as an orchestrator would. Meanwhile the other worker takes the
// task queue and the other history host takes the dead one's shards.
func faultClusterKill(ctx context.Context, s *system, d time.Duration) error {
	if s.cluster == nil || len(s.workers) < 2 || s.topo.HistoryHosts < 2 {
		return fmt.Errorf("cluster-kill needs a cluster with two history hosts and two workers")
	}
	if err := s.workers[0].Kill9(); err != nil {
		return err
	}
	if err := s.cluster.Kill("history", 0); err != nil {
		return err
	}
	s.logf("fault: killed %s and Temporal history host 1", s.workers[0].Name)
	sleep(ctx, d)
	if err := s.cluster.Restart("history", 0); err != nil {
		return err
	}
	return s.startWorker(ctx, 0)
}

// faultWorkerKill kills the worker mid-burst and restarts it after d.
func faultWorkerKill(ctx context.Context, s *system, d time.Duration) error {
	if err := s.workers[0].Kill9(); err != nil {
		return err
	}
	sleep(ctx, d)
	return s.startWorker(ctx, 0)
}

// faultWorkerKillTwice kills the worker mid-burst and restarts it after d;
// then, while it works off the backlog of d's events (the moment the most
// emails are between SendGrid's answer and the heartbeat that records it),
// kills it again and restarts it at once, as a crash-looping pod would be.
func faultWorkerKillTwice(ctx context.Context, s *system, d time.Duration) error {
	if err := faultWorkerKill(ctx, s, d); err != nil {
		return err
	}
	sleep(ctx, time.Second)
	if err := s.workers[0].Kill9(); err != nil {
		return err
	}
	sleep(ctx, time.Second)
	return s.startWorker(ctx, 0)
}

func faultTemporalKill(ctx context.Context, s *system, d time.Duration) error {
	if err := s.temporal.Kill9(); err != nil {
		return err
	}
	sleep(ctx, d)
	return s.startTemporal(ctx)
}

func faultTemporalStop(ctx context.Context, s *system, d time.Duration) error {
	if err := s.temporal.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	sleep(ctx, d)
	return s.temporal.Signal(syscall.SIGCONT)
}

// faultSQLiteUnwritable makes the SQLite database unwritable for d: the
// database file and its write-ahead log become immutable (chattr +i), so
// every write fails at once with EPERM, also through the file descriptors
// the worker holds open and also for root, which a chmod would not do. The
// shared-memory index (-shm) stays writable: it is mapped into memory, and
// a write there to an immutable file would kill the worker with SIGBUS
// instead of failing a write. Where chattr is not possible (not ext4, no
// CAP_LINUX_IMMUTABLE), another connection holds the write lock instead:
// writes then wait out the busy timeout before they fail.
func faultSQLiteUnwritable(ctx context.Context, s *system, d time.Duration) error {
	files := s.sqliteFiles()
	if err := chattr("+i", files...); err == nil {
		defer chattr("-i", files...)
		s.logf("fault: %s immutable", strings.Join(files, ", "))
		sleep(ctx, d)
		return chattr("-i", files...)
	} else {
		s.logf("fault: chattr +i refused (%v): holding the write lock instead", err)
	}
	db, err := sql.Open("sqlite", s.sqlitePath+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("take the SQLite write lock: %w", err)
	}
	sleep(ctx, d)
	return tx.Rollback()
}

func faultPostgresDown(ctx context.Context, s *system, d time.Duration) error {
	s.pgProxy.Down()
	sleep(ctx, d)
	return s.pgProxy.Up()
}

func faultSendGridFail(ctx context.Context, s *system, d time.Duration) error {
	s.sendgrid.FailUntil(time.Now().Add(d), 503)
	sleep(ctx, d)
	return nil
}

func faultSendGridHang(ctx context.Context, s *system, d time.Duration) error {
	s.sendgrid.HangUntil(time.Now().Add(d))
	sleep(ctx, d)
	return nil
}

// PostgresReachable says whether the admin URL's server (on loopback)
// accepts TCP connections.
func PostgresReachable(adminURL string) bool {
	u, err := url.Parse(adminURL)
	if adminURL == "" || err != nil || checkLoopback(hostPort(u)) != nil {
		return false
	}
	c, err := net.DialTimeout("tcp", hostPort(u), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Run runs one scenario and returns its figures. It never leaves a process
// behind.
func Run(ctx context.Context, cfg Config, sc Scenario) (res *Result) {
	started := time.Now()
	res = &Result{Scenario: sc.Name, DB: sc.DB, What: sc.What, Sent: cfg.N}
	logf := func(format string, args ...any) {
		fmt.Fprintf(cfg.Out, "%s %-13s %s\n", time.Now().Format("15:04:05"), sc.Name, fmt.Sprintf(format, args...))
	}
	defer func() { res.Took = time.Since(started) }()
	if sc.DB == "postgres" && !PostgresReachable(cfg.PostgresURL) {
		res.Skipped = "PostgreSQL not reachable on 127.0.0.1:5432"
		logf("skipped: %s", res.Skipped)
		return res
	}
	dir := filepath.Join(cfg.Work, sc.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		res.Err = err
		return res
	}

	// One scenario never runs longer than this, whatever hangs.
	topo := sc.Topology.withDefaults()
	burst := time.Duration(float64(cfg.N*topo.Copies) / cfg.Rate * float64(time.Second))
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute+burst+cfg.FaultFor+cfg.RetryFor+cfg.Wait)
	defer cancel()

	if topo.Cluster {
		logf("starting a Temporal cluster (%d history hosts), %d payflow serve and %d worker (%s), SendGrid fake", topo.HistoryHosts, topo.Receivers, topo.Workers, sc.DB)
	} else {
		logf("starting Temporal dev server, payflow serve and worker (%s), SendGrid fake", sc.DB)
	}
	s, err := startSystem(ctx, cfg, sc, dir, logf)
	defer func() {
		if err := s.stop(); err != nil {
			res.Notes = append(res.Notes, "stopping: "+err.Error())
		}
	}()
	if err != nil {
		res.Err = fmt.Errorf("start: %w", err)
		return res
	}

	tag := newTag()
	evs, err := buildEvents(cfg.N, tag, time.Now(), topo.Subscriptions, topo.Invoices)
	if err != nil {
		res.Err = err
		return res
	}
	snd, err := newSender(s.receiverURLs, s.secret)
	if err != nil {
		res.Err = err
		return res
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	plan := schedule(len(evs), topo.Copies, topo.Shuffle, seed)
	if topo.Copies > 1 || topo.Shuffle || topo.Subscriptions > 0 {
		logf("storm: %d events (%d invoices of %d subscriptions), each delivered %d times, %s order (seed %d), through %d receivers",
			len(evs), topo.Subscriptions*topo.Invoices, topo.Subscriptions, topo.Copies, map[bool]string{true: "shuffled", false: "event"}[topo.Shuffle], seed, topo.Receivers)
	}
	logf("burst: %d deliveries at %.0f/s (%.0fs); fault at +%s for %s: %s", len(plan), cfg.Rate, burst.Seconds(), cfg.FaultAt, cfg.FaultFor, sc.What)
	faultDone := make(chan error, 1)
	go func() {
		sleep(ctx, cfg.FaultAt)
		if ctx.Err() != nil {
			faultDone <- ctx.Err()
			return
		}
		logf("fault: injecting")
		err := sc.Fault(ctx, s, cfg.FaultFor)
		logf("fault: over (%v)", errOrOK(err))
		faultDone <- err
	}()
	d := snd.send(ctx, evs, plan, cfg.Rate, cfg.RetryFor)
	if err := <-faultDone; err != nil {
		res.Err = fmt.Errorf("fault: %w", err)
	}
	res.Acked, res.Unacked = d.acked(), cfg.N-d.acked()
	res.Posts, res.Statuses, res.TransportErrors, res.PerReceiver = d.Posts, d.Statuses, d.Errors, d.PerReceiver
	logf("burst: %d/%d acknowledged in %.1fs, %d deliveries (%d non-2xx %v, %d transport errors; first: %s)",
		res.Acked, cfg.N, d.Elapsed.Seconds(), d.Posts, sum(d.Statuses), d.Statuses, d.Errors, d.FirstError)

	// Wait until every acknowledged event has its effects and every order
	// workflow of the burst has closed (no retry still to come).
	waitStart := time.Now()
	deadline := waitStart.Add(cfg.Wait)
	var obs *observation
	lastLog := time.Now()
	for {
		obs = s.observe(ctx, tag)
		ok, why := obs.settled(evs, d.Acked)
		if ok {
			res.Settle = time.Since(waitStart)
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			logf("effects: gave up after %s: %s", cfg.Wait, why)
			break
		}
		if time.Since(lastLog) > 10*time.Second {
			logf("effects: waiting: %s", why)
			lastLog = time.Now()
		}
		sleep(ctx, 2*time.Second)
	}
	// A last look a moment later, so a duplicate sent just now is counted.
	sleep(ctx, 2*time.Second)
	obs = s.observe(context.WithoutCancel(ctx), tag)
	if sc.Flagged {
		obs.flagged = s.flaggedDuplicates()
	}
	obs.tally(res, evs, d.Acked)
	if ctx.Err() != nil && res.Err == nil {
		res.Err = fmt.Errorf("cut short (%v): the figures are incomplete", context.Cause(ctx))
	}
	res.Evidence = s.evidence()
	res.SendGridRequests, res.SendGridAccepted = s.sendgrid.Attempts(), len(s.sendgrid.Messages())
	res.Notes = append(res.Notes, s.exitedEarly()...)
	if len(s.exitedEarly()) > 0 && res.Err == nil {
		res.Err = fmt.Errorf("a process exited on its own")
	}
	if res.Unacked > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d events never acknowledged within %s of retries (first error: %s)", res.Unacked, cfg.RetryFor, d.FirstError))
	}
	logf("worker metrics: %s", res.Evidence)
	logf("result: sent %d, acknowledged %d, completed %d, duplicate %d (flagged %d; extra receipts %d), lost %d; effects settled %.1fs after the burst; SendGrid saw %d requests, accepted %d",
		res.Sent, res.Acked, res.Completed, res.Duplicate, res.Flagged, res.ExtraReceipts, res.Lost, res.Settle.Seconds(), res.SendGridRequests, res.SendGridAccepted)
	return res
}

func errOrOK(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}

func sum(m map[int]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// Report writes the results table and the notes.
func Report(w io.Writer, results []*Result) {
	fmt.Fprintf(w, "\n%-19s %-9s %5s %6s %9s %4s %7s %5s %8s %10s %6s  %s\n",
		"scenario", "db", "sent", "acked", "completed", "dup", "flagged", "lost", "unacked", "deliveries", "took", "result")
	for _, r := range results {
		verdict := "ok"
		switch {
		case r.Skipped != "":
			fmt.Fprintf(w, "%-19s %-9s %5s %6s %9s %4s %7s %5s %8s %10s %6s  skipped: %s\n", r.Scenario, r.DB, "-", "-", "-", "-", "-", "-", "-", "-", "-", r.Skipped)
			continue
		case r.Failed():
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "%-19s %-9s %5d %6d %9d %4d %7d %5d %8d %10d %5.0fs  %s\n",
			r.Scenario, r.DB, r.Sent, r.Acked, r.Completed, r.Duplicate, r.Flagged, r.Lost, r.Unacked, r.Posts, r.Took.Seconds(), verdict)
	}
	for _, r := range results {
		if len(r.PerReceiver) > 1 {
			fmt.Fprintf(w, "%s: acknowledgements per receiver %v\n", r.Scenario, r.PerReceiver)
		}
	}
	for _, r := range results {
		if r.Err == nil && len(r.Notes) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", r.Scenario)
		if r.Err != nil {
			fmt.Fprintf(w, "  error: %v\n", r.Err)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(n, "\n", "\n    "))
		}
	}
}
