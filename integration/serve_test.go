package integration

import (
	"bytes"
	"fmt"
	"github.com/payflow/payflow/internal/syncbuf"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/webhook"
)

// `payflow serve` keeps running while Temporal is unreachable: it answers a signed event 503 with
// Retry-After and /readyz 503, and once a Temporal server listens at
// TEMPORAL_ADDRESS accepts events (200), without a restart.
func TestServeWaitsForTemporal(t *testing.T) {
	tport, port, metricsPort := freePort(), freePort(), freePort()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	ops := fmt.Sprintf("http://127.0.0.1:%d", metricsPort)
	serve := exec.Command(sys.bin, "serve")
	serve.Env = append(os.Environ(), fmt.Sprintf("TEMPORAL_ADDRESS=127.0.0.1:%d", tport), "TEMPORAL_NAMESPACE=default",
		"TEMPORAL_TASK_QUEUE=payflow-serve-waits", "STRIPE_WEBHOOK_SECRET="+webhookSecret,
		fmt.Sprintf("PAYFLOW_ADDR=127.0.0.1:%d", port), fmt.Sprintf("PAYFLOW_METRICS_ADDR=127.0.0.1:%d", metricsPort))
	out := &syncbuf.Buffer{}
	serve.Stdout, serve.Stderr = out, out
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	defer func() {
		_ = serve.Process.Kill()
	}()
	alive := func() {
		t.Helper()
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("payflow serve exited (%v):\n%s", err, tail(out.String(), 2000))
		default:
		}
	}
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	payload := build(t, "payment_intent.succeeded", fixtures.Options{CustomerID: "cus_late_temporal", PaymentIntentID: "pi_late_temporal"})
	post := func() *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+webhook.Path, bytes.NewReader(payload))
		req.Header.Set("Stripe-Signature", fixtures.Sign(payload, []string{webhookSecret}, time.Now()))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		resp.Body.Close()
		return resp
	}

	// Up without Temporal.
	deadline := time.Now().Add(30 * time.Second)
	for code, _ := get(base + "/healthz"); code != 200; code, _ = get(base + "/healthz") {
		alive()
		if time.Now().After(deadline) {
			t.Fatalf("serve not listening after 30 s:\n%s", tail(out.String(), 2000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resp := post(); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("event without Temporal: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for _, url := range []string{base + "/readyz", ops + "/readyz"} {
		if code, body := get(url); code != http.StatusServiceUnavailable {
			t.Errorf("%s without Temporal: %d %s, want 503", url, code, body)
		}
	}
	time.Sleep(2 * time.Second)
	alive()
	if !strings.Contains(out.String(), "Temporal unreachable") {
		t.Errorf("serve's log does not say Temporal is unreachable:\n%s", tail(out.String(), 2000))
	}

	// Temporal arrives on the address serve was given.
	dev := exec.Command(temporalBin(), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", fmt.Sprint(tport),
		"--namespace", "default", "--log-level", "error",
		"--search-attribute", routing.CustomerIDKey.GetName()+"=Keyword",
		"--search-attribute", routing.StatusKey.GetName()+"=Keyword",
		"--search-attribute", routing.DunningStageKey.GetName()+"=Keyword")
	devOut := &syncbuf.Buffer{}
	dev.Stdout, dev.Stderr = devOut, devOut
	dev.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-dev.Process.Pid, syscall.SIGKILL)
		_ = dev.Wait()
	}()
	start := time.Now()
	deadline = start.Add(90 * time.Second)
	for {
		alive()
		resp := post()
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 200 within 90 s of starting Temporal (last %d)\nserve:\n%s\ntemporal:\n%s", resp.StatusCode, tail(out.String(), 2000), tail(devOut.String(), 1000))
		}
		time.Sleep(time.Second)
	}
	t.Logf("accepted %s after Temporal was started", time.Since(start).Round(100*time.Millisecond))
	if code, body := get(base + "/readyz"); code != 200 {
		t.Errorf("/readyz with Temporal: %d %s", code, body)
	}
	if code, body := get(ops + "/metrics"); code != 200 || !strings.Contains(body, `payflow_webhook_deliveries_total{outcome="accepted",type="payment_intent.succeeded"} 1`) ||
		!strings.Contains(body, `payflow_webhook_deliveries_total{outcome="unavailable",type="payment_intent.succeeded"}`) {
		t.Errorf("ops /metrics (%d) lacks the unavailable then accepted deliveries", code)
	}

	_ = serve.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("serve did not stop within 30 s of SIGTERM")
	}
}
