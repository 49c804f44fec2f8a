package integration

import (
	"context"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow/chaos"
	"github.com/payflow/payflow/internal/cluster"
)

// TestClusterScaleOut runs payflow in production's shape on a real Temporal
// cluster (internal/cluster on the local PostgreSQL, two history hosts
// sharing 4 shards, matching, frontend, worker): two `payflow serve` and
// two `payflow worker` processes on one PostgreSQL database. The chaos
// harness (chaos.Run) sends a storm the way Stripe delivers: every event
// twice, the copies as separate deliveries in a shuffled order, each copy
// first to another receiver and retried (on the other receiver) until
// acknowledged; a tenth of the events are invoice.paid renewals of a few
// subscriptions, so one workflow gets signals through both receivers at
// once. Then it checks every event from the outside: its order fulfilled
// or its invoice paid in the database and exactly one receipt accepted by
// SendGrid.
//
//   - storm: no fault. Every event acknowledged and completed, no
//     duplicate, both receivers took deliveries.
//   - kill: the same storm; mid-burst one worker and one history host are
//     killed with SIGKILL at the same moment and restarted after the fault
//     time. 0 lost, 0 duplicates (a receipt sent twice passes only where
//     the worker itself flagged the send as a possible duplicate: the one
//     window payflow documents, README "Exactly one effect").
//
// It runs when TestClusterSmoke does (PostgreSQL known to be there);
// about 60–90 s per scenario here, most of it the cluster's start and the
// burst. `make chaos CHAOS_FLAGS='-scenario cluster-storm,cluster-kill'`
// runs the same scenarios with bigger bursts.
func TestClusterScaleOut(t *testing.T) {
	pgURL := clusterTestPostgres(t)
	admin := pgURL
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	o := cluster.Options{PGHost: u.Hostname(), PGUser: u.User.Username()}
	o.PGPassword, _ = u.User.Password()
	if p := u.Port(); p != "" {
		o.PGPort, _ = strconv.Atoi(p)
	}
	dropStaleClusterDatabases(t, o)

	const n = 160
	for _, name := range []string{"cluster-storm", "cluster-kill"} {
		t.Run(strings.TrimPrefix(name, "cluster-"), func(t *testing.T) {
			var sc chaos.Scenario
			for _, s := range chaos.ScenariosFor(n) {
				if s.Name == name {
					sc = s
				}
			}
			if !sc.Topology.Cluster || sc.Topology.Workers != 2 || sc.Topology.Receivers != 2 || sc.Topology.Copies < 2 || !sc.Topology.Shuffle {
				t.Fatalf("%s: topology %+v, want a shuffled, duplicated storm through 2 receivers and 2 workers on a cluster", name, sc.Topology)
			}
			cfg := chaos.Config{
				Payflow: sys.bin, Work: t.TempDir(), N: n, Rate: 25,
				FaultAt: 4 * time.Second, FaultFor: 8 * time.Second,
				RetryFor: time.Minute, Wait: 2 * time.Minute,
				PostgresURL: admin, Out: testWriter{t},
			}
			ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
			defer cancel()
			r := chaos.Run(ctx, cfg, sc)
			var report strings.Builder
			chaos.Report(&report, []*chaos.Result{r})
			t.Log(report.String())
			if r.Skipped != "" {
				t.Fatalf("skipped: %s", r.Skipped)
			}
			if r.Failed() {
				t.Fatalf("%s failed: error %v, %d lost, %d duplicate, %d unacknowledged", name, r.Err, r.Lost, r.Duplicate, r.Unacked)
			}
			// Completed counts an event whose receipt went twice in the
			// documented window (flagged) too, when its state is right.
			if r.Acked != n || r.Completed != n {
				t.Errorf("acknowledged %d, completed %d (%d of them with a flagged second receipt), want all %d", r.Acked, r.Completed, r.Flagged, n)
			}
			// Every copy of every event acknowledged, both receivers
			// doing their share.
			var acks int64
			for i, a := range r.PerReceiver {
				acks += a
				if a == 0 {
					t.Errorf("receiver %d acknowledged nothing: %v", i+1, r.PerReceiver)
				}
			}
			if len(r.PerReceiver) != 2 || acks != int64(n*sc.Topology.Copies) {
				t.Errorf("acknowledgements per receiver %v, want %d in all over 2 receivers", r.PerReceiver, n*sc.Topology.Copies)
			}
			if r.Flagged > 0 {
				t.Logf("%d receipts sent twice in the documented window, each flagged by the worker", r.Flagged)
			}
		})
	}
}

// testWriter sends the harness's progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// clusterTestPostgres says whether the cluster tests run (skipping the
// test when not) and returns PAYFLOW_TEST_POSTGRES_URL (may be empty:
// 127.0.0.1:5432, user postgres).
func clusterTestPostgres(t *testing.T) string {
	t.Helper()
	pgURL := os.Getenv("PAYFLOW_TEST_POSTGRES_URL")
	switch flag := os.Getenv("PAYFLOW_TEST_CLUSTER"); {
	case flag == "0":
		t.Skip("PAYFLOW_TEST_CLUSTER=0")
	case flag == "1", pgURL != "":
	case os.Getenv("CI") != "":
		t.Fatal("CI must provide PAYFLOW_TEST_POSTGRES_URL (.ci/run does)")
	default:
		t.Skip("needs PostgreSQL: PAYFLOW_TEST_POSTGRES_URL, or PAYFLOW_TEST_CLUSTER=1 for 127.0.0.1:5432 (make test-cluster)")
	}
	return pgURL
}
