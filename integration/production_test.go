package integration

import (
	"context"
	"fmt"
	"github.com/payflow/payflow/internal/syncbuf"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/store"
)

// The production shape: `payflow migrate`, then `payflow serve` and
// `payflow worker` as separate processes on PostgreSQL, against the same
// Temporal server, on a task queue of their own. SIGTERM stops both cleanly.
func TestServeAndWorkerOnPostgres(t *testing.T) {
	pg := os.Getenv("PAYFLOW_TEST_POSTGRES_URL")
	if pg == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must provide PAYFLOW_TEST_POSTGRES_URL (.ci/run does)")
		}
		t.Skip("PAYFLOW_TEST_POSTGRES_URL not set")
	}
	port, metricsPort, serveMetricsPort := freePort(), freePort(), freePort()
	env := []string{"DATABASE_URL=" + pg, "TEMPORAL_ADDRESS=" + sys.temporalAdr, "TEMPORAL_NAMESPACE=default",
		"TEMPORAL_TASK_QUEUE=payflow-production-test", "STRIPE_WEBHOOK_SECRET=" + webhookSecret,
		fmt.Sprintf("PAYFLOW_ADDR=127.0.0.1:%d", port), fmt.Sprintf("PAYFLOW_METRICS_ADDR=127.0.0.1:%d", metricsPort),
		"SENDGRID_API_KEY=", "STRIPE_API_KEY="}
	if out, err := runPayflow(t, env, "migrate"); err != nil || !strings.Contains(out, "search attributes") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if out, err := runPayflow(t, env, "migrate"); err != nil {
		t.Fatalf("second migrate: %v\n%s", err, out)
	}
	start := func(name string, extra ...string) (*exec.Cmd, *syncbuf.Buffer) {
		cmd := exec.Command(sys.bin, name)
		cmd.Env = append(append(os.Environ(), env...), extra...)
		out := &syncbuf.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, out
	}
	worker, workerOut := start("worker")
	// Each process has its own ops listener (/metrics, /healthz, /readyz).
	serve, serveOut := start("serve", fmt.Sprintf("PAYFLOW_METRICS_ADDR=127.0.0.1:%d", serveMetricsPort))
	stopped := false
	defer func() {
		if !stopped {
			_ = worker.Process.Kill()
			_ = serve.Process.Kill()
		}
	}()
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, url := range []string{fmt.Sprintf("http://127.0.0.1:%d/readyz", port), fmt.Sprintf("http://127.0.0.1:%d/readyz", metricsPort)} {
		waitFor(t, 30*time.Second, url, func() (bool, string) {
			code, body := get(url)
			return code == 200, body + "\nserve: " + tail(serveOut.String(), 500) + "\nworker: " + tail(workerOut.String(), 500)
		})
	}
	payload := build(t, "payment_intent.succeeded", fixtures.Options{CustomerID: "cus_pg", PaymentIntentID: "pi_pg"})
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/webhooks/stripe", port), strings.NewReader(string(payload)))
	req.Header.Set("Stripe-Signature", fixtures.Sign(payload, []string{webhookSecret}, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("post: %v %v", err, resp)
	}
	resp.Body.Close()
	waitCompleted(t, routing.OrderID("pi_pg"))
	db, err := store.Open(context.Background(), pg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := db.CustomerSummary(context.Background(), "cus_pg")
	if err != nil || len(s.Orders) != 1 || s.Orders[0].Status != payflow.OrderFulfilled || len(s.Emails) != 1 || s.Emails[0].Status != payflow.EmailOutbox {
		t.Fatalf("PostgreSQL has %+v (%v)", s, err)
	}
	if code, body := get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)); code != 200 || !strings.Contains(body, "payflow_orders_fulfilled_total 1") {
		t.Errorf("worker /metrics (%d) lacks the fulfilled order", code)
	}
	if code, body := get(fmt.Sprintf("http://127.0.0.1:%d/metrics", serveMetricsPort)); code != 200 || !strings.Contains(body, `payflow_webhook_deliveries_total{outcome="accepted",type="payment_intent.succeeded"} 1`) {
		t.Errorf("receiver /metrics (%d) lacks the delivery", code)
	}
	if code, _ := get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port)); code != http.StatusNotFound {
		t.Errorf("receiver /metrics on its public port answered %d, want 404", code)
	}
	// JSON logs with the IDs.
	if !strings.Contains(serveOut.String(), `"msg":"receiver listening"`) || !strings.Contains(workerOut.String(), `"workflow_id":"order/pi_pg"`) {
		t.Errorf("logs are not JSON with IDs:\nserve: %s\nworker: %s", tail(serveOut.String(), 800), tail(workerOut.String(), 800))
	}
	stopped = true
	stopGracefully(t, map[string]*exec.Cmd{"serve": serve, "worker": worker})
}
