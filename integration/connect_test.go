package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/webhook"
)

// Stripe Connect on the real dev server (STRIPE_ACCOUNTS=*): the same
// subscription ID on two connected accounts is two workflows,
// acct_A/subscription/sub_same and acct_B/subscription/sub_same, and the
// dunning retry of acct_A's invoice reaches Stripe with Stripe-Account
// acct_A — the fake keeps each account's objects apart, so a call without
// the header (or with the other account's) finds nothing.
func TestConnectedAccountsEndToEnd(t *testing.T) {
	t.Parallel()
	const sub = "sub_same"
	type account struct{ acct, cus, inv, prod string }
	accounts := []account{
		{"acct_1ConnA", "cus_conn_a", "in_conn_a", "prod_conn_a"},
		{"acct_1ConnB", "cus_conn_b", "in_conn_b", "prod_conn_b"},
	}
	for _, a := range accounts {
		sys.stripe.PutCustomerIn(a.acct, a.cus, a.cus+"@example.com")
		sys.stripe.PutSubscription(stripeapi.Subscription{Account: a.acct, ID: sub, CustomerID: a.cus, Status: "past_due"})
		inv := stripeInvoice(a.inv, a.cus, sub)
		inv.Account = a.acct
		sys.stripe.PutInvoice(inv)
	}
	// acct_B's retries keep failing, acct_A's first retry pays.
	d := stripeapi.PayDeclined("insufficient_funds")
	sys.stripe.ScriptPayIn("acct_1ConnB", "in_conn_b", d, d, d)

	for _, a := range accounts {
		o := fixtures.Options{Account: a.acct, CustomerID: a.cus, SubscriptionID: sub, ProductID: a.prod}
		first := o
		first.Created = time.Now().Add(-time.Minute)
		mustDeliver(t, build(t, "customer.subscription.created", first))
		paid := o
		paid.InvoiceID = a.inv + "_first"
		mustDeliver(t, build(t, "invoice.paid", paid))
		waitAccess(t, a.cus, a.prod, payflow.AccessGranted)
	}
	for _, a := range accounts {
		failed := fixtures.Options{Account: a.acct, CustomerID: a.cus, SubscriptionID: sub, InvoiceID: a.inv, ProductID: a.prod}
		mustDeliver(t, build(t, "invoice.payment_failed", failed))
	}

	// Two workflows, one per account; none on the platform's ID.
	idA := routing.WorkflowID("acct_1ConnA", routing.KindSubscription, sub)
	idB := routing.WorkflowID("acct_1ConnB", routing.KindSubscription, sub)
	if idA != "acct_1ConnA/subscription/sub_same" || idB != "acct_1ConnB/subscription/sub_same" {
		t.Fatalf("workflow IDs %s, %s", idA, idB)
	}
	for _, id := range []string{idA, idB} {
		waitFor(t, 30*time.Second, id+" running", func() (bool, string) {
			st, _ := describe(t, id)
			return st == enums.WORKFLOW_EXECUTION_STATUS_RUNNING, st.String()
		})
	}
	if st, _ := describe(t, routing.SubscriptionID(sub)); st != enums.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED {
		t.Fatalf("a platform workflow %s exists (%s): the accounts' events went to it", routing.SubscriptionID(sub), st)
	}

	// acct_A's dunning retry (3 s after the failure) reaches Stripe with
	// acct_A's header and pays acct_A's invoice.
	waitFor(t, 30*time.Second, "acct_A's retry", func() (bool, string) {
		n := sys.stripe.PayAttemptsIn("acct_1ConnA", "in_conn_a")
		return n == 1, fmt.Sprintf("attempts %d", n)
	})
	waitAttr(t, idA, routing.DunningStageKey.GetName(), billing.StageNone)
	var pays []string
	for _, r := range sys.stripe.Requests() {
		if strings.HasPrefix(r.Path, "/v1/invoices/in_conn_") && strings.HasSuffix(r.Path, "/pay") {
			pays = append(pays, r.Path+" "+r.StripeAccount+" "+r.IdempotencyKey)
		}
		if strings.Contains(r.Path, "in_conn_a") && r.StripeAccount != "acct_1ConnA" {
			t.Errorf("%s %s with Stripe-Account %q, want acct_1ConnA", r.Method, r.Path, r.StripeAccount)
		}
		if strings.Contains(r.Path, "in_conn_b") && r.StripeAccount != "acct_1ConnB" {
			t.Errorf("%s %s with Stripe-Account %q, want acct_1ConnB", r.Method, r.Path, r.StripeAccount)
		}
	}
	if len(pays) == 0 || !strings.HasPrefix(pays[0], "/v1/invoices/in_conn_a/pay acct_1ConnA acct_1ConnA/subscription/sub_same/in_conn_a/retry-1") &&
		!strings.Contains(strings.Join(pays, "\n"), "/v1/invoices/in_conn_a/pay acct_1ConnA acct_1ConnA/subscription/sub_same/in_conn_a/retry-1") {
		t.Fatalf("pay requests:\n%s", strings.Join(pays, "\n"))
	}
	if inv, _ := sys.stripe.GetInvoiceIn("acct_1ConnA", "in_conn_a"); inv.Status != "paid" {
		t.Fatalf("acct_A's invoice %s", inv.Status)
	}
	// acct_B's campaign goes on by itself: declined, still retrying.
	waitFor(t, 30*time.Second, "acct_B's first retry", func() (bool, string) {
		n := sys.stripe.PayAttemptsIn("acct_1ConnB", "in_conn_b")
		return n >= 1, fmt.Sprintf("attempts %d", n)
	})
	if _, attrs := describe(t, idB); attrs[routing.DunningStageKey.GetName()] != billing.StageRetrying {
		t.Fatalf("acct_B's stage %v", attrs)
	}
	// Each account's emails and access rows are its own.
	keyA := "acct_1ConnA/subscription/" + sub + "/in_conn_a/"
	waitFor(t, 20*time.Second, "acct_A's emails", func() (bool, string) {
		got := sentWith(keyA)
		return got[keyA+"first-failure"] == 1 && got[keyA+"recovered"] == 1, fmt.Sprint(got)
	})
	if got := sentWith("acct_1ConnB/subscription/" + sub + "/in_conn_b/first-failure"); len(got) != 1 {
		t.Errorf("acct_B's first-failure email: %v", got)
	}
	for _, a := range accounts {
		rows := summary(t, a.cus).Access
		if len(rows) == 0 {
			t.Errorf("%s: no access rows", a.cus)
		}
		for _, row := range rows {
			if row.Account != a.acct || row.Source != routing.SubscriptionID(sub) {
				t.Errorf("%s access row: account %q source %q", a.cus, row.Account, row.Source)
			}
		}
	}
	// The database keys rows by Stripe's IDs, which Stripe keeps unique
	// across accounts: only a fake can give two accounts one subscription
	// ID, and then they share its subscriptions row (the first account's),
	// never a workflow. payflow inspect asks that account's workflow.
	if s := summary(t, "cus_conn_a").Subscriptions; len(s) != 1 || s[0].Account != "acct_1ConnA" {
		t.Fatalf("cus_conn_a subscriptions %+v", s)
	}
	out, err := runPayflow(t, []string{"DATABASE_URL=" + sys.dbURL, "TEMPORAL_ADDRESS=" + sys.temporalAdr}, "inspect", "customer", "cus_conn_a")
	if err != nil || !strings.Contains(out, "  "+sub+"  none") || strings.Contains(out, "not available") {
		t.Errorf("inspect did not reach acct_A's workflow: %v\n%s", err, out)
	}
}

// A live-mode event reaching a test deployment (STRIPE_API_KEY sk_test_…,
// STRIPE_LIVEMODE unset) is quarantined, not processed.
func TestLivemodeMismatchQuarantinedEndToEnd(t *testing.T) {
	t.Parallel()
	body := build(t, "customer.subscription.created", fixtures.Options{Livemode: true, CustomerID: "cus_live", SubscriptionID: "sub_live_mode"})
	res := mustDeliver(t, body)
	if res["quarantined"] != webhook.ReasonLivemodeMismatch {
		t.Fatalf("answer %v", res)
	}
	evt := eventIDOf(t, body)
	waitFor(t, 30*time.Second, "the quarantine row", func() (bool, string) {
		q, err := sys.db.GetQuarantined(context.Background(), evt)
		return err == nil && q.Reason == webhook.ReasonLivemodeMismatch && q.Livemode, fmt.Sprint(err)
	})
	if st, _ := describe(t, routing.SubscriptionID("sub_live_mode")); st != enums.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED {
		t.Fatalf("the live event started its subscription workflow (%s)", st)
	}
}

// eventIDOf is the id of an event's JSON.
func eventIDOf(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.ID == "" {
		t.Fatalf("no event id: %v", err)
	}
	return v.ID
}
