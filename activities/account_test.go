package activities_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	tlog "go.temporal.io/sdk/log"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
)

// inWorkflow runs steps as the activities of one workflow whose ID is
// workflowID, on Temporal's test environment: activity.GetInfo then names
// that workflow, as it does on a worker.
func inWorkflow(t *testing.T, a *activities.Activities, workflowID string, steps ...step) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(quietLog))
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterActivity(a)
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second,
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
		for _, s := range steps {
			if err := workflow.ExecuteActivity(ctx, s.activity, s.arg).Get(ctx, s.out); err != nil {
				return err
			}
		}
		return nil
	}, workflow.RegisterOptions{Name: "steps"})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflowID, TaskQueue: "payflow-test"})
	env.ExecuteWorkflow("steps")
	if !env.IsWorkflowCompleted() {
		t.Fatalf("%s: not completed", workflowID)
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("%s: %v", workflowID, err)
	}
}

type step struct {
	activity string
	arg      any
	out      any
}

// requestsTo lists "<method> <path> <Stripe-Account>" of the fake's requests.
func requestsTo(srv *stripeapi.Server) []string {
	var out []string
	for _, r := range srv.Requests() {
		out = append(out, r.Method+" "+r.Path+" "+r.StripeAccount)
	}
	return out
}

// A connected account's workflow (acct_…/subscription/<sub>) calls Stripe
// on that account's behalf: every call carries Stripe-Account and acts on
// the account's objects (the fake scopes them, as Stripe does); the
// platform's workflow (subscription/<sub>) sends no header. The same
// subscription and invoice IDs exist in both, with different states.
func TestStripeCallsCarryTheWorkflowsAccount(t *testing.T) {
	for _, tc := range []struct {
		workflowID, account string
	}{
		{"acct_1A/subscription/sub_same", "acct_1A"},
		{"subscription/sub_same", ""},
	} {
		t.Run(tc.workflowID, func(t *testing.T) {
			srv, api := startStripe(t)
			for _, acct := range []string{"acct_1A", "acct_1B", ""} {
				srv.PutCustomerIn(acct, "cus_same", acct+"@example.com")
				srv.PutSubscription(stripeapi.Subscription{Account: acct, ID: "sub_same", CustomerID: "cus_same", Status: "past_due"})
				srv.PutInvoice(stripeapi.Invoice{Account: acct, ID: "in_same", CustomerID: "cus_same", SubscriptionID: "sub_same"})
			}
			// Only this workflow's account's invoice pays.
			for _, acct := range []string{"acct_1A", "acct_1B", ""} {
				if acct != tc.account {
					srv.ScriptPayIn(acct, "in_same", stripeapi.PayDeclined("insufficient_funds"))
				}
			}
			a := newActivities(newStore(t))
			a.Stripe = api
			var charge billing.ChargeResult
			var recheck billing.RecheckResult
			var decline billing.DeclineResult
			inWorkflow(t, a, tc.workflowID,
				step{"RetryCharge", billing.RetryCharge{SubscriptionID: "sub_same", InvoiceID: "in_same", Attempt: 1,
					IdempotencyKey: "subscription/sub_same/in_same/retry-1"}, &charge},
				step{"RecheckInvoice", billing.RecheckInvoice{SubscriptionID: "sub_same", InvoiceID: "in_same", Step: "final"}, &recheck},
				step{"FetchDecline", billing.FetchDecline{InvoiceID: "in_same"}, &decline},
				step{"CancelSubscription", billing.CancelSubscription{SubscriptionID: "sub_same", InvoiceID: "in_same",
					IdempotencyKey: "subscription/sub_same/in_same/cancel"}, nil},
			)
			if !charge.Paid || recheck.InvoiceStatus != billing.InvoicePaid {
				t.Errorf("charge %+v, recheck %+v: the workflow's account's invoice was not the one charged", charge, recheck)
			}
			reqs := requestsTo(srv)
			if len(reqs) < 5 {
				t.Fatalf("requests %v", reqs)
			}
			for _, r := range srv.Requests() {
				if r.StripeAccount != tc.account {
					t.Errorf("%s %s: Stripe-Account %q, want %q", r.Method, r.Path, r.StripeAccount, tc.account)
				}
				if r.Method == http.MethodPost || r.Method == http.MethodDelete {
					// Idempotency keys stay unique per account.
					want := "subscription/sub_same/in_same/"
					if tc.account != "" {
						want = tc.account + "/" + want
					}
					if !strings.HasPrefix(r.IdempotencyKey, want) {
						t.Errorf("%s %s: idempotency key %q, want %s…", r.Method, r.Path, r.IdempotencyKey, want)
					}
				}
			}
			// Only the workflow's account was charged and canceled.
			for _, acct := range []string{"acct_1A", "acct_1B", ""} {
				inv, _ := srv.GetInvoiceIn(acct, "in_same")
				sub, _ := srv.GetSubscriptionIn(acct, "sub_same")
				mine := acct == tc.account
				if attempts := srv.PayAttemptsIn(acct, "in_same"); (attempts == 1) != mine || (inv.Status == "paid") != mine || (sub.Status == "canceled") != mine {
					t.Errorf("account %q: %d attempts, invoice %s, subscription %s (the workflow's: %v)", acct, attempts, inv.Status, sub.Status, mine)
				}
			}
		})
	}
}

// The fake is faithful to Connect: an object of one account is not found
// with another account's header, nor on the platform.
func TestStripeFakeScopesObjectsPerAccount(t *testing.T) {
	srv, api := startStripe(t)
	srv.PutInvoice(stripeapi.Invoice{Account: "acct_1A", ID: "in_only_a", SubscriptionID: "sub_a"})
	ctxA := activities.WithStripeAccount(context.Background(), "acct_1A")
	ctxB := activities.WithStripeAccount(context.Background(), "acct_1B")
	if st, err := api.InvoiceStatus(ctxA, "in_only_a"); err != nil || st != "open" {
		t.Fatalf("acct_1A reads its invoice: %q, %v", st, err)
	}
	for name, ctx := range map[string]context.Context{"acct_1B": ctxB, "platform": context.Background()} {
		if _, err := api.InvoiceStatus(ctx, "in_only_a"); err == nil || !strings.Contains(err.Error(), "No such invoice") {
			t.Errorf("%s reads acct_1A's invoice: %v", name, err)
		}
	}
	got := requestsTo(srv)
	want := []string{"GET /v1/invoices/in_only_a acct_1A", "GET /v1/invoices/in_only_a acct_1B", "GET /v1/invoices/in_only_a "}
	if strings.Join(got, "|") != strings.Join(want, "|") && strings.Join(got, "|") != strings.Join([]string{want[0], want[2], want[1]}, "|") {
		t.Errorf("requests %q, want %q", got, want)
	}
	// Idempotency keys are the account's: the same key on another account
	// is another request, not a replay.
	srv.PutInvoice(stripeapi.Invoice{Account: "acct_1B", ID: "in_only_a", SubscriptionID: "sub_a"})
	if _, err := api.PayInvoice(ctxA, "in_only_a", "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := api.PayInvoice(ctxB, "in_only_a", "k1"); err != nil {
		t.Fatal(err)
	}
	if a, b := srv.PayAttemptsIn("acct_1A", "in_only_a"), srv.PayAttemptsIn("acct_1B", "in_only_a"); a != 1 || b != 1 {
		t.Errorf("attempts %d and %d, want one in each account", a, b)
	}
}

// AccountOf reads the account from the activity's workflow ID, and a
// context may say it outside an activity.
func TestAccountOf(t *testing.T) {
	if got := activities.AccountOf(context.Background()); got != "" {
		t.Errorf("outside an activity: %q", got)
	}
	if got := activities.AccountOf(activities.WithStripeAccount(context.Background(), "acct_1X")); got != "acct_1X" {
		t.Errorf("with an account: %q", got)
	}
}

// signalRecorder is the part of a Temporal client NotifyOwner and
// NotifyRunning use.
type signalRecorder struct {
	client.Client
	mu  sync.Mutex
	ids []string
}

func (s *signalRecorder) SignalWithStartWorkflow(_ context.Context, id, _ string, _ any, _ client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, "start "+id)
	return nil, nil
}

func (s *signalRecorder) SignalWorkflow(_ context.Context, id, _, _ string, _ any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, "signal "+id)
	return nil
}

// Owners the core names in platform form are the workflows of the
// notifying workflow's account; email dedupe keys, access rows and the
// provisioning webhook are the account's too.
func TestConnectedAccountWorkflowStaysInItsAccount(t *testing.T) {
	db := newStore(t)
	a := newActivities(db)
	temporalClient := &signalRecorder{}
	a.Temporal, a.TaskQueue = temporalClient, "payflow-test"
	var provisioned []map[string]any
	var pmu sync.Mutex
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		pmu.Lock()
		provisioned = append(provisioned, body)
		pmu.Unlock()
	}))
	t.Cleanup(hook.Close)
	a.Provisioner = &activities.Provisioner{URL: hook.URL, Secret: "provisioning-secret"}

	ev := billing.Event{ID: "evt_dp", Type: "charge.dispute.created", SubscriptionID: "sub_same"}
	grant := billing.SetAccess{CustomerID: "cus_a", ProductID: "prod_1", Source: "subscription/sub_same", Status: payflow.AccessGranted, Reason: "active"}
	email := billing.SendEmail{DedupeKey: "subscription/sub_same/in_1/first-failure", Purpose: billing.PurposeDunningFirst, To: "a@example.com",
		Vars: map[string]string{"invoice_id": "in_1", "amount": "$20.00"}}
	inWorkflow(t, a, "acct_1A/dispute/dp_1",
		step{"NotifyOwner", billing.NotifyOwner{WorkflowID: "subscription/sub_same", Event: ev}, nil},
		step{"NotifyRunning", billing.NotifyOwner{WorkflowID: "subscription/sub_same", Event: ev}, nil},
		step{"SetAccess", grant, nil},
		step{"SendEmail", email, nil},
	)
	inWorkflow(t, a, "dispute/dp_2",
		step{"NotifyOwner", billing.NotifyOwner{WorkflowID: "subscription/sub_same", Event: ev}, nil},
		step{"SetAccess", billing.SetAccess{CustomerID: "cus_p", ProductID: "prod_1", Source: "subscription/sub_same", Status: payflow.AccessGranted}, nil},
		step{"SendEmail", email, nil},
	)
	want := "start acct_1A/subscription/sub_same,signal acct_1A/subscription/sub_same,start subscription/sub_same"
	if got := strings.Join(temporalClient.ids, ","); got != want {
		t.Errorf("notified %s, want %s", got, want)
	}
	rows, err := db.AccessFor(context.Background(), "cus_a", "")
	if err != nil || len(rows) != 1 || rows[0].Account != "acct_1A" || rows[0].Source != "subscription/sub_same" {
		t.Errorf("access rows %+v, %v: want the account, the source in platform form", rows, err)
	}
	if rows, _ := db.AccessFor(context.Background(), "cus_p", ""); len(rows) != 1 || rows[0].Account != "" {
		t.Errorf("platform access rows %+v", rows)
	}
	for _, key := range []string{"acct_1A/subscription/sub_same/in_1/first-failure", "subscription/sub_same/in_1/first-failure"} {
		if row := ledger(t, db, key); row.Status != payflow.EmailOutbox {
			t.Errorf("ledger %s: %q, want an outbox row of its own", key, row.Status)
		}
	}
	pmu.Lock()
	defer pmu.Unlock()
	if len(provisioned) != 2 || provisioned[0]["account_id"] != "acct_1A" || provisioned[1]["account_id"] != nil {
		t.Errorf("provisioning bodies %v: want account_id acct_1A, then none", provisioned)
	}
}

// A billing portal link names the customer only and opens a session on
// the platform: a connected account's dunning email goes out without one
// (its hosted invoice link stays), the platform's with one.
func TestNoPortalLinkForAConnectedAccount(t *testing.T) {
	db := newStore(t)
	sg, mailer := startSendGrid(t)
	a := newActivities(db)
	a.Mailer, a.PortalLinks = mailer, portalLinks(t)
	inWorkflow(t, a, "acct_1A/subscription/sub_1", step{"SendEmail", dunningEmail("subscription/sub_1/in_1/first", billing.PurposeDunningFirst), nil})
	inWorkflow(t, a, "subscription/sub_1", step{"SendEmail", dunningEmail("subscription/sub_1/in_1/first", billing.PurposeDunningFirst), nil})
	msgs := sg.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	for _, m := range msgs {
		connected := strings.HasPrefix(m.CustomArgs["payflow_dedupe_key"], "acct_1A/")
		if linked := portalLinkRE.MatchString(m.Text); linked == connected {
			t.Errorf("%s: portal link %v", m.CustomArgs["payflow_dedupe_key"], linked)
		}
	}
}
