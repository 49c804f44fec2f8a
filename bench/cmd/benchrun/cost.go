package main

// What the cluster phase's events cost: CPU time of every process (the
// Temporal services, payflow serve and worker, this process, and
// PostgreSQL's processes, attributed to a database by their process title)
// and PostgreSQL's own counters (pg_stat_database, pg_stat_wal,
// pg_stat_bgwriter) over each measured phase; per event, and as events a
// second one core of each serves.

import (
	"context"
	"database/sql"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/payflow/payflow/bench/internal/proc"
	"github.com/payflow/payflow/internal/cluster"
)

// Components whose CPU is measured, besides temporal-<service>.
const (
	compServe  = "payflow-serve"
	compWorker = "payflow-worker"
	compClient = "bench-client" // this process: load generator, bare client and its worker
	// PostgreSQL's processes: backends of the phase's databases (by role),
	// the shared ones (postmaster, checkpointer, background and WAL
	// writers, autovacuum launcher), and backends of other databases
	// (other users of the server: not counted as the phase's).
	compPGShared = "pg-shared"
	compPGOther  = "pg-other"
)

// Database roles: which of the phase's databases a backend or a counter
// belongs to.
const (
	roleTemporal   = "temporal"
	roleVisibility = "visibility"
	rolePayflow    = "payflow"
	roleOther      = "other"
)

var (
	ourRoles     = []string{roleTemporal, roleVisibility, rolePayflow}
	pgComponents = []string{"pg-" + roleTemporal, "pg-" + roleVisibility, "pg-" + rolePayflow, compPGShared}
)

func temporalComponents() []string {
	var out []string
	for _, s := range cluster.Services {
		out = append(out, "temporal-"+s)
	}
	return out
}

// allComponents is the order components are shown in.
func allComponents() []string {
	return slices.Concat(temporalComponents(), []string{compServe, compWorker}, pgComponents, []string{compPGOther, compClient})
}

// DBCounters are one database's pg_stat_database counters.
type DBCounters struct {
	Commits   int64 `json:"xact_commit"` // every transaction, read-only ones too
	Rollbacks int64 `json:"xact_rollback"`
	Inserted  int64 `json:"tup_inserted"`
	Updated   int64 `json:"tup_updated"`
	Deleted   int64 `json:"tup_deleted"`
	Returned  int64 `json:"tup_returned"`
	Fetched   int64 `json:"tup_fetched"`
	BlksRead  int64 `json:"blks_read"`
	BlksHit   int64 `json:"blks_hit"`
}

func (a DBCounters) sub(b DBCounters) DBCounters {
	return DBCounters{a.Commits - b.Commits, a.Rollbacks - b.Rollbacks, a.Inserted - b.Inserted, a.Updated - b.Updated,
		a.Deleted - b.Deleted, a.Returned - b.Returned, a.Fetched - b.Fetched, a.BlksRead - b.BlksRead, a.BlksHit - b.BlksHit}
}

func (a DBCounters) add(b DBCounters) DBCounters {
	return DBCounters{a.Commits + b.Commits, a.Rollbacks + b.Rollbacks, a.Inserted + b.Inserted, a.Updated + b.Updated,
		a.Deleted + b.Deleted, a.Returned + b.Returned, a.Fetched + b.Fetched, a.BlksRead + b.BlksRead, a.BlksHit + b.BlksHit}
}

// PGCounters are PostgreSQL's counters: per database role, and the
// server-wide WAL and buffer writes (which include any other user's work).
type PGCounters struct {
	DB             map[string]DBCounters `json:"databases"`
	WALRecords     int64                 `json:"wal_records"`
	WALFPI         int64                 `json:"wal_fpi"`
	WALBytes       int64                 `json:"wal_bytes"`
	WALWrite       int64                 `json:"wal_write"`
	WALSync        int64                 `json:"wal_sync"`        // WAL flushes to disk (commits share them)
	BuffersWritten int64                 `json:"buffers_written"` // by the checkpointer, the background writer and backends
}

// pgSnapshot is PostgreSQL's counters at one moment: DB by database name.
type pgSnapshot PGCounters

// since is what happened between a and s, by database role (roles: name →
// role; any other database is roleOther). A database created in between
// counts from zero, and so does one dropped and created again under its
// name (its counters went back); one dropped in between is not counted.
func (s pgSnapshot) since(a pgSnapshot, roles map[string]string) PGCounters {
	d := PGCounters{DB: map[string]DBCounters{}, WALRecords: s.WALRecords - a.WALRecords, WALFPI: s.WALFPI - a.WALFPI,
		WALBytes: s.WALBytes - a.WALBytes, WALWrite: s.WALWrite - a.WALWrite, WALSync: s.WALSync - a.WALSync,
		BuffersWritten: s.BuffersWritten - a.BuffersWritten}
	for name, c := range s.DB {
		role, ok := roles[name]
		if !ok {
			role = roleOther
		}
		before := a.DB[name]
		if c.Commits < before.Commits || c.Inserted < before.Inserted || c.BlksHit < before.BlksHit {
			before = DBCounters{}
		}
		d.DB[role] = d.DB[role].add(c.sub(before))
	}
	return d
}

func (a PGCounters) add(b PGCounters) PGCounters {
	d := PGCounters{DB: map[string]DBCounters{}, WALRecords: a.WALRecords + b.WALRecords, WALFPI: a.WALFPI + b.WALFPI,
		WALBytes: a.WALBytes + b.WALBytes, WALWrite: a.WALWrite + b.WALWrite, WALSync: a.WALSync + b.WALSync,
		BuffersWritten: a.BuffersWritten + b.BuffersWritten}
	for r, c := range a.DB {
		d.DB[r] = c
	}
	for r, c := range b.DB {
		d.DB[r] = d.DB[r].add(c)
	}
	return d
}

// ours sums the counters of the given roles.
func (a PGCounters) ours(roles ...string) DBCounters {
	var s DBCounters
	for _, r := range roles {
		s = s.add(a.DB[r])
	}
	return s
}

func (a PGCounters) commits(roles ...string) int64 { return a.ours(roles...).Commits }

// Usage is what one window cost.
type Usage struct {
	Seconds   float64            `json:"seconds"`          // the CPU window: the phase, from its first send to its last completion
	PGSeconds float64            `json:"postgres_seconds"` // the counters' window: the same, plus the settle time
	CPU       map[string]float64 `json:"cpu_seconds"`      // by component
	PG        PGCounters         `json:"postgres"`
}

func (u Usage) cpuSum(comps []string) float64 {
	var s float64
	for _, c := range comps {
		s += u.CPU[c]
	}
	return s
}

// cores is the mean CPU the components used over the window.
func (u Usage) cores(comps []string) float64 {
	if u.Seconds <= 0 {
		return 0
	}
	return u.cpuSum(comps) / u.Seconds
}

// perEvent is the components' CPU per event, in µs.
func (u Usage) perEvent(comps []string, n int) float64 {
	if n <= 0 {
		return 0
	}
	return u.cpuSum(comps) * 1e6 / float64(n)
}

func (u Usage) commitsPerSecond() float64 {
	if u.PGSeconds <= 0 {
		return 0
	}
	return float64(u.PG.commits(ourRoles...)) / u.PGSeconds
}

func (u Usage) add(b Usage) Usage {
	s := Usage{Seconds: u.Seconds + b.Seconds, PGSeconds: u.PGSeconds + b.PGSeconds, CPU: map[string]float64{}, PG: u.PG.add(b.PG)}
	for k, v := range u.CPU {
		s.CPU[k] += v
	}
	for k, v := range b.CPU {
		s.CPU[k] += v
	}
	return s
}

// PhaseCost is one measured phase's usage.
type PhaseCost struct {
	Name   string `json:"name"`
	Round  int    `json:"round,omitempty"`
	Part   string `json:"part,omitempty"`
	Events int    `json:"events"`
	Usage  Usage  `json:"usage"`
}

// Cost is what one event cost, over the phases of one kind (payflow, or
// the bare client's) of every round.
type Cost struct {
	Kind    string  `json:"kind"`
	Phases  int     `json:"phases"`
	Events  int     `json:"events"`
	Seconds float64 `json:"seconds"`
	// CPU per event by component, in µs; and the sums: Temporal's four
	// services, payflow serve + worker, PostgreSQL (the phase's
	// databases' backends and the shared processes).
	CPUus      map[string]float64 `json:"cpu_us_per_event"`
	TemporalUs float64            `json:"temporal_cpu_us_per_event"`
	PayflowUs  float64            `json:"payflow_cpu_us_per_event"`
	PostgresUs float64            `json:"postgres_cpu_us_per_event"`
	// Cores each component used on average over the phases.
	Cores map[string]float64 `json:"cores"`
	// PostgreSQL per event: transactions by database (read-only ones
	// included), rows written and read, blocks, WAL, and buffer writes.
	Commits        map[string]float64 `json:"xact_commit_per_event"`
	Inserted       float64            `json:"tup_inserted_per_event"`
	Updated        float64            `json:"tup_updated_per_event"`
	Deleted        float64            `json:"tup_deleted_per_event"`
	Returned       float64            `json:"tup_returned_per_event"`
	BlksRead       float64            `json:"blks_read_per_event"`
	BlksHit        float64            `json:"blks_hit_per_event"`
	WALBytes       float64            `json:"wal_bytes_per_event"`
	WALRecords     float64            `json:"wal_records_per_event"`
	WALFPI         float64            `json:"wal_fpi_per_event"`
	WALSync        float64            `json:"wal_sync_per_event"`
	BuffersWritten float64            `json:"buffers_written_per_event"`
	// Other users of the PostgreSQL server during the phases: their
	// backends' CPU (cores) and their databases' transactions. When not
	// near zero, the server-wide WAL and buffer figures include their work.
	OtherCores   float64 `json:"other_postgres_cores"`
	OtherCommits int64   `json:"other_databases_xact_commit"`
}

// costOf sums the usage of the phases named kind within rounds (not the
// fresh-server phase) and divides by their events.
func costOf(kind string, phases []PhaseCost) (Cost, bool) {
	c := Cost{Kind: kind}
	var sum Usage
	for _, p := range phases {
		if p.Name != kind || p.Round == 0 || p.Events <= 0 {
			continue
		}
		sum = sum.add(p.Usage)
		c.Phases++
		c.Events += p.Events
	}
	if c.Events == 0 {
		return c, false
	}
	n := float64(c.Events)
	c.Seconds = sum.Seconds
	c.CPUus, c.Cores, c.Commits = map[string]float64{}, map[string]float64{}, map[string]float64{}
	for k, v := range sum.CPU {
		c.CPUus[k] = v * 1e6 / n
		c.Cores[k] = sum.cores([]string{k})
	}
	c.TemporalUs = sum.perEvent(temporalComponents(), c.Events)
	c.PayflowUs = sum.perEvent([]string{compServe, compWorker}, c.Events)
	c.PostgresUs = sum.perEvent(pgComponents, c.Events)
	for _, r := range ourRoles {
		c.Commits[r] = float64(sum.PG.DB[r].Commits) / n
	}
	o := sum.PG.ours(ourRoles...)
	c.Inserted, c.Updated, c.Deleted, c.Returned = float64(o.Inserted)/n, float64(o.Updated)/n, float64(o.Deleted)/n, float64(o.Returned)/n
	c.BlksRead, c.BlksHit = float64(o.BlksRead)/n, float64(o.BlksHit)/n
	c.WALBytes, c.WALRecords, c.WALFPI = float64(sum.PG.WALBytes)/n, float64(sum.PG.WALRecords)/n, float64(sum.PG.WALFPI)/n
	c.WALSync, c.BuffersWritten = float64(sum.PG.WALSync)/n, float64(sum.PG.BuffersWritten)/n
	c.OtherCores = sum.cores([]string{compPGOther})
	c.OtherCommits = sum.PG.DB[roleOther].Commits
	return c, true
}

// CommitsPerEvent is every transaction the phase's databases ran per event.
func (c Cost) CommitsPerEvent() float64 {
	var s float64
	for _, v := range c.Commits {
		s += v
	}
	return s
}

// CapacityLine is what one core of a component serves, by the measured
// CPU per event: the paper estimate's inputs.
type CapacityLine struct {
	Component     string  `json:"component"`
	UsPerEvent    float64 `json:"cpu_us_per_event"`
	EventsPerCore float64 `json:"events_per_second_per_core"`
	CoresPer100   float64 `json:"cores_per_100_events_per_second"`
}

// capacityComponents are the components a deployment sizes: Temporal's
// services, payflow's two processes, and PostgreSQL as one.
func capacityComponents() []string {
	return slices.Concat(temporalComponents(), []string{compServe, compWorker, "postgres"})
}

func capacity(c Cost) []CapacityLine {
	var out []CapacityLine
	for _, comp := range capacityComponents() {
		v := c.CPUus[comp]
		if comp == "postgres" {
			v = c.PostgresUs
		}
		if v <= 0 {
			continue
		}
		out = append(out, CapacityLine{Component: comp, UsPerEvent: v, EventsPerCore: 1e6 / v, CoresPer100: 100 * v / 1e6})
	}
	return out
}

// estimate is the events a second that cores (by component) serve: the
// least of cores × events per core over the capacity lines, and the
// component that binds. A line without cores is not sized (left out).
func estimate(lines []CapacityLine, cores map[string]float64) (rate float64, binding string) {
	rate = -1
	for _, l := range lines {
		n, ok := cores[l.Component]
		if !ok {
			continue
		}
		if r := n * l.EventsPerCore; rate < 0 || r < rate {
			rate, binding = r, l.Component
		}
	}
	return max(rate, 0), binding
}

// classifyPG says which component a PostgreSQL process is, from its
// command line (its process title: "postgres: [cluster name:] user
// database host(port) state" for a backend).
func classifyPG(cmdline string, roles map[string]string) string {
	title := strings.TrimSpace(strings.ReplaceAll(cmdline, "\x00", " "))
	rest, ok := strings.CutPrefix(title, "postgres: ")
	if !ok {
		return compPGShared // the postmaster
	}
	f := strings.Fields(rest)
	if len(f) > 1 && strings.HasSuffix(f[0], ":") {
		f = f[1:] // cluster_name
	}
	joined := strings.Join(f, " ")
	if strings.HasPrefix(joined, "autovacuum worker") {
		if len(f) > 2 {
			if r, ok := roles[f[2]]; ok {
				return "pg-" + r
			}
			return compPGOther
		}
		return compPGShared
	}
	for _, bg := range []string{"checkpointer", "background writer", "walwriter", "autovacuum launcher", "logical replication launcher",
		"stats collector", "archiver", "startup", "parallel worker", "walreceiver", "walsender", "io worker", "walsummarizer"} {
		if strings.HasPrefix(joined, bg) {
			return compPGShared
		}
	}
	if len(f) >= 2 {
		if r, ok := roles[f[1]]; ok {
			return "pg-" + r
		}
		return compPGOther
	}
	return compPGShared
}

// pgSampler follows the CPU of PostgreSQL's processes over a window,
// every second, so that a backend that starts or ends inside it still
// counts (to within a second of its CPU).
type pgSampler struct {
	roles map[string]string
	skip  int // the meter's own backend
	mu    sync.Mutex
	first map[int]time.Duration
	last  map[int]time.Duration
	comp  map[int]string
	stop  chan struct{}
	done  chan struct{}
}

func startPGSampler(roles map[string]string, skip int) *pgSampler {
	s := &pgSampler{roles: roles, skip: skip, first: map[int]time.Duration{}, last: map[int]time.Duration{},
		comp: map[int]string{}, stop: make(chan struct{}), done: make(chan struct{})}
	s.scan(true)
	go func() {
		defer close(s.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.scan(false)
			}
		}
	}()
	return s
}

func (s *pgSampler) scan(initial bool) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == s.skip {
			continue
		}
		if _, known := s.comp[pid]; !known {
			comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
			if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
				continue
			}
			cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err != nil {
				continue
			}
			s.comp[pid] = classifyPG(string(cmdline), s.roles)
		}
		cpu, err := proc.CPU(pid)
		if err != nil {
			continue
		}
		if _, seen := s.first[pid]; !seen {
			if initial {
				s.first[pid] = cpu
			} else {
				s.first[pid] = 0 // started inside the window
			}
		}
		s.last[pid] = cpu
	}
}

// end takes a last sample and returns the CPU by component.
func (s *pgSampler) end() map[string]time.Duration {
	close(s.stop)
	<-s.done
	s.scan(false)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]time.Duration{}
	for pid, last := range s.last {
		out[s.comp[pid]] += max(last-s.first[pid], 0)
	}
	return out
}

// meter measures windows: the CPU of fixed processes and of this one, of
// PostgreSQL's processes, and PostgreSQL's counters.
type meter struct {
	pg         pgTarget
	roles      map[string]string // database name → role
	fixed      map[string][]int  // component → its processes
	db         *sql.DB
	conn       *sql.Conn
	monitorPid int
}

func (m *meter) open(ctx context.Context) error {
	db, err := sql.Open("pgx", m.pg.url("postgres"))
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return err
	}
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&m.monitorPid); err != nil {
		conn.Close()
		db.Close()
		return err
	}
	m.db, m.conn = db, conn
	return nil
}

func (m *meter) close() {
	if m.conn != nil {
		m.conn.Close()
	}
	if m.db != nil {
		m.db.Close()
	}
}

// counters reads PostgreSQL's counters. The WAL and buffer views differ
// between versions; what a version lacks stays 0.
func (m *meter) counters(ctx context.Context) (pgSnapshot, error) {
	c := pgSnapshot{DB: map[string]DBCounters{}}
	rows, err := m.conn.QueryContext(ctx, `SELECT datname, xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted,
		tup_returned, tup_fetched, blks_read, blks_hit FROM pg_stat_database WHERE datname IS NOT NULL`)
	if err != nil {
		return c, err
	}
	for rows.Next() {
		var name string
		var d DBCounters
		if err := rows.Scan(&name, &d.Commits, &d.Rollbacks, &d.Inserted, &d.Updated, &d.Deleted, &d.Returned, &d.Fetched, &d.BlksRead, &d.BlksHit); err != nil {
			rows.Close()
			return c, err
		}
		c.DB[name] = d
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return c, err
	}
	_ = m.conn.QueryRowContext(ctx, `SELECT wal_records, wal_fpi, wal_bytes::bigint, wal_write, wal_sync FROM pg_stat_wal`).
		Scan(&c.WALRecords, &c.WALFPI, &c.WALBytes, &c.WALWrite, &c.WALSync)
	if err := m.conn.QueryRowContext(ctx, `SELECT buffers_checkpoint + buffers_clean + buffers_backend FROM pg_stat_bgwriter`).Scan(&c.BuffersWritten); err != nil {
		// PostgreSQL 17+: the checkpointer's writes have a view of their own.
		var ckpt, clean int64
		if m.conn.QueryRowContext(ctx, `SELECT (SELECT buffers_written FROM pg_stat_checkpointer), (SELECT buffers_clean FROM pg_stat_bgwriter)`).Scan(&ckpt, &clean) == nil {
			c.BuffersWritten = ckpt + clean
		}
	}
	return c, nil
}

func (m *meter) fixedCPU() map[string]time.Duration {
	out := map[string]time.Duration{compClient: proc.SelfCPU()}
	for comp, pids := range m.fixed {
		for _, pid := range pids {
			d, _ := proc.CPU(pid)
			out[comp] += d
		}
	}
	return out
}

// measure runs run and returns what it cost: CPU over run, PostgreSQL's
// counters over run and then settle (so that idle backends have reported
// their statistics).
func (m *meter) measure(ctx context.Context, settle time.Duration, run func() error) (Usage, error) {
	pg0, err := m.counters(ctx)
	if err != nil {
		return Usage{}, err
	}
	cpu0 := m.fixedCPU()
	s := startPGSampler(m.roles, m.monitorPid)
	t0 := time.Now()
	runErr := run()
	cpu1, pgcpu := m.fixedCPU(), s.end()
	u := Usage{Seconds: time.Since(t0).Seconds(), CPU: map[string]float64{}}
	for k, v := range cpu1 {
		u.CPU[k] = (v - cpu0[k]).Seconds()
	}
	for k, v := range pgcpu {
		u.CPU[k] = v.Seconds()
	}
	if runErr != nil {
		return u, runErr
	}
	if settle > 0 {
		select {
		case <-ctx.Done():
			return u, ctx.Err()
		case <-time.After(settle):
		}
	}
	pg1, err := m.counters(ctx)
	if err != nil {
		return u, err
	}
	u.PG, u.PGSeconds = pg1.since(pg0, m.roles), time.Since(t0).Seconds()
	return u, nil
}
