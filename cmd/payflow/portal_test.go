package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow/config"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/internal/portallink"
)

const (
	portalTestSecret = "cmd-test-link-secret-0123456789abcdefgh"
	portalTestReturn = "https://app.example.com/account"
	portalTestKey    = "sk_test_51PayflowServePortal"
)

// portalEnv configures serve with billing portal links on.
func portalEnv(t *testing.T, addr string) {
	t.Setenv("STRIPE_WEBHOOK_SECRET", "whsec_serve_test_0123456789")
	t.Setenv("PAYFLOW_PAYLOAD_KEYS", testPayloadKeys)
	t.Setenv("TEMPORAL_ADDRESS", freeAddr(t)) // nothing listens: links need no Temporal
	t.Setenv("TEMPORAL_NAMESPACE", "default")
	t.Setenv("PAYFLOW_ADDR", addr)
	t.Setenv("PAYFLOW_METRICS_ADDR", freeAddr(t))
	t.Setenv("LOG_LEVEL", "error")
	t.Setenv("PAYFLOW_PUBLIC_URL", "http://"+addr)
	t.Setenv("PAYFLOW_LINK_SECRET", portalTestSecret)
	t.Setenv("STRIPE_BILLING_PORTAL_RETURN_URL", portalTestReturn)
	t.Setenv("STRIPE_BILLING_PORTAL_CONFIGURATION", "")
	t.Setenv("PAYFLOW_PORTAL_LINK_TTL", "")
	t.Setenv("STRIPE_API_KEY", "")
	t.Setenv("STRIPE_API_BASE", "")
}

// With links on, serve needs the Stripe key to open portal sessions.
func TestServeRefusesPortalLinksWithoutStripeKey(t *testing.T) {
	portalEnv(t, freeAddr(t))
	err := runServe(context.Background(), nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "STRIPE_API_KEY") {
		t.Fatalf("serve with portal links and no Stripe key: %v", err)
	}
	t.Setenv("STRIPE_BILLING_PORTAL_RETURN_URL", "")
	t.Setenv("STRIPE_API_KEY", portalTestKey)
	err = runServe(context.Background(), nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "STRIPE_BILLING_PORTAL_RETURN_URL") {
		t.Fatalf("serve with a part of the portal configuration: %v", err)
	}
}

// The worker's links and serve's route fit together: a link the worker's
// activities make (newActivities) opens a session in Stripe (the fake,
// through STRIPE_API_BASE) when serve gets it, and serve answers 303 to it.
func TestServeOpensPortalSessionForWorkerLink(t *testing.T) {
	fake := stripeapi.New(portalTestKey)
	fakeURL, stop := fake.Start()
	defer stop()
	fake.PutCustomer("cus_Serve", "serve@example.com")

	addr := freeAddr(t)
	portalEnv(t, addr)
	t.Setenv("STRIPE_API_KEY", portalTestKey)
	t.Setenv("STRIPE_API_BASE", fakeURL)
	cfg, err := config.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	acts := newActivities(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if acts.PortalLinks == nil {
		t.Fatal("worker makes no portal links with the configuration on")
	}
	link, err := acts.PortalLinks.URL("cus_Serve", time.Now())
	if err != nil || !strings.HasPrefix(link, "http://"+addr+portallink.PathPrefix) {
		t.Fatalf("link %q %v", link, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, nil, io.Discard) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(25 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if code, _ := httpGet("http://" + addr + "/healthz"); code == 200 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("serve not listening after 15 s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	client := &http.Client{Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	sessions := fake.PortalSessions()
	if res.StatusCode != http.StatusSeeOther || len(sessions) != 1 || res.Header.Get("Location") != sessions[0].URL {
		t.Fatalf("status %d Location %q; sessions %+v", res.StatusCode, res.Header.Get("Location"), sessions)
	}
	if s := sessions[0]; s.CustomerID != "cus_Serve" || s.ReturnURL != portalTestReturn {
		t.Errorf("session %+v", s)
	}
}
