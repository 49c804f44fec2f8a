package workflows_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/workflows"
)

// counters captures the workflows' counters: "name{tag=value,…}" → total.
type counters struct {
	mu   *sync.Mutex
	tags string
	got  map[string]int64
}

func newCounters() *counters { return &counters{mu: &sync.Mutex{}, got: map[string]int64{}} }

func (c *counters) WithTags(tags map[string]string) client.MetricsHandler {
	var kv []string
	for k, v := range tags {
		kv = append(kv, k+"="+v)
	}
	if c.tags != "" {
		kv = append(kv, strings.Split(c.tags, ",")...)
	}
	sort.Strings(kv)
	return &counters{mu: c.mu, tags: strings.Join(kv, ","), got: c.got}
}

func (c *counters) Counter(name string) client.MetricsCounter {
	key := name + "{" + c.tags + "}"
	return counterFunc(func(d int64) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.got[key] += d
	})
}

func (c *counters) Gauge(string) client.MetricsGauge { return nothing{} }

// Timer counts the times recorded (not their durations).
func (c *counters) Timer(name string) client.MetricsTimer {
	key := name + "{" + c.tags + "}"
	return timerFunc(func(time.Duration) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.got[key]++
	})
}

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type nothing struct{}

func (nothing) Update(float64)       {}
func (nothing) Record(time.Duration) {}

// refusedFor sums the refusal counter of one effect, whatever other tags
// Temporal adds (workflow type, task queue, …).
func (c *counters) refusedFor(effect string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for k, v := range c.got {
		if strings.HasPrefix(k, "payflow_side_effects_refused{") && strings.Contains(k, "effect="+effect) {
			n += v
		}
	}
	return n
}

// operatorAlerts lists the operator alerts sent for one effect of one
// workflow, each with how many times SendGrid accepted it.
func (w *world) operatorAlerts(workflowID, effect string) map[string]int {
	out := map[string]int{}
	for _, m := range w.mail.Messages() {
		key := m.CustomArgs["payflow_dedupe_key"]
		if strings.HasPrefix(key, "operator/"+workflowID+"/refused/"+effect) {
			out[key]++
		}
	}
	return out
}

// A side effect refused for good never fails the subscription workflow:
// the campaign goes on to its end, the refusal is in the timeline, counted
// (payflow_side_effects_refused_total{effect}) and alerted to ALERT_EMAIL
// once per refused effect. One case per kind of refusal.
func TestSubscriptionSurvivesRefusedSideEffects(t *testing.T) {
	cases := []struct {
		effect string
		refuse func(t *testing.T, w *world)
		line   string // in the timeline
		alerts int    // distinct alerts
	}{
		{"RetryCharge", func(t *testing.T, w *world) {
			w.stripe.Refuse("POST", "/v1/invoices/"+failedInv+"/pay", http.StatusForbidden, "The provided key does not have the required permissions")
		}, "RetryCharge in_failed #1 refused (StripeRequestRefused)", 3},
		{"RecheckInvoice", func(t *testing.T, w *world) {
			w.stripe.Refuse("GET", "/v1/subscriptions/"+subID, http.StatusForbidden, "The provided key does not have the required permissions")
		}, "RecheckInvoice in_failed before suspend refused (StripeRequestRefused)", 2},
		{"CancelSubscription", func(t *testing.T, w *world) {
			w.stripe.Refuse("DELETE", "/v1/subscriptions/"+subID, http.StatusBadRequest, "This subscription cannot be canceled")
		}, "CancelSubscription sub_1 refused (StripeRequestRefused)", 1},
		{"SetAccess", func(t *testing.T, w *world) {
			app := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusBadRequest) }))
			t.Cleanup(app.Close)
			w.acts.Provisioner = &activities.Provisioner{URL: app.URL, Secret: "provisioning-secret"}
		}, "SetAccess granted prod_a refused (ProvisioningRefused)", 3},
		{"SendEmail", func(t *testing.T, w *world) {
			w.mail.FailFor(subEmail, 1, http.StatusBadRequest)
		}, "SendEmail dunning_first_failure refused (" + activities.EmailRefusedType + ")", 1},
	}
	for _, tc := range cases {
		t.Run(tc.effect, func(t *testing.T) {
			d := stripeapi.PayDeclined("insufficient_funds")
			w := newSubscription(t, d, d, d)
			w.metrics = newCounters()
			tc.refuse(t, w)
			h := w.run(t, subWorkflowID)
			h.signal(0, snapshot("evt_created", "customer.subscription.created", "active", -time.Hour, "prod_a"))
			h.signal(0, invoiceEvent("evt_failed", "invoice.payment_failed", failedInv, 0, "subscription_cycle", "insufficient_funds"))
			h.signal(time.Minute, snapshot("evt_past_due", "customer.subscription.updated", "past_due", time.Minute, "prod_a"))
			h.signal(4*time.Hour, snapshot("evt_deleted", "customer.subscription.deleted", "canceled", 4*time.Hour, "prod_a"))
			h.env.ExecuteWorkflow(workflows.SubscriptionWorkflow, routing.SubscriptionInput{State: billing.NewSubscription(subID), Linger: time.Hour})

			v := subResult(t, h) // completed, no error
			require.Equal(t, 5*time.Hour, h.elapsed(), "the run went on to its end")
			require.Equal(t, billing.StatusCanceled, v.Status)
			require.Equal(t, 1, v.Subscription.Unrecovered, "the campaign still ended with its final action")
			lines := notes(v.Steps)
			require.True(t, containsLine(lines, tc.line), lines)
			require.True(t, containsLine(lines, "operator alerted"), lines)
			alerts := w.operatorAlerts(subWorkflowID, tc.effect)
			require.Len(t, alerts, tc.alerts, "one alert per refused effect: %v", alerts)
			for key, n := range alerts {
				require.Equal(t, 1, n, "alert %s sent once", key)
			}
			for _, m := range w.mail.Messages() {
				if strings.HasPrefix(m.CustomArgs["payflow_dedupe_key"], "operator/") {
					require.Equal(t, []string{alertEmail}, m.To, "alerts go to ALERT_EMAIL")
					require.Contains(t, m.Subject, tc.effect+" refused for good in "+subWorkflowID)
				}
			}
			require.GreaterOrEqual(t, w.metrics.(*counters).refusedFor(tc.effect), int64(tc.alerts))
		})
	}
}

// An order whose provisioning call the merchant's app refuses is still
// fulfilled (recorded, receipted), and the operator is told.
func TestOrderSurvivesRefusedProvisioning(t *testing.T) {
	w := newWorld(t)
	cs := newCounters()
	w.metrics = cs
	app := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusBadRequest) }))
	t.Cleanup(app.Close)
	w.acts.Provisioner = &activities.Provisioner{URL: app.URL, Secret: "provisioning-secret"}
	h := w.run(t, orderID)
	h.signal(0, paymentEvent("evt_paid", "payment_intent.succeeded"))
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, routing.OrderInput{OrderID: orderPI})

	v := orderResult(t, h)
	require.Equal(t, billing.OrderFulfilled, v.Status)
	require.True(t, containsLine(notes(v.Steps), "SetAccess granted "+orderProduct+" refused (ProvisioningRefused)"), notes(v.Steps))
	require.Equal(t, map[string]string{orderProduct + " " + orderID: payflow.AccessGranted}, w.access(t, orderCustomer), "the access row is written before the call")
	require.Equal(t, 1, w.sent()[orderID+"/receipt"])
	require.Len(t, w.operatorAlerts(orderID, "SetAccess"), 1)
	require.Equal(t, int64(1), cs.refusedFor("SetAccess"))
}

// counted sums a counter over the series whose tags include every one of
// tags ("k=v"), whatever other tags Temporal adds.
func (c *counters) counted(name string, tags ...string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for k, v := range c.got {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		all := true
		for _, t := range tags {
			all = all && slices.Contains(strings.Split(strings.TrimSuffix(strings.TrimPrefix(k, name+"{"), "}"), ","), t)
		}
		if all {
			n += v
		}
	}
	return n
}
