package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/webhook"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// `payflow serve` starts while Temporal is unreachable: it answers a signed event 503 with Retry-After
// (Stripe retries), says not ready on /readyz, and serves /metrics on the
// ops listener only (404 on the public port).
func TestServeStartsWithoutTemporal(t *testing.T) {
	const secret = "whsec_serve_test_0123456789"
	addr, opsAddr, temporal := freeAddr(t), freeAddr(t), freeAddr(t) // nothing listens on temporal
	t.Setenv("STRIPE_WEBHOOK_SECRET", secret)
	t.Setenv("PAYFLOW_PAYLOAD_KEYS", testPayloadKeys)
	t.Setenv("TEMPORAL_ADDRESS", temporal)
	t.Setenv("TEMPORAL_NAMESPACE", "default")
	t.Setenv("PAYFLOW_ADDR", addr)
	t.Setenv("PAYFLOW_METRICS_ADDR", opsAddr)
	t.Setenv("LOG_LEVEL", "error")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, nil, io.Discard) }()

	deadline := time.Now().Add(15 * time.Second)
	for {
		if code, _ := httpGet("http://" + addr + "/healthz"); code == 200 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited with Temporal unreachable: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("serve not listening after 15 s")
		}
		time.Sleep(100 * time.Millisecond)
	}

	body, err := fixtures.Build("payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_no_temporal"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+webhook.Path, bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", fixtures.Sign(body, []string{secret}, time.Now()))
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("signed event without Temporal: %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	t.Logf("503 after %s", time.Since(start).Round(time.Millisecond))

	for _, url := range []string{"http://" + addr + "/readyz", "http://" + opsAddr + "/readyz"} {
		if code, body := httpGet(url); code != http.StatusServiceUnavailable || !strings.Contains(body, "temporal") {
			t.Errorf("%s: %d %s, want 503 naming Temporal", url, code, body)
		}
	}
	if code, _ := httpGet("http://" + addr + "/metrics"); code != http.StatusNotFound {
		t.Errorf("public /metrics answered %d, want 404", code)
	}
	code, metrics := httpGet("http://" + opsAddr + "/metrics")
	if want := `payflow_webhook_deliveries_total{outcome="unavailable",type="payment_intent.succeeded"} 1`; code != 200 || !strings.Contains(metrics, want) {
		t.Errorf("ops /metrics (%d) lacks %s", code, want)
	}

	select {
	case err := <-done:
		t.Fatalf("serve exited: %v", err)
	default:
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve stopped with %v", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("serve did not stop")
	}
	if code, _ := httpGet("http://" + opsAddr + "/healthz"); code != 0 {
		t.Errorf("ops listener still answers after stop: %d", code)
	}
}

// The ops listener must bind, or serve does not start (a typo in
// PAYFLOW_METRICS_ADDR is not silently ignored).
func TestServeRefusesABadMetricsAddress(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	t.Setenv("STRIPE_WEBHOOK_SECRET", "whsec_serve_test_0123456789")
	t.Setenv("PAYFLOW_PAYLOAD_KEYS", testPayloadKeys)
	t.Setenv("TEMPORAL_ADDRESS", freeAddr(t))
	t.Setenv("PAYFLOW_ADDR", freeAddr(t))
	t.Setenv("PAYFLOW_METRICS_ADDR", taken.Addr().String())
	t.Setenv("LOG_LEVEL", "error")
	err = runServe(context.Background(), nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "PAYFLOW_METRICS_ADDR") {
		t.Fatalf("serve with its metrics address taken: %v", err)
	}
}
