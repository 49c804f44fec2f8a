package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"github.com/payflow/payflow/internal/syncbuf"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/fakes/sendgridapi"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/internal/cluster"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/store"
	"github.com/payflow/payflow/webhook"
)

// TestClusterSmoke runs payflow as in production against a real Temporal
// cluster (internal/cluster: Temporal server v1.29.1 on the local
// PostgreSQL, frontend, history, matching and worker as four processes, 4
// history shards, SQL visibility) instead of the dev server: `payflow
// migrate`, then `payflow worker` and `payflow serve` as processes of their
// own on SQLite. A signed payment_intent.succeeded is fulfilled once (one
// receipt accepted by SendGrid, one provisioning call, one access row), and
// delivered again, changes nothing. The cluster's databases are fresh and
// dropped at the end.
//
// It needs PostgreSQL and the Temporal server binaries (`make
// cluster-tools`; `make test` builds them), and runs, in `make test` too,
// when PostgreSQL is known to be there: PAYFLOW_TEST_POSTGRES_URL set (its
// server, host, port and user, is the cluster's; .ci/run sets it), or
// PAYFLOW_TEST_CLUSTER=1 (127.0.0.1:5432, user postgres, unless the URL
// says otherwise; `make test-cluster`). PAYFLOW_TEST_CLUSTER=0 skips it.
// 12–25 s here (2 cores shared with other builds), of which the cluster's
// start 7–16 s and its stop 1–4 s; it logs both.
func TestClusterSmoke(t *testing.T) {
	pgURL := clusterTestPostgres(t)
	opts := cluster.Options{
		Dir: filepath.Join(t.TempDir(), "cluster"),
		// Databases of this run alone, dropped at the end: any leftover
		// of an interrupted run with the same PID first.
		Database:   fmt.Sprintf("%s%d", clusterTestDBPrefix, os.Getpid()),
		Reset:      true,
		DropOnStop: true,
	}
	if pgURL != "" {
		u, err := url.Parse(pgURL)
		if err != nil {
			t.Fatalf("PAYFLOW_TEST_POSTGRES_URL: %v", err)
		}
		opts.PGHost, opts.PGUser = u.Hostname(), u.User.Username()
		opts.PGPassword, _ = u.User.Password()
		if p := u.Port(); p != "" {
			opts.PGPort, _ = strconv.Atoi(p)
		}
	}
	dropStaleClusterDatabases(t, opts)
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	progress := &syncbuf.Buffer{}
	opts.Progress = progress
	c, err := cluster.Start(ctx, opts)
	if err != nil {
		t.Fatalf("cluster: %v\n%s", err, progress.String())
	}
	up := time.Since(begin)
	t.Logf("cluster up in %s (offset %d, frontend %s)\n%s", up.Round(100*time.Millisecond), c.PortOffset, c.Address, progress.String())
	stopped := false
	stopCluster := func() {
		if stopped {
			return
		}
		stopped = true
		s := time.Now()
		if err := c.Stop(); err != nil {
			t.Errorf("cluster stop: %v", err)
		}
		t.Logf("cluster down (processes stopped, databases dropped) in %s", time.Since(s).Round(100*time.Millisecond))
	}
	defer stopCluster()

	tc, err := client.Dial(client.Options{HostPort: c.Address, Namespace: c.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()

	sg := sendgridapi.New(sendgridKey)
	sgURL, stopSG := sg.Start()
	defer stopSG()
	var provMu sync.Mutex
	provisioned := map[string]int{} // Payflow-Event-Id → POSTs
	prov := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		provMu.Lock()
		provisioned[r.Header.Get("Payflow-Event-Id")]++
		provMu.Unlock()
	}))
	defer prov.Close()

	dir := t.TempDir()
	port, workerOps, serveOps := freePort(), freePort(), freePort()
	dbURL := filepath.Join(dir, "payflow.db")
	env := []string{"DATABASE_URL=" + dbURL, "TEMPORAL_ADDRESS=" + c.Address, "TEMPORAL_NAMESPACE=" + c.Namespace,
		"TEMPORAL_TASK_QUEUE=payflow", "STRIPE_WEBHOOK_SECRET=" + webhookSecret, "STRIPE_API_KEY=",
		"SENDGRID_API_KEY=" + sendgridKey, "SENDGRID_API_BASE=" + sgURL, "EMAIL_FROM=billing@merchant.example",
		"PROVISIONING_WEBHOOK_URL=" + prov.URL, "PROVISIONING_WEBHOOK_SECRET=provisioning_cluster_test",
		fmt.Sprintf("PAYFLOW_ADDR=127.0.0.1:%d", port), "LOG_LEVEL=info"}
	// migrate against the cluster: payflow's tables, and the search
	// attributes again (already there: SQL visibility answers without error).
	if out, err := runPayflow(t, env, "migrate"); err != nil || !strings.Contains(out, "search attributes") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	start := func(name string, opsPort int) (*exec.Cmd, *syncbuf.Buffer) {
		cmd := exec.Command(sys.bin, name)
		cmd.Env = append(append(os.Environ(), env...), fmt.Sprintf("PAYFLOW_METRICS_ADDR=127.0.0.1:%d", opsPort))
		out := &syncbuf.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, out
	}
	worker, workerOut := start("worker", workerOps)
	serve, serveOut := start("serve", serveOps)
	procsStopped := false
	defer func() {
		if !procsStopped {
			_ = worker.Process.Kill()
			_ = serve.Process.Kill()
			_, _ = worker.Process.Wait()
			_, _ = serve.Process.Wait()
		}
	}()
	logs := func() string {
		return "\n--- serve ---\n" + tail(serveOut.String(), 1500) + "\n--- worker ---\n" + tail(workerOut.String(), 1500)
	}
	wait := func(within time.Duration, what string, cond func() (bool, string)) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			ok, last := cond()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %s waiting for %s (last: %s)%s", within, what, last, logs())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for _, url := range []string{fmt.Sprintf("http://127.0.0.1:%d/readyz", port), fmt.Sprintf("http://127.0.0.1:%d/readyz", workerOps)} {
		wait(30*time.Second, url, func() (bool, string) {
			resp, err := http.Get(url)
			if err != nil {
				return false, err.Error()
			}
			resp.Body.Close()
			return resp.StatusCode == 200, resp.Status
		})
	}
	ready := time.Now()

	const cus, pi = "cus_cluster", "pi_cluster"
	id := routing.OrderID(pi)
	payload := build(t, "payment_intent.succeeded", fixtures.Options{CustomerID: cus, PaymentIntentID: pi, EventID: "evt_cluster_1"})
	post := func() map[string]any {
		t.Helper()
		code, body := deliverTo(t, fmt.Sprintf("http://127.0.0.1:%d%s", port, webhook.Path), payload)
		if code != 200 {
			t.Fatalf("delivery answered %d: %v%s", code, body, logs())
		}
		return body
	}
	describe := func() (enums.WorkflowExecutionStatus, string, map[string]string) {
		d, err := tc.DescribeWorkflowExecution(context.Background(), id, "")
		if err != nil {
			return enums.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED, "", nil
		}
		attrs := map[string]string{}
		for k, p := range d.WorkflowExecutionInfo.GetSearchAttributes().GetIndexedFields() {
			var s string
			_ = json.Unmarshal(p.GetData(), &s)
			attrs[k] = s
		}
		return d.WorkflowExecutionInfo.Status, d.WorkflowExecutionInfo.Execution.GetRunId(), attrs
	}
	completed := func(what string) string {
		var run string
		wait(60*time.Second, what, func() (bool, string) {
			st, r, _ := describe()
			run = r
			return st == enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, st.String()
		})
		return run
	}

	post()
	firstRun := completed(id + " completed")
	fulfilled := time.Since(ready)
	_, _, attrs := describe()
	if attrs[routing.CustomerIDKey.GetName()] != cus {
		t.Errorf("search attributes of %s: %v, want %s=%s", id, attrs, routing.CustomerIDKey.GetName(), cus)
	}
	// SQL visibility answers a list filtered on payflow's own attribute.
	wait(30*time.Second, "visibility lists the order by StripeCustomerID", func() (bool, string) {
		resp, err := tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: c.Namespace, Query: fmt.Sprintf(`%s = %q`, routing.CustomerIDKey.GetName(), cus)})
		if err != nil {
			return false, err.Error()
		}
		return len(resp.Executions) == 1 && resp.Executions[0].Execution.GetWorkflowId() == id, fmt.Sprint(len(resp.Executions), " executions")
	})

	// The same event again, as Stripe redelivers: whatever run it lands
	// in, nothing happens twice.
	// The receiver answers "duplicate" when the closed run keeps the
	// event; otherwise a new run starts from the stored order.
	body := post()
	t.Logf("redelivery answered %v", body)
	if body["duplicate"] != true {
		wait(60*time.Second, "the redelivery's run completed", func() (bool, string) {
			st, run, _ := describe()
			return st == enums.WORKFLOW_EXECUTION_STATUS_COMPLETED && run != firstRun, st.String()
		})
	}
	time.Sleep(2 * time.Second) // room for a second effect, were there one

	st, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.CustomerSummary(context.Background(), cus)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Orders) != 1 || s.Orders[0].Status != payflow.OrderFulfilled {
		t.Errorf("orders: %+v, want one fulfilled", s.Orders)
	}
	if len(s.Access) != 1 || s.Access[0].Source != id || s.Access[0].Status != payflow.AccessGranted {
		t.Errorf("access: %+v, want one row granted by %s", s.Access, id)
	}
	if len(s.Emails) != 1 || s.Emails[0].DedupeKey != id+"/receipt" || s.Emails[0].Status != payflow.EmailSent {
		t.Errorf("emails: %+v, want one receipt sent", s.Emails)
	}
	receipts := 0
	for _, m := range sg.Messages() {
		if m.CustomArgs["payflow_dedupe_key"] == id+"/receipt" {
			receipts++
		}
	}
	if receipts != 1 || len(sg.Messages()) != 1 {
		t.Errorf("SendGrid accepted %d receipts (%d messages), want exactly 1", receipts, len(sg.Messages()))
	}
	provMu.Lock()
	if len(provisioned) != 1 {
		t.Errorf("provisioning webhook got %d distinct changes (%v), want 1", len(provisioned), provisioned)
	}
	provMu.Unlock()

	procsStopped = true
	stopGracefully(t, map[string]*exec.Cmd{"serve": serve, "worker": worker})
	stopCluster()
	t.Logf("cluster up %s, first order fulfilled %s after serve and worker were ready, whole test %s",
		up.Round(100*time.Millisecond), fulfilled.Round(100*time.Millisecond), time.Since(begin).Round(100*time.Millisecond))
}

// clusterTestDBPrefix starts the names of TestClusterSmoke's databases,
// followed by the test binary's PID.
const clusterTestDBPrefix = "payflow_temporal_it_"

// dropStaleClusterDatabases drops the databases an earlier TestClusterSmoke
// or TestClusterScaleOut left behind when it was killed before its cleanup
// (a test timeout): those whose PID no longer runs. A database of a run in progress elsewhere on
// this machine is left alone.
func dropStaleClusterDatabases(t *testing.T, o cluster.Options) {
	t.Helper()
	host, port, user := o.PGHost, o.PGPort, o.PGUser
	if host == "" {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = 5432
	}
	if user == "" {
		user = "postgres"
	}
	db, err := sql.Open("pgx", cluster.PostgresURL(host, port, user, o.PGPassword, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The harness's own databases (chaos, TestClusterScaleOut): a
	// cluster's pair and payflow's, named after the test binary's PID too.
	prefixes := []string{clusterTestDBPrefix, "payflow_temporal_chaos_", "payflow_chaos_"}
	stale := map[string]string{} // name without "_visibility" → prefix
	for _, prefix := range prefixes {
		rows, err := db.Query(`SELECT datname FROM pg_database WHERE datname LIKE $1`, prefix+"%")
		if err != nil {
			t.Fatalf("PostgreSQL at %s:%d: %v", host, port, err)
		}
		for rows.Next() {
			var name string
			if rows.Scan(&name) != nil {
				continue
			}
			digits := strings.TrimSuffix(strings.TrimPrefix(name, prefix), "_visibility")
			pid, err := strconv.Atoi(digits)
			if err != nil || pid == os.Getpid() {
				continue
			}
			if syscall.Kill(pid, 0) == syscall.ESRCH {
				stale[prefix+digits] = prefix
			}
		}
		rows.Close()
	}
	for name, prefix := range stale {
		if prefix == "payflow_chaos_" { // payflow's own database, no pair
			if _, err := db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
				t.Logf("leftover %s: %v", name, err)
			}
			continue
		}
		o := o
		o.Database, o.VisibilityDatabase = name, name+"_visibility"
		if err := cluster.DropDatabases(context.Background(), o); err != nil {
			t.Logf("leftover %s: %v", name, err)
		} else {
			t.Logf("dropped the databases %s* a killed run left", name)
		}
	}
}
