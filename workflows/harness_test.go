package workflows_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/workflows"
)

// t0 is when every test workflow starts (the mock clock's origin).
var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

const alertEmail = "ops@example.com"

// testPolicy is the dunning policy of the subscription tests.
func testPolicy(final string) activities.DunningPolicy {
	return activities.DunningPolicy{Mode: activities.ModePayflow,
		RetryDelays: []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour},
		Grace:       150 * time.Minute, FinalAction: final}
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// harness is one time-skipping test environment running the real
// activities against a fakeStore (no Mailer: emails go to the outbox).
type harness struct {
	t     *testing.T
	env   *testsuite.TestWorkflowEnvironment
	store *fakeStore
	acts  *activities.Activities
	sa    *saRecorder
}

func newHarness(t *testing.T, workflowID string) *harness {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(quietLogger))
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflowID, TaskQueue: "payflow-test"})
	st := newFakeStore()
	acts := &activities.Activities{Store: st, Policy: testPolicy(activities.FinalCancel), AlertEmail: alertEmail, Log: quietLogger}
	env.RegisterWorkflow(workflows.OrderWorkflow)
	env.RegisterWorkflow(workflows.SubscriptionWorkflow)
	env.RegisterWorkflow(workflows.DisputeWorkflow)
	env.RegisterActivity(acts)
	h := &harness{t: t, env: env, store: st, acts: acts, sa: &saRecorder{status: workflows.StatusReceived}}
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		h.sa.record(args.Get(0).(temporal.SearchAttributes))
	}).Return(nil).Maybe()
	t.Cleanup(func() { env.AssertExpectations(t) })
	return h
}

// signal delivers ev after delay (0: with the start, like SignalWithStart).
func (h *harness) signal(delay time.Duration, ev payflow.Event) {
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(workflows.SignalEvent, ev) }, delay)
}

// at runs fn on the test goroutine when the mock clock reaches t0+delay.
func (h *harness) at(delay time.Duration, fn func()) {
	h.env.RegisterDelayedCallback(fn, delay)
}

// queryAt captures the workflow's state at t0+delay into out.
func (h *harness) queryAt(delay time.Duration, out any) *error {
	var qerr error
	h.at(delay, func() {
		v, err := h.env.QueryWorkflow(workflows.QueryState)
		if err == nil {
			err = v.Get(out)
		}
		qerr = err
	})
	return &qerr
}

// elapsed is how far the mock clock has moved.
func (h *harness) elapsed() time.Duration { return h.env.Now().Sub(t0) }

// saRecorder follows the workflow's search attribute upserts, starting from
// what the receiver sets on SignalWithStart (PayflowStatus=received).
type saRecorder struct {
	mu       sync.Mutex
	status   string
	statuses []string
	customer string
	upserts  int // customer upserts
}

func (r *saRecorder) record(sa temporal.SearchAttributes) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := sa.GetKeyword(workflows.StatusKey); ok {
		r.status = v
		r.statuses = append(r.statuses, v)
	}
	if v, ok := sa.GetKeyword(workflows.CustomerIDKey); ok {
		r.customer = v
		r.upserts++
	}
}

func (r *saRecorder) current() (status, customer string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status, r.customer
}

// stripeScript scripts the Stripe-facing activities (PayInvoice,
// FetchBilling, CancelSubscription) on top of the real ones.
type stripeScript struct {
	mu      sync.Mutex
	h       *harness
	pay     []activities.PayResult // consumed one per PayInvoice call; then declines
	billing activities.Billing     // what FetchBilling answers

	payCalls     []payCall
	billingCalls []time.Duration
	cancelCalls  []activities.CancelRequest
}

type payCall struct {
	Key string
	At  time.Duration // since t0
}

func (h *harness) scriptStripe(pay ...activities.PayResult) *stripeScript {
	s := &stripeScript{h: h, pay: pay, billing: activities.Billing{SubscriptionStatus: "past_due", InvoiceStatus: "open"}}
	h.env.OnActivity(h.acts.PayInvoice, mock.Anything, mock.Anything).Return(
		func(_ context.Context, r activities.PayRequest) (activities.PayResult, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.payCalls = append(s.payCalls, payCall{Key: r.IdempotencyKey, At: h.elapsed()})
			if len(s.pay) == 0 {
				return declined("insufficient_funds"), nil
			}
			res := s.pay[0]
			s.pay = s.pay[1:]
			return res, nil
		}).Maybe()
	h.env.OnActivity(h.acts.FetchBilling, mock.Anything, mock.Anything).Return(
		func(_ context.Context, r activities.BillingRequest) (activities.Billing, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.billingCalls = append(s.billingCalls, h.elapsed())
			return s.billing, nil
		}).Maybe()
	h.env.OnActivity(h.acts.CancelSubscription, mock.Anything, mock.Anything).Return(
		func(_ context.Context, r activities.CancelRequest) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.cancelCalls = append(s.cancelCalls, r)
			return nil
		}).Maybe()
	return s
}

func (s *stripeScript) setBilling(b activities.Billing) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.billing = b
}

func (s *stripeScript) pays() []payCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]payCall(nil), s.payCalls...)
}

func (s *stripeScript) cancels() []activities.CancelRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]activities.CancelRequest(nil), s.cancelCalls...)
}

func (s *stripeScript) billings() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.billingCalls...)
}

func declined(code string) activities.PayResult {
	return activities.PayResult{Status: "open", DeclineCode: code, Message: "Your card was declined."}
}

var paid = activities.PayResult{Paid: true, Status: "paid"}

// unix is t0+d on Stripe's clock.
func unix(d time.Duration) int64 { return t0.Add(d).Unix() }

func requireCompleted(t *testing.T, h *harness) {
	t.Helper()
	require.True(t, h.env.IsWorkflowCompleted(), "workflow should have completed")
	require.NoError(t, h.env.GetWorkflowError())
}
