package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestRoundRatios(t *testing.T) {
	phases := []Phase{
		{Name: "bare-fresh-server", Events: 1000, Acked: 1000, AckSeconds: 1, AckRate: 1000, LastDoneSec: 2, DoneRate: 500},
		// Round 1: bare halves 500 events each, 5 s + 5 s of acks, 10 s + 15 s to completion.
		{Name: "bare", Round: 1, Part: "a", Events: 500, Acked: 500, AckSeconds: 5, AckRate: 100, LastDoneSec: 10, DoneRate: 50},
		{Name: "payflow", Round: 1, Events: 1000, Acked: 1000, AckSeconds: 11, AckRate: 90, LastDoneSec: 40, DoneRate: 25},
		{Name: "bare", Round: 1, Part: "b", Events: 500, Acked: 500, AckSeconds: 5, AckRate: 100, LastDoneSec: 15, DoneRate: 33.3},
		// Round 2: the second bare half did not complete: no completion ratio.
		{Name: "bare", Round: 2, Part: "a", Events: 500, Acked: 500, AckSeconds: 4, AckRate: 125, LastDoneSec: 10, DoneRate: 50},
		{Name: "payflow", Round: 2, Events: 1000, Acked: 1000, AckSeconds: 10, AckRate: 100, LastDoneSec: 50, DoneRate: 20},
		{Name: "bare", Round: 2, Part: "b", Events: 500, Acked: 500, AckSeconds: 4, AckRate: 125, LastDoneSec: 0},
		// Round 3: payflow never acknowledged: left out.
		{Name: "bare", Round: 3, Part: "a", Events: 500, Acked: 500, AckSeconds: 4, AckRate: 125},
		{Name: "payflow", Round: 3, Events: 1000},
	}
	rounds := roundRatios(phases, 3)
	if len(rounds) != 2 {
		t.Fatalf("rounds: %+v, want 2", rounds)
	}
	r1, r2 := rounds[0], rounds[1]
	if !near(r1.BareAckRate, 100) || !near(r1.Ratio, 0.9) || !near(r1.BareDoneRate, 1000.0/25) || !near(r1.DoneRatio, 25/40.0) {
		t.Errorf("round 1: %+v", r1)
	}
	if !near(r2.BareAckRate, 125) || !near(r2.Ratio, 0.8) || r2.BareDoneRate != 0 || r2.DoneRatio != 0 || r2.PayflowDoneRate != 20 {
		t.Errorf("round 2: %+v", r2)
	}
	ratio, pf, bare := roundMedians(rounds)
	if !near(ratio, 0.85) || !near(pf, 95) || !near(bare, 112.5) {
		t.Errorf("medians: %v %v %v", ratio, pf, bare)
	}
	dr, dpf, dbare := doneMedians(rounds)
	if !near(dr, 0.625) || !near(dpf, 25) || !near(dbare, 40) {
		t.Errorf("completion medians: %v %v %v", dr, dpf, dbare)
	}
}

func TestCompareDev(t *testing.T) {
	dev := &E2EResult{Rounds: []E2ERound{{Round: 1, PayflowAckRate: 200, BareAckRate: 250, Ratio: 0.8, PayflowDoneRate: 40, BareDoneRate: 80, DoneRatio: 0.5}}}
	c := &ClusterResult{Rounds: []E2ERound{{Round: 1}}, PayflowAckRate: 100, BareAckRate: 125, PayflowDoneRate: 60, BareDoneRate: 0}
	v := compareDev(c, dev)
	if v == nil || !near(v.PayflowAck, 0.5) || !near(v.BareAck, 0.5) || !near(v.PayflowDone, 1.5) || v.BareDone != 0 || v.DevBareDone != 80 {
		t.Errorf("compareDev: %+v", v)
	}
	if compareDev(c, &E2EResult{}) != nil || compareDev(nil, dev) != nil {
		t.Error("compareDev without rounds on one side: want nil")
	}
}

func usage(secs float64, cpu map[string]float64, commits map[string]int64, wal int64) Usage {
	u := Usage{Seconds: secs, PGSeconds: secs + 11, CPU: cpu, PG: PGCounters{DB: map[string]DBCounters{}, WALBytes: wal, WALSync: wal / 1000}}
	for r, n := range commits {
		u.PG.DB[r] = DBCounters{Commits: n, Inserted: n / 2}
	}
	return u
}

func TestCostOf(t *testing.T) {
	phases := []PhaseCost{
		// Not in a round: left out.
		{Name: "bare-fresh-server", Events: 1000, Usage: usage(10, map[string]float64{"temporal-history": 100}, nil, 0)},
		{Name: "payflow", Round: 1, Events: 1000, Usage: usage(10, map[string]float64{
			"temporal-history": 10, "temporal-matching": 2, "temporal-frontend": 3, "temporal-worker": 0.1,
			compServe: 1, compWorker: 4, "pg-temporal": 6, "pg-visibility": 1, "pg-payflow": 2, compPGShared: 1, compPGOther: 0.5, compClient: 1,
		}, map[string]int64{roleTemporal: 8000, roleVisibility: 2000, rolePayflow: 4000, roleOther: 30}, 4_000_000)},
		{Name: "payflow", Round: 2, Events: 1000, Usage: usage(10, map[string]float64{
			"temporal-history": 10, "temporal-matching": 2, "temporal-frontend": 3, "temporal-worker": 0.1,
			compServe: 1, compWorker: 4, "pg-temporal": 6, "pg-visibility": 1, "pg-payflow": 2, compPGShared: 1, compPGOther: 0.5, compClient: 1,
		}, map[string]int64{roleTemporal: 8000, roleVisibility: 2000, rolePayflow: 4000, roleOther: 30}, 4_000_000)},
		{Name: "bare", Round: 1, Part: "a", Events: 500, Usage: usage(5, map[string]float64{"temporal-history": 2}, map[string]int64{roleTemporal: 2000}, 0)},
	}
	c, ok := costOf("payflow", phases)
	if !ok || c.Phases != 2 || c.Events != 2000 || c.Seconds != 20 {
		t.Fatalf("cost: %+v", c)
	}
	if !near(c.CPUus["temporal-history"], 10000) || !near(c.TemporalUs, 15100) || !near(c.PayflowUs, 5000) || !near(c.PostgresUs, 10000) {
		t.Errorf("CPU per event: %+v temporal %v payflow %v postgres %v", c.CPUus, c.TemporalUs, c.PayflowUs, c.PostgresUs)
	}
	if !near(c.Cores["temporal-history"], 1) || !near(c.OtherCores, 0.05) || c.OtherCommits != 60 {
		t.Errorf("cores %v, other %v cores %d commits", c.Cores, c.OtherCores, c.OtherCommits)
	}
	if !near(c.Commits[roleTemporal], 8) || !near(c.CommitsPerEvent(), 14) || !near(c.Inserted, 7) || !near(c.WALBytes, 4000) || !near(c.WALSync, 4) {
		t.Errorf("PostgreSQL per event: %+v", c)
	}
	if _, ok := costOf("payflow-burst", phases); ok {
		t.Error("a kind without phases has no cost")
	}

	lines := capacity(c)
	byName := map[string]CapacityLine{}
	for _, l := range lines {
		byName[l.Component] = l
	}
	h := byName["temporal-history"]
	if !near(h.EventsPerCore, 100) || !near(h.CoresPer100, 1) {
		t.Errorf("history: %+v", h)
	}
	if pg := byName["postgres"]; !near(pg.UsPerEvent, 10000) || !near(pg.EventsPerCore, 100) {
		t.Errorf("postgres: %+v", pg)
	}
	if _, ok := byName[compClient]; ok {
		t.Error("the bench client is no component of a deployment")
	}
	// 2 history cores serve 200/s, 1 payflow worker core 250/s, 2
	// PostgreSQL cores 200/s, 1 frontend core 333/s: history binds first
	// in the order given (ties keep the first).
	rate, binding := estimate(lines, map[string]float64{"temporal-history": 2, compWorker: 1, "postgres": 2, "temporal-frontend": 1})
	if !near(rate, 200) || binding != "temporal-history" {
		t.Errorf("estimate: %v bound by %s", rate, binding)
	}
	rate, binding = estimate(lines, map[string]float64{"temporal-history": 4, "postgres": 1.5})
	if !near(rate, 150) || binding != "postgres" {
		t.Errorf("estimate: %v bound by %s", rate, binding)
	}
	if rate, _ := estimate(lines, nil); rate != 0 {
		t.Errorf("estimate of nothing: %v", rate)
	}
}

func TestPGCounters(t *testing.T) {
	roles := map[string]string{clusterDB: roleTemporal, clusterPayflowDB: rolePayflow}
	a := pgSnapshot{DB: map[string]DBCounters{clusterDB: {Commits: 4, BlksHit: 2}, "test": {Commits: 100}, "dropped": {Commits: 50}, "recreated": {Commits: 900}},
		WALBytes: 40, BuffersWritten: 1}
	b := pgSnapshot{DB: map[string]DBCounters{clusterDB: {Commits: 10, BlksHit: 7}, clusterPayflowDB: {Commits: 2}, "test": {Commits: 103}, "created": {Commits: 5}, "recreated": {Commits: 7}},
		WALBytes: 100, BuffersWritten: 4}
	d := b.since(a, roles)
	// Other databases: test +3, created +5 and recreated +7 (new: from
	// zero), dropped not counted.
	if d.DB[roleTemporal].Commits != 6 || d.DB[roleTemporal].BlksHit != 5 || d.DB[rolePayflow].Commits != 2 || d.DB[roleOther].Commits != 15 ||
		d.WALBytes != 60 || d.BuffersWritten != 3 {
		t.Errorf("since: %+v", d)
	}
	s := d.add(d)
	if s.DB[roleTemporal].Commits != 12 || s.WALBytes != 120 || s.commits(roleTemporal, rolePayflow) != 16 {
		t.Errorf("add: %+v", s)
	}
}

func TestClassifyPG(t *testing.T) {
	roles := map[string]string{clusterDB: roleTemporal, clusterVisibilityDB: roleVisibility, clusterPayflowDB: rolePayflow}
	for _, c := range []struct{ cmdline, want string }{
		{"/usr/lib/postgresql/15/bin/postgres\x00-D\x00/var/lib/postgresql/15/main\x00", compPGShared},
		{"postgres: 15/main: checkpointer ", compPGShared},
		{"postgres: 15/main: background writer ", compPGShared},
		{"postgres: 15/main: walwriter ", compPGShared},
		{"postgres: 15/main: autovacuum launcher ", compPGShared},
		{"postgres: 15/main: logical replication launcher ", compPGShared},
		{"postgres: 15/main: autovacuum worker payflow_temporal_bench", "pg-" + roleTemporal},
		{"postgres: 15/main: autovacuum worker test", compPGOther},
		{"postgres: 15/main: postgres payflow_temporal_bench 127.0.0.1(40412) idle", "pg-" + roleTemporal},
		{"postgres: 15/main: postgres payflow_temporal_bench_visibility 127.0.0.1(40413) SELECT", "pg-" + roleVisibility},
		{"postgres: 15/main: postgres payflow_bench 127.0.0.1(40414) idle in transaction", "pg-" + rolePayflow},
		{"postgres: 15/main: root test [local] idle", compPGOther},
		// No cluster_name set.
		{"postgres: postgres payflow_bench 127.0.0.1(40414) idle\x00\x00\x00", "pg-" + rolePayflow},
		{"postgres: checkpointer ", compPGShared},
	} {
		if got := classifyPG(c.cmdline, roles); got != c.want {
			t.Errorf("classifyPG(%q) = %s, want %s", c.cmdline, got, c.want)
		}
	}
}

func TestParsePG(t *testing.T) {
	p, err := parsePG("postgres://postgres@127.0.0.1:5433/postgres")
	if err != nil || p.Host != "127.0.0.1" || p.Port != 5433 || p.User != "postgres" {
		t.Errorf("parsePG: %+v %v", p, err)
	}
	if got := p.url(clusterPayflowDB); got != "postgres://postgres@127.0.0.1:5433/payflow_bench?sslmode=disable&connect_timeout=5" {
		t.Errorf("url: %s", got)
	}
	for _, bad := range []string{"postgres://postgres@db.example.com:5432/", "mysql://127.0.0.1/", "127.0.0.1:5432"} {
		if _, err := parsePG(bad); err == nil {
			t.Errorf("parsePG(%q): want an error", bad)
		}
	}
}

func TestClusterReport(t *testing.T) {
	c := &ClusterResult{Shards: 4, PayflowDB: "postgres", PayloadEncryption: true, PostgresVersion: "15.20",
		Processes: map[string]int{"frontend": 1, "history": 1, "matching": 1, "worker": 1},
		Phases: []Phase{
			{Name: "bare", Round: 1, Part: "a", Events: 500, Acked: 500, AckSeconds: 5, AckRate: 100, LastDoneSec: 10, DoneRate: 50},
			{Name: "payflow", Round: 1, Events: 1000, Acked: 1000, AckSeconds: 10.5, AckRate: 95, LastDoneSec: 40, DoneRate: 25},
			{Name: "bare", Round: 1, Part: "b", Events: 500, Acked: 500, AckSeconds: 5, AckRate: 100, LastDoneSec: 10, DoneRate: 50},
		},
		Usage: []PhaseCost{
			{Name: "payflow", Round: 1, Events: 1000, Usage: usage(40, map[string]float64{"temporal-history": 10, compWorker: 4, "pg-temporal": 5}, map[string]int64{roleTemporal: 9000}, 1e6)},
			{Name: "bare", Round: 1, Part: "a", Events: 500, Usage: usage(10, map[string]float64{"temporal-history": 2, "pg-temporal": 1}, map[string]int64{roleTemporal: 3000}, 1e5)},
		},
		PeakRSSMiB: map[string]float64{"temporal-history": 150},
	}
	c.summarize(1)
	if !near(c.RatioVsBare, 0.95) || !near(c.DoneRatioVsBare, 0.5) || len(c.Costs) != 2 || len(c.Capacity) != 3 {
		t.Fatalf("summarize: ratio %v done %v costs %d capacity %+v", c.RatioVsBare, c.DoneRatioVsBare, len(c.Costs), c.Capacity)
	}
	dev := &E2EResult{Rounds: []E2ERound{{Round: 1, PayflowAckRate: 190, BareAckRate: 200, Ratio: 0.95, PayflowDoneRate: 50, BareDoneRate: 100, DoneRatio: 0.5}}}
	c.VsDev = compareDev(c, dev)
	r := &results{Cluster: c}
	r.evaluateCluster()
	if len(r.Targets) != 2 || r.Targets[0].Status != "PASS" || r.Targets[1].Status != "PASS" {
		t.Errorf("targets: %+v", r.Targets)
	}
	var b bytes.Buffer
	c.print(&b, config{})
	out := b.String()
	for _, want := range []string{
		"Temporal server v1.29.1: frontend, history, matching, worker; 4 history shards; PostgreSQL 15.20; payflow serve + worker, payflow's database on PostgreSQL (payflow_bench), payloads encrypted",
		"cluster: payflow/bare ack rate 0.95x (95 vs 100/s, median of rounds), completion rate 0.50x (25 vs 50/s)",
		"cluster / dev server (medians of rounds): payflow ack 0.50x (95 vs 190/s), completion 0.50x (25 vs 50/s); bare client ack 0.50x (100 vs 200/s), completion 0.50x (50 vs 100/s)",
		"transactions, temporal database",
		"one core for each: 100 events/s, bound by temporal-history",
		"temporal-history 150 MiB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// Payflow's cost: 10 ms of history per event = 100 events/s a core.
	found := false
	for _, line := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(line), " ") == "temporal-history 10000 100 1.00" {
			found = true
		}
	}
	if !found {
		t.Errorf("capacity table:\n%s", out)
	}

	// Below the target, and an event lost.
	c.Phases[1].AckRate, c.Phases[1].Lost = 80, 1
	c.summarize(1)
	r = &results{Cluster: c}
	r.evaluateCluster()
	if r.Targets[0].Status != "FAIL" || r.Targets[1].Status != "FAIL" {
		t.Errorf("targets: %+v", r.Targets)
	}
	// Skipped: said why.
	r = &results{ClusterSkipped: "no PostgreSQL at 127.0.0.1:5432"}
	r.evaluateCluster()
	if len(r.Targets) != 1 || r.Targets[0].Status != "SKIP" || r.Targets[0].Note != "no PostgreSQL at 127.0.0.1:5432" {
		t.Errorf("skipped: %+v", r.Targets)
	}
}
