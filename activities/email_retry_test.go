package activities_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/billing"
)

// When the ledger write fails after SendGrid accepted a message,
// the retried activity finishes the ledger instead of sending again.

// flakyLedger is the real store whose FinishEmail fails its next failures
// calls: a database that goes away between the send and the ledger write.
type flakyLedger struct {
	payflow.Store
	mu       sync.Mutex
	failures int
	calls    int
}

var errLedgerDown = errors.New("database is locked (test)")

func (f *flakyLedger) FinishEmail(ctx context.Context, key, status, id string, at time.Time) error {
	f.mu.Lock()
	f.calls++
	fail := f.failures > 0
	if fail {
		f.failures--
	}
	f.mu.Unlock()
	if fail {
		return errLedgerDown
	}
	return f.Store.FinishEmail(ctx, key, status, id, at)
}

func (f *flakyLedger) finishCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// lostAnswer hands the first n messages to the provider and then reports
// an error, as when SendGrid accepts a message and its answer is lost.
type lostAnswer struct {
	activities.Mailer
	mu sync.Mutex
	n  int
}

func (l *lostAnswer) Send(ctx context.Context, m activities.Message) (string, error) {
	id, err := l.Mailer.Send(ctx, m)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && l.n > 0 {
		l.n--
		return "", errors.New("sendgrid: read tcp: connection reset by peer (test)")
	}
	return id, err
}

// marker mirrors the heartbeat detail SendEmail records (JSON on the wire).
type marker struct {
	DedupeKey string `json:"dedupe_key"`
	Accepted  bool   `json:"accepted"`
	MessageID string `json:"message_id,omitempty"`
	Attempt   int32  `json:"attempt"`
}

func emailCount(t *testing.T, m *activities.Metrics, outcome string) float64 {
	t.Helper()
	return counterValue(t, m.Emails.WithLabelValues(billing.PurposeReceipt, outcome))
}

// Retried by the caller (as Temporal would) in one process: the ledger
// fails after the send, for fewer writes than the activity retries itself
// and for more; SendGrid gets the receipt once either way.
func TestSendEmailLedgerFailsAfterSend(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failures  int
		wantCalls int // SendEmail calls until one succeeds
	}{
		{"retried inside the attempt", 2, 1},
		{"retried by the next attempt", 6, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := newStore(t)
			sg, mailer := startSendGrid(t)
			st := &flakyLedger{Store: db, failures: tc.failures}
			a := newActivities(st)
			a.Mailer = mailer
			a.Metrics = activities.NewMetrics(prometheus.NewRegistry())

			req := receiptRequest("order/pi_ledger/receipt")
			calls := 0
			for {
				calls++
				err := a.SendEmail(ctx, req)
				if err == nil {
					break
				}
				if !errors.Is(err, errLedgerDown) || isNonRetryable(err) {
					t.Fatalf("call %d: %v, want a retryable error wrapping the ledger's", calls, err)
				}
				if calls == 5 {
					t.Fatalf("still failing after %d calls: %v", calls, err)
				}
			}
			if calls != tc.wantCalls {
				t.Errorf("took %d calls, want %d", calls, tc.wantCalls)
			}
			msgs := sg.Messages()
			if len(msgs) != 1 || sg.Attempts() != 1 {
				t.Fatalf("SendGrid accepted %d messages in %d requests, want exactly 1", len(msgs), sg.Attempts())
			}
			row := ledger(t, db, req.DedupeKey)
			if row.Status != payflow.EmailSent || row.ProviderMessageID != msgs[0].MessageID {
				t.Errorf("ledger %q / %q, want sent with SendGrid's ID %q", row.Status, row.ProviderMessageID, msgs[0].MessageID)
			}
			if got := st.finishCalls(); got != tc.failures+1 {
				t.Errorf("%d ledger writes, want %d (each failure retried, then one that succeeds)", got, tc.failures+1)
			}
			if sent, dup := emailCount(t, a.Metrics, "sent"), emailCount(t, a.Metrics, "possible_duplicate"); sent != 1 || dup != 0 {
				t.Errorf("emails{sent} = %v, {possible_duplicate} = %v; want 1 and 0", sent, dup)
			}
		})
	}
}

// An attempt that records SendGrid's acceptance in its heartbeat, then
// fails on the ledger; the next attempt runs in a fresh process (nothing
// in memory) with those heartbeat details, as Temporal hands them over: it
// finishes the ledger and sends nothing.
func TestSendEmailNextAttemptFinishesFromHeartbeat(t *testing.T) {
	db := newStore(t)
	sg, mailer := startSendGrid(t)
	st := &flakyLedger{Store: db, failures: 6}
	metrics := activities.NewMetrics(prometheus.NewRegistry())
	req := receiptRequest("order/pi_hb/receipt")
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(quietLog))

	// Attempt 1.
	env := suite.NewTestActivityEnvironment()
	var mu sync.Mutex
	var beats []marker
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var m marker
		if err := details.Get(&m); err != nil {
			t.Errorf("heartbeat details: %v", err)
		}
		mu.Lock()
		beats = append(beats, m)
		mu.Unlock()
	})
	a1 := newActivities(st)
	a1.Mailer, a1.Metrics = mailer, metrics
	env.RegisterActivity(a1)
	if _, err := env.ExecuteActivity(a1.SendEmail, req); err == nil {
		t.Fatal("attempt 1 succeeded; want it to fail on the ledger")
	}
	msgs := sg.Messages()
	if len(msgs) != 1 {
		t.Fatalf("attempt 1: SendGrid has %d messages, want 1", len(msgs))
	}
	mu.Lock()
	got := append([]marker(nil), beats...)
	mu.Unlock()
	want := marker{DedupeKey: req.DedupeKey, Accepted: true, MessageID: msgs[0].MessageID, Attempt: 1}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("attempt 1 heartbeats %+v, want exactly %+v", got, want)
	}
	if row := ledger(t, db, req.DedupeKey); row.Status != payflow.EmailPending {
		t.Fatalf("after attempt 1 the ledger says %q, want pending", row.Status)
	}

	// Attempt 2, elsewhere, with attempt 1's heartbeat.
	env = suite.NewTestActivityEnvironment()
	a2 := newActivities(st)
	a2.Mailer, a2.Metrics = mailer, metrics
	env.RegisterActivity(a2)
	env.SetHeartbeatDetails(got[0])
	if _, err := env.ExecuteActivity(a2.SendEmail, req); err != nil {
		t.Fatalf("attempt 2: %v", err)
	}
	if n := sg.Attempts(); n != 1 {
		t.Errorf("SendGrid saw %d requests, want 1", n)
	}
	row := ledger(t, db, req.DedupeKey)
	if row.Status != payflow.EmailSent || row.ProviderMessageID != msgs[0].MessageID {
		t.Errorf("ledger %q / %q, want sent / %q", row.Status, row.ProviderMessageID, msgs[0].MessageID)
	}
	if sent, dup := emailCount(t, metrics, "sent"), emailCount(t, metrics, "possible_duplicate"); sent != 1 || dup != 0 {
		t.Errorf("emails{sent} = %v, {possible_duplicate} = %v; want the one send counted once", sent, dup)
	}
}

// The reading side alone: a pending row and heartbeat details that say
// SendGrid accepted message "msg-attempt-1" (for the same key). Nothing
// is sent; the ledger records that ID. Details for another key are not
// trusted.
func TestSendEmailHeartbeatDetailsPreventResend(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	sg, mailer := startSendGrid(t)
	req := receiptRequest("order/pi_hd/receipt")
	subject, body, err := billing.Render(req.Purpose, req.Vars)
	if err != nil {
		t.Fatal(err)
	}
	// The row attempt 1 claimed before it sent.
	if _, claimed, err := db.ClaimEmail(ctx, payflow.Email{DedupeKey: req.DedupeKey, To: req.To, Purpose: req.Purpose,
		Subject: subject, Body: body, Status: payflow.EmailPending, CreatedAt: fixedNow}); err != nil || !claimed {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(quietLog))
	env := suite.NewTestActivityEnvironment()
	a := newActivities(db)
	a.Mailer = mailer
	env.RegisterActivity(a)
	env.SetHeartbeatDetails(marker{DedupeKey: req.DedupeKey, Accepted: true, MessageID: "msg-attempt-1", Attempt: 1})
	if _, err := env.ExecuteActivity(a.SendEmail, req); err != nil {
		t.Fatal(err)
	}
	if n := sg.Attempts(); n != 0 {
		t.Errorf("SendGrid saw %d requests, want 0", n)
	}
	if row := ledger(t, db, req.DedupeKey); row.Status != payflow.EmailSent || row.ProviderMessageID != "msg-attempt-1" {
		t.Errorf("ledger %q / %q, want sent / msg-attempt-1", row.Status, row.ProviderMessageID)
	}

	other := receiptRequest("order/pi_other/receipt")
	env = suite.NewTestActivityEnvironment()
	b := newActivities(db)
	b.Mailer = mailer
	env.RegisterActivity(b)
	env.SetHeartbeatDetails(marker{DedupeKey: req.DedupeKey, Accepted: true, MessageID: "msg-attempt-1", Attempt: 1})
	if _, err := env.ExecuteActivity(b.SendEmail, other); err != nil {
		t.Fatal(err)
	}
	if n := len(sg.Messages()); n != 1 {
		t.Errorf("another key's details stopped its send: SendGrid has %d messages, want 1", n)
	}
}

// The window Temporal cannot close: SendGrid accepts and its answer is
// lost, so no attempt knows. The next attempt sends again, counts it as
// possible_duplicate (not sent) and logs it.
func TestSendEmailAnswerLostCountsPossibleDuplicate(t *testing.T) {
	db := newStore(t)
	sg, mailer := startSendGrid(t)
	metrics := activities.NewMetrics(prometheus.NewRegistry())
	req := receiptRequest("order/pi_lost/receipt")
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(quietLog))

	env := suite.NewTestActivityEnvironment()
	heartbeats := 0
	env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) { heartbeats++ })
	a1 := newActivities(db)
	a1.Mailer, a1.Metrics = &lostAnswer{Mailer: mailer, n: 1}, metrics
	env.RegisterActivity(a1)
	if _, err := env.ExecuteActivity(a1.SendEmail, req); err == nil {
		t.Fatal("attempt 1 succeeded; want the lost answer to fail it")
	}
	if heartbeats != 0 {
		t.Errorf("attempt 1 heartbeated %d times; it knows nothing to record", heartbeats)
	}

	env = suite.NewTestActivityEnvironment()
	var logs bytes.Buffer
	a2 := newActivities(db)
	a2.Mailer, a2.Metrics = mailer, metrics
	a2.Log = slog.New(slog.NewTextHandler(&logs, nil))
	env.RegisterActivity(a2)
	if _, err := env.ExecuteActivity(a2.SendEmail, req); err != nil {
		t.Fatalf("attempt 2: %v", err)
	}
	if n := len(sg.Messages()); n != 2 {
		t.Errorf("SendGrid has %d messages, want 2 (the lost answer's and the re-send)", n)
	}
	if sent, dup := emailCount(t, metrics, "sent"), emailCount(t, metrics, "possible_duplicate"); sent != 0 || dup != 1 {
		t.Errorf("emails{sent} = %v, {possible_duplicate} = %v; want 0 and 1", sent, dup)
	}
	if !strings.Contains(logs.String(), "may have it twice") || !strings.Contains(logs.String(), req.DedupeKey) {
		t.Errorf("no possible-duplicate warning in the log:\n%s", logs.String())
	}
	if row := ledger(t, db, req.DedupeKey); row.Status != payflow.EmailSent {
		t.Errorf("ledger %q, want sent", row.Status)
	}
}

// sendEmailWorkflow runs SendEmail with Temporal's retries (real attempt
// numbers, heartbeat details handed from attempt to attempt).
func sendEmailWorkflow(ctx workflow.Context, req billing.SendEmail) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 10},
	})
	return workflow.ExecuteActivity(ctx, "SendEmail", req).Get(ctx, nil)
}

// perAttempt registers SendEmail so that each attempt runs on a fresh
// Activities, as if every retry landed on another worker: only what
// Temporal carries (heartbeat details, the attempt number) links them.
func perAttempt(env *testsuite.TestWorkflowEnvironment, st payflow.Store, mailer activities.Mailer, metrics *activities.Metrics, attempts *[]int32) {
	env.RegisterActivityWithOptions(func(ctx context.Context, req billing.SendEmail) error {
		*attempts = append(*attempts, activity.GetInfo(ctx).Attempt)
		a := newActivities(st)
		a.Mailer, a.Metrics = mailer, metrics
		return a.SendEmail(ctx, req)
	}, activity.RegisterOptions{Name: "SendEmail", DisableAlreadyRegisteredCheck: true})
}

// Through Temporal's retries: SendGrid refuses the first attempt (503),
// the second is accepted and fails on the ledger, the third finishes the
// ledger from the heartbeat. One message, counted once as sent: a retry
// after a refusal is no possible duplicate.
func TestSendEmailRetriedByTemporal(t *testing.T) {
	db := newStore(t)
	sg, mailer := startSendGrid(t)
	sg.FailNext(1, 503)
	st := &flakyLedger{Store: db, failures: 6}
	metrics := activities.NewMetrics(prometheus.NewRegistry())
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(quietLog))
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(sendEmailWorkflow)
	var attempts []int32
	perAttempt(env, st, mailer, metrics, &attempts)

	req := receiptRequest("order/pi_temporal/receipt")
	env.ExecuteWorkflow(sendEmailWorkflow, req)
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("workflow: completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	if len(attempts) != 3 || attempts[2] != 3 {
		t.Errorf("attempts %v, want 1, 2, 3", attempts)
	}
	msgs := sg.Messages()
	if len(msgs) != 1 || sg.Attempts() != 2 {
		t.Fatalf("SendGrid accepted %d messages in %d requests, want 1 in 2 (one refused)", len(msgs), sg.Attempts())
	}
	if row := ledger(t, db, req.DedupeKey); row.Status != payflow.EmailSent || row.ProviderMessageID != msgs[0].MessageID {
		t.Errorf("ledger %q / %q, want sent / %q", row.Status, row.ProviderMessageID, msgs[0].MessageID)
	}
	for outcome, want := range map[string]float64{"sent": 1, "possible_duplicate": 0, "retry": 1} {
		if got := emailCount(t, metrics, outcome); got != want {
			t.Errorf("emails{%s} = %v, want %v", outcome, got, want)
		}
	}
}
