package integration

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
)

// Events lost while the receiver was down are found by reconcile
// in Stripe's Events API and processed once; a second run finds nothing new.
func TestReconcileRecoversMissedEvents(t *testing.T) {
	const n = 50
	cus := "cus_reconcile"
	for i := 0; i < n; i++ {
		// "Sent" while the endpoint was down: they exist only in Stripe.
		ev := build(t, "payment_intent.succeeded", fixtures.Options{CustomerID: cus, PaymentIntentID: fmt.Sprintf("pi_recon_%02d", i),
			ProductID: fmt.Sprintf("prod_recon_%02d", i), Created: time.Now().Add(-time.Duration(i) * time.Minute)})
		if err := sys.stripe.AddEvent(ev); err != nil {
			t.Fatal(err)
		}
	}
	// An old event outside the window and an unhandled type.
	if err := sys.stripe.AddEvent(build(t, "payment_intent.succeeded", fixtures.Options{CustomerID: cus, PaymentIntentID: "pi_recon_old", Created: time.Now().Add(-5 * time.Hour)})); err != nil {
		t.Fatal(err)
	}
	env := []string{"STRIPE_API_KEY=" + stripeKey, "STRIPE_API_BASE=" + sys.stripeURL, "DATABASE_URL=" + sys.dbURL,
		"TEMPORAL_ADDRESS=" + sys.temporalAdr, "TEMPORAL_NAMESPACE=default"}
	out, err := runPayflow(t, env, "reconcile", "-since", "2h", "-types", "payment_intent.succeeded")
	if err != nil {
		t.Fatalf("reconcile: %v\n%s", err, out)
	}
	if !strings.Contains(out, "found 50, new 50, duplicate 0, unhandled 0, failed 0") {
		t.Fatalf("first run summary:\n%s", out)
	}
	waitFor(t, 90*time.Second, "50 reconciled orders fulfilled", func() (bool, string) {
		s := summary(t, cus)
		done := 0
		for _, o := range s.Orders {
			if o.Status == payflow.OrderFulfilled {
				done++
			}
		}
		return done == n, fmt.Sprintf("%d of %d", done, len(s.Orders))
	})
	out, err = runPayflow(t, env, "reconcile", "-since", "2h")
	if err != nil {
		t.Fatalf("second reconcile: %v\n%s", err, out)
	}
	if !strings.Contains(out, "found 50, new 0, duplicate 50") {
		t.Fatalf("second run summary:\n%s", out)
	}
	if got := sentWith("order/pi_recon_"); len(got) != n {
		t.Fatalf("%d receipts, want %d", len(got), n)
	}
}

// /metrics has the receiver's, the SDK's and the business metrics.
// On the ops listener (PAYFLOW_METRICS_ADDR) only, never on the
// public webhook port.
func TestMetricsEndpoint(t *testing.T) {
	o := fixtures.Options{CustomerID: "cus_metrics", PaymentIntentID: "pi_metrics"}
	mustDeliver(t, build(t, "payment_intent.succeeded", o))
	waitCompleted(t, routing.OrderID("pi_metrics"))
	public, err := http.Get(strings.TrimSuffix(sys.webhookURL, "/webhooks/stripe") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	public.Body.Close()
	if public.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the public port answered %d, want 404", public.StatusCode)
	}
	resp, err := http.Get(sys.metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	body := string(raw)
	for _, re := range []string{
		`payflow_webhook_deliveries_total\{outcome="accepted",type="payment_intent.succeeded"\} [1-9]`,
		`payflow_webhook_ack_seconds_bucket`,
		`payflow_orders_fulfilled_total [1-9]`,
		`payflow_emails_total\{outcome="sent",purpose="receipt"\} [1-9]`,
		`temporal_workflow_completed`,
		`temporal_activity_execution_latency`,
	} {
		if !regexp.MustCompile(re).MatchString(body) {
			t.Errorf("/metrics lacks %s", re)
		}
	}
}

// The CLI's contract: serve refuses to start without a secret, and bad
// configuration names the variable.
func TestCLIRefusesBadConfiguration(t *testing.T) {
	out, err := runPayflow(t, []string{"STRIPE_WEBHOOK_SECRET=", "PAYFLOW_ADDR=127.0.0.1:0"}, "serve")
	if err == nil || !strings.Contains(out, "STRIPE_WEBHOOK_SECRET is not set") {
		t.Fatalf("serve without a secret: err %v, output %s", err, out)
	}
	out, err = runPayflow(t, []string{"DUNNING_GRACE=soon", "DUNNING_FINAL_ACTION=explode"}, "config")
	if err == nil || !strings.Contains(out, "DUNNING_GRACE") || !strings.Contains(out, "DUNNING_FINAL_ACTION") {
		t.Fatalf("config with bad values: err %v, output %s", err, out)
	}
	out, err = runPayflow(t, []string{"STRIPE_API_KEY=sk_test_supersecretvalue123", "STRIPE_WEBHOOK_SECRET=whsec_abcdefabcdef9876"}, "config")
	if err != nil || strings.Contains(out, "supersecretvalue") || strings.Contains(out, "abcdefabcdef9876") || !strings.Contains(out, "sk_test_…e123") {
		t.Fatalf("config leaks or fails: err %v\n%s", err, out)
	}
}
