package workflows_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/sendgridapi"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/store"
	"github.com/payflow/payflow/workflows"
)

// The workflow tests run each loop in Temporal's time-skipping test
// environment with the real activities, the real SQLite store in a temp
// dir, and the in-repo fakes of Stripe's and SendGrid's APIs. The billing
// core's own table tests cover the rules; these cover the loop: commands
// executed in order, timers, answers fed back, continue-as-new, dedupe,
// the query, refusals recorded.

// t0 is when every test workflow starts (the mock clock's origin).
var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	alertEmail  = "ops@merchant.example"
	stripeKey   = "sk_test_payflow_workflows"
	sendgridKey = "SG.workflows"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// testPolicy retries 1, 2 and 3 hours after the failure, suspends after
// 2.5 hours and takes the final action after the last retry.
func testPolicy(final string) billing.Policy {
	return billing.Policy{Mode: billing.ModePayflow, RetryDelays: []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour},
		Grace: 150 * time.Minute, FinalAction: final, HardDeclines: billing.DefaultHardDeclines()}
}

// world is what outlives a workflow run: the database and the outside
// services. Several runs (a second run of an order, a continued
// subscription) share one world.
type world struct {
	db     *store.DB
	stripe *stripeapi.Server
	mail   *sendgridapi.Server
	acts   *activities.Activities
	// metrics, when set, receives the workflows' metrics.
	metrics client.MetricsHandler
}

func newWorld(t *testing.T) *world {
	t.Helper()
	path := filepath.Join(t.TempDir(), "payflow.db")
	_, err := store.Migrate(context.Background(), path)
	require.NoError(t, err)
	db, err := store.Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	w := &world{db: db, stripe: stripeapi.New(stripeKey), mail: sendgridapi.New(sendgridKey)}
	stripeURL, stopStripe := w.stripe.Start()
	t.Cleanup(stopStripe)
	mailURL, stopMail := w.mail.Start()
	t.Cleanup(stopMail)
	w.acts = &activities.Activities{Store: db, Log: quietLogger, AlertEmail: alertEmail, Policy: testPolicy(billing.FinalCancel),
		Mailer: &activities.SendGrid{APIKey: sendgridKey, Base: mailURL, From: "billing@merchant.example"},
		Stripe: activities.NewStripeAPI(stripeKey, stripeURL)}
	return w
}

// harness is one workflow run in a time-skipping test environment.
type harness struct {
	t   *testing.T
	w   *world
	env *testsuite.TestWorkflowEnvironment
	sa  *saRecorder

	mu       sync.Mutex
	notified []billing.NotifyOwner
}

func (w *world) run(t *testing.T, workflowID string) *harness {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(quietLogger))
	if w.metrics != nil {
		suite.SetMetricsHandler(w.metrics)
	}
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflowID, TaskQueue: "payflow-test"})
	env.RegisterWorkflowWithOptions(workflows.OrderWorkflow, workflow.RegisterOptions{Name: routing.OrderWorkflowName})
	env.RegisterWorkflowWithOptions(workflows.SubscriptionWorkflow, workflow.RegisterOptions{Name: routing.SubscriptionWorkflowName})
	env.RegisterWorkflowWithOptions(workflows.DisputeWorkflow, workflow.RegisterOptions{Name: routing.DisputeWorkflowName})
	env.RegisterWorkflowWithOptions(workflows.CustomerWorkflow, workflow.RegisterOptions{Name: routing.CustomerWorkflowName})
	env.RegisterWorkflowWithOptions(workflows.QuarantineWorkflow, workflow.RegisterOptions{Name: routing.QuarantineWorkflowName})
	env.RegisterActivity(w.acts)
	h := &harness{t: t, w: w, env: env, sa: &saRecorder{}}
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		h.sa.record(args.Get(0).(temporal.SearchAttributes))
	}).Return(nil).Maybe()
	// NotifyOwner signals another workflow through a Temporal client, which
	// the test environment has not: record what the dispute asked.
	env.OnActivity(w.acts.NotifyOwner, mock.Anything, mock.Anything).Return(func(_ context.Context, n billing.NotifyOwner) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.notified = append(h.notified, n)
		return nil
	}).Maybe()
	return h
}

func (h *harness) notifications() []billing.NotifyOwner {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.notified)
}

// signal delivers ev after delay (0: with the start, like SignalWithStart).
func (h *harness) signal(delay time.Duration, ev payflow.Event) {
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(routing.SignalEvent, ev) }, delay)
}

// forward delivers an event a dispute hands to the owner of its payment.
func (h *harness) forward(delay time.Duration, ev billing.Event) {
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(routing.SignalOwnerEvent, ev) }, delay)
}

// at runs fn on the test goroutine when the mock clock reaches t0+delay.
func (h *harness) at(delay time.Duration, fn func()) { h.env.RegisterDelayedCallback(fn, delay) }

// queryAt captures the workflow's state at t0+delay into out.
func (h *harness) queryAt(delay time.Duration, out any) *error {
	var qerr error
	h.at(delay, func() {
		v, err := h.env.QueryWorkflow(routing.QueryState)
		if err == nil {
			err = v.Get(out)
		}
		qerr = err
	})
	return &qerr
}

// elapsed is how far the mock clock has moved.
func (h *harness) elapsed() time.Duration { return h.env.Now().Sub(t0) }

func (h *harness) requireCompleted() {
	h.t.Helper()
	require.True(h.t, h.env.IsWorkflowCompleted(), "workflow should have completed")
	require.NoError(h.t, h.env.GetWorkflowError())
}

// saRecorder follows the workflow's search attribute upserts.
type saRecorder struct {
	mu      sync.Mutex
	current map[string]string
	history []string // "Key=value", in order
}

func (r *saRecorder) record(sa temporal.SearchAttributes) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current == nil {
		r.current = map[string]string{}
	}
	var set []string
	for _, k := range []temporal.SearchAttributeKeyKeyword{routing.CustomerIDKey, routing.StatusKey, routing.DunningStageKey} {
		if v, ok := sa.GetKeyword(k); ok {
			r.current[k.GetName()] = v
			set = append(set, k.GetName()+"="+v)
		}
	}
	r.history = append(r.history, strings.Join(set, ","))
}

func (r *saRecorder) get(key string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current[key]
}

func (r *saRecorder) upserts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.history)
}

// sent is what SendGrid accepted, by dedupe key.
func (w *world) sent() map[string]int {
	out := map[string]int{}
	for _, m := range w.mail.Messages() {
		out[m.CustomArgs["payflow_dedupe_key"]]++
	}
	return out
}

func (w *world) sentKeys() []string {
	var keys []string
	for k := range w.sent() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// access is what each source does to each product of the customer:
// "<product> <source>" → status.
func (w *world) access(t *testing.T, customer string) map[string]string {
	t.Helper()
	rows, err := w.db.AccessFor(context.Background(), customer, "")
	require.NoError(t, err)
	out := map[string]string{}
	for _, r := range rows {
		out[r.ProductID+" "+r.Source] = r.Status
	}
	return out
}

func (w *world) emailStatus(t *testing.T, customer, key string) string {
	t.Helper()
	s, err := w.db.CustomerSummary(context.Background(), customer)
	require.NoError(t, err)
	for _, e := range s.Emails {
		if e.DedupeKey == key {
			return e.Status
		}
	}
	return ""
}

// unix is t0+d on Stripe's clock.
func unix(d time.Duration) int64 { return t0.Add(d).Unix() }

// notes are the timeline's lines.
func notes(steps []routing.Step) []string {
	var out []string
	for _, s := range steps {
		out = append(out, s.What)
	}
	return out
}

func containsLine(lines []string, part string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, part) })
}
