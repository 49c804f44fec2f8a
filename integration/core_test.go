package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/workflows"
)

// The four core events end to end, one effect each.
func TestCoreEventsEndToEnd(t *testing.T) {
	cus, pi := "cus_core1", "pi_core1"
	paid := build(t, "payment_intent.succeeded", fixtures.Options{CustomerID: cus, PaymentIntentID: pi, Amount: 4900, ProductID: "prod_core"})
	for i := 0; i < 3; i++ { // the same delivery three times
		mustDeliver(t, paid)
	}
	waitCompleted(t, routing.OrderID(pi))
	// Readable activity names in the history: every database step a local
	// activity (a marker named after it); few workflow tasks, each one a
	// server round trip; the order's search attributes set once.
	h := historyOf(t, routing.OrderID(pi))
	for _, want := range []string{"LoadOrder", "RecordEvent", "RecordOrder", "SetAccess"} {
		if !h.local[want] {
			t.Errorf("history lacks local activity %s: %v", want, h.local)
		}
	}
	// The email is the one activity task: it heartbeats SendGrid's
	// acceptance, so a retried attempt never sends twice.
	if len(h.tasks) != 1 || !h.tasks["SendEmail"] || h.local["SendEmail"] {
		t.Errorf("activity tasks %v, local %v: want SendEmail as the only activity task", h.tasks, h.local)
	}
	// The UI's line for each step says what it did.
	for _, want := range []string{"LoadOrder " + pi, "RecordOrder fulfilled", "SetAccess granted prod_core", "SendEmail receipt"} {
		if !slices.Contains(h.summaries, want) {
			t.Errorf("step summaries %q lack %q", h.summaries, want)
		}
	}
	if h.workflowTasks > 4 || h.upserts > 1 {
		t.Errorf("an order took %d workflow tasks and %d search attribute upserts, want at most 4 and 1", h.workflowTasks, h.upserts)
	}
	// The Checkout Session of the same payment: a second run (the first
	// closed), which starts from the stored order and fulfils nothing again.
	mustDeliver(t, build(t, "checkout.session.completed", fixtures.Options{CustomerID: cus, PaymentIntentID: pi, Mode: "payment", PaymentStatus: "paid", Amount: 4900, ProductID: "prod_core"}))
	waitFor(t, 30*time.Second, "the checkout session applied", func() (bool, string) {
		s := summary(t, cus)
		return len(s.Orders) == 1 && s.Orders[0].CheckoutID != "", fmt.Sprintf("%+v", s.Orders)
	})
	waitCompleted(t, routing.OrderID(pi))

	s := summary(t, cus)
	if len(s.Orders) != 1 || s.Orders[0].Status != payflow.OrderFulfilled || s.Orders[0].Amount != 4900 {
		t.Fatalf("orders: %+v", s.Orders)
	}
	if got := sourceAccess(t, cus); len(got) != 1 || got["prod_core order/"+pi] != payflow.AccessGranted {
		t.Fatalf("access: %v", got)
	}
	receipts := emailKeys(s, "order/"+pi)
	if len(receipts) != 1 || receipts["order/"+pi+"/receipt"].Status != payflow.EmailSent {
		t.Fatalf("want exactly one receipt, sent: %+v", receipts)
	}
	if got := sentWith("order/" + pi); len(got) != 1 || got["order/"+pi+"/receipt"] != 1 {
		t.Fatalf("SendGrid received %v, want one receipt", got)
	}
	// The second run starts from the stored order. It re-issues the grant
	// and the receipt (it cannot tell whether the run that stored
	// "fulfilled" lived to do them); the access store and the email ledger
	// make each happen once, as the counts above show.
	if h := historyOf(t, routing.OrderID(pi)); !h.local["LoadOrder"] {
		t.Errorf("the second run did not start from the stored order: tasks %v, local %v", h.tasks, h.local)
	}
	_, attrs := describe(t, routing.OrderID(pi))
	if attrs["StripeCustomerID"] != cus || attrs["PayflowStatus"] != billing.OrderFulfilled {
		t.Errorf("search attributes %v", attrs)
	}
	// What an operator types in the Web UI's search: the customer's
	// workflows, through the visibility store.
	waitFor(t, 30*time.Second, "the order in a visibility search by customer", func() (bool, string) {
		resp, err := sys.temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: "default", Query: fmt.Sprintf("StripeCustomerID = '%s' AND PayflowStatus = '%s'", cus, billing.OrderFulfilled)})
		if err != nil {
			return false, err.Error()
		}
		ids := map[string]bool{}
		for _, e := range resp.Executions {
			ids[e.Execution.WorkflowId] = true
		}
		return len(ids) == 1 && ids[routing.OrderID(pi)], fmt.Sprint(ids)
	})
	var st workflows.OrderView
	query(t, routing.OrderID(pi), &st)
	if st.Status != billing.OrderFulfilled || st.Order.CheckoutID == "" || len(st.Order.Seen) != 1 {
		t.Errorf("state query: status %s, checkout %q, seen %v", st.Status, st.Order.CheckoutID, st.Order.Seen)
	}

	// Long after: the same delivery again starts a run that finds it in
	// the event ledger: no second receipt.
	mustDeliver(t, paid)
	waitCompleted(t, routing.OrderID(pi))
	if got := sentWith("order/" + pi); got["order/"+pi+"/receipt"] != 1 {
		t.Fatalf("receipt sent %d times", got["order/"+pi+"/receipt"])
	}

	// Subscriptions: the snapshot sets Stripe's status, an invoice paid
	// sends its receipt, a failed one starts dunning (the stage) while the
	// status stays Stripe's until Stripe changes it.
	sub := "sub_core1"
	sys.stripe.PutSubscription(stripeapi.Subscription{ID: sub, CustomerID: cus, Status: "past_due"})
	sys.stripe.PutInvoice(stripeInvoice("in_core_fail", cus, sub))
	id := routing.SubscriptionID(sub)
	mustDeliver(t, build(t, "customer.subscription.created", fixtures.Options{CustomerID: cus, SubscriptionID: sub, ProductID: "prod_core_sub", Created: time.Now().Add(-time.Minute)}))
	mustDeliver(t, build(t, "invoice.payment_succeeded", fixtures.Options{CustomerID: cus, SubscriptionID: sub, InvoiceID: "in_core_ok"}))
	waitStatus(t, id, "active")
	mustDeliver(t, build(t, "invoice.payment_failed", fixtures.Options{CustomerID: cus, SubscriptionID: sub, InvoiceID: "in_core_fail"}))
	waitAttr(t, id, routing.DunningStageKey.GetName(), billing.StageRetrying)
	mustDeliver(t, build(t, "customer.subscription.updated", fixtures.Options{CustomerID: cus, SubscriptionID: sub, ProductID: "prod_core_sub", Status: "past_due"}))
	waitStatus(t, id, "past_due")
	waitFor(t, 20*time.Second, "invoice receipt and first-failure email", func() (bool, string) {
		got := sentWith("subscription/" + sub)
		return got["subscription/"+sub+"/invoice/in_core_ok/receipt"] == 1 && got["subscription/"+sub+"/in_core_fail/first-failure"] == 1, fmt.Sprint(got)
	})
	// End the campaign so it does not run on in the background.
	mustDeliver(t, build(t, "customer.subscription.deleted", fixtures.Options{CustomerID: cus, SubscriptionID: sub, ProductID: "prod_core_sub"}))
	waitStatus(t, id, "canceled")
	waitAttr(t, id, routing.DunningStageKey.GetName(), billing.StageNone)
	waitAccess(t, cus, "prod_core_sub", payflow.AccessRevoked)
}

// historySummary is what a workflow's history shows of its steps.
type historySummary struct {
	tasks         map[string]bool // activity tasks scheduled, by type
	local         map[string]bool // local activities recorded, by type
	workflowTasks int             // workflow tasks completed
	upserts       int             // search attribute upserts
	timers        int             // timers started
	localFailures int             // local activity markers that carry a failure
	summaries     []string        // the one-line summaries the UI shows for the markers
}

func historyOf(t testing.TB, id string) historySummary {
	t.Helper()
	h := historySummary{tasks: map[string]bool{}, local: map[string]bool{}}
	it := sys.temporal.GetWorkflowHistory(context.Background(), id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case ev.GetActivityTaskScheduledEventAttributes() != nil:
			h.tasks[ev.GetActivityTaskScheduledEventAttributes().ActivityType.Name] = true
			var summary string
			if d := ev.GetUserMetadata().GetSummary().GetData(); d != nil && json.Unmarshal(d, &summary) == nil {
				h.summaries = append(h.summaries, summary)
			}
		case ev.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity":
			var data struct{ ActivityType string }
			p := ev.GetMarkerRecordedEventAttributes().GetDetails()["data"].GetPayloads()
			if len(p) == 1 && json.Unmarshal(p[0].GetData(), &data) == nil {
				h.local[data.ActivityType] = true
			}
			if ev.GetMarkerRecordedEventAttributes().GetFailure() != nil {
				h.localFailures++
			}
			var summary string
			if d := ev.GetUserMetadata().GetSummary().GetData(); d != nil && json.Unmarshal(d, &summary) == nil {
				h.summaries = append(h.summaries, summary)
			}
		case ev.GetTimerStartedEventAttributes() != nil:
			h.timers++
		case ev.GetWorkflowTaskCompletedEventAttributes() != nil:
			h.workflowTasks++
		case ev.GetUpsertWorkflowSearchAttributesEventAttributes() != nil:
			h.upserts++
		}
	}
	return h
}

// 100 distinct events, each delivered 5 times, shuffled, from 32
// concurrent clients: exactly 100 effects, no email twice.
func TestStorm(t *testing.T) {
	const n, copies, clients = 100, 5, 32
	cus := "cus_storm"
	var deliveries [][]byte
	for i := 0; i < n; i++ {
		ev := build(t, "payment_intent.succeeded", fixtures.Options{CustomerID: cus, PaymentIntentID: fmt.Sprintf("pi_storm_%03d", i), ProductID: fmt.Sprintf("prod_storm_%03d", i)})
		for c := 0; c < copies; c++ {
			deliveries = append(deliveries, ev)
		}
	}
	rand.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
	work := make(chan []byte)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				status, _ := deliver(t, d)
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			}
		}()
	}
	for _, d := range deliveries {
		work <- d
	}
	close(work)
	wg.Wait()
	if statuses[200] != n*copies {
		t.Fatalf("statuses %v, want %d × 200", statuses, n*copies)
	}
	waitFor(t, 120*time.Second, "100 fulfilled orders", func() (bool, string) {
		s := summary(t, cus)
		done := 0
		for _, o := range s.Orders {
			if o.Status == payflow.OrderFulfilled {
				done++
			}
		}
		return done == n, fmt.Sprintf("%d fulfilled of %d orders", done, len(s.Orders))
	})
	s := summary(t, cus)
	if len(s.Orders) != n || len(s.Access) != n {
		t.Fatalf("%d orders, %d access rows; want %d each", len(s.Orders), len(s.Access), n)
	}
	sent := sentWith("order/pi_storm_")
	if len(sent) != n {
		t.Fatalf("%d distinct receipts sent, want %d", len(sent), n)
	}
	for k, c := range sent {
		if c != 1 {
			t.Errorf("%s sent %d times", k, c)
		}
	}
}

// Third depth of deduplication: after Temporal's retention dropped the run, a late
// duplicate starts a new run, and the database's event ledger makes it a
// no-op.
func TestDuplicateAfterRetention(t *testing.T) {
	cus, pi := "cus_retention", "pi_retention"
	paid := build(t, "payment_intent.succeeded", fixtures.Options{CustomerID: cus, PaymentIntentID: pi})
	mustDeliver(t, paid)
	id := routing.OrderID(pi)
	waitCompleted(t, id)
	// What retention does: the closed run disappears. Deletion is a task
	// the history service runs in the background, behind whatever the
	// earlier tests left queued on a busy machine; the request is repeated
	// (it is idempotent) until the run is gone.
	del := func() {
		if _, err := sys.temporal.WorkflowService().DeleteWorkflowExecution(context.Background(), &workflowservice.DeleteWorkflowExecutionRequest{
			Namespace: "default", WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: id}}); err != nil {
			var nf *serviceerror.NotFound
			if !errors.As(err, &nf) {
				t.Fatalf("delete: %v", err)
			}
		}
	}
	del()
	lastDelete := time.Now()
	waitFor(t, 120*time.Second, "run deleted", func() (bool, string) {
		st, _ := describe(t, id)
		if st != enums.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED && time.Since(lastDelete) > 15*time.Second {
			del()
			lastDelete = time.Now()
		}
		return st == enums.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED, st.String()
	})
	body := mustDeliver(t, paid)
	if body["duplicate"] == true {
		t.Fatal("expected a new run once the old one is gone")
	}
	waitCompleted(t, id)
	if got := sentWith("order/" + pi); got["order/"+pi+"/receipt"] != 1 {
		t.Fatalf("receipt sent %d times after the late duplicate", got["order/"+pi+"/receipt"])
	}
	h := historyOf(t, id)
	if h.local["SetAccess"] || h.local["SendEmail"] || h.tasks["SendEmail"] || !h.local["RecordEvent"] || !h.local["LoadOrder"] {
		t.Errorf("the new run repeated effects or skipped the ledger: activities %v, local %v", h.tasks, h.local)
	}
}

// A guest checkout (no Stripe customer) through HTTP: the order is fulfilled
// and its receipt sent, with no entitlement to record; the run does not
// fail on the missing customer.
func TestGuestPaymentEndToEnd(t *testing.T) {
	pi, email := "pi_guest1", "guest1@example.com"
	mustDeliver(t, build(t, "payment_intent.succeeded", fixtures.Options{PaymentIntentID: pi, Email: email, Guest: true}))
	id := routing.OrderID(pi)
	waitCompleted(t, id)
	o, err := sys.db.GetOrder(context.Background(), pi)
	if err != nil || o.Status != payflow.OrderFulfilled || o.CustomerID != "" {
		t.Fatalf("order %+v, %v; want fulfilled without a customer", o, err)
	}
	if got := sentWith("order/" + pi); got["order/"+pi+"/receipt"] != 1 {
		t.Errorf("receipt sent %v, want once", got)
	}
	var msgTo []string
	for _, m := range sys.sendgrid.Messages() {
		if m.CustomArgs["payflow_dedupe_key"] == "order/"+pi+"/receipt" {
			msgTo = m.To
		}
	}
	if len(msgTo) != 1 || msgTo[0] != email {
		t.Errorf("receipt to %v, want %s", msgTo, email)
	}
	_, attrs := describe(t, id)
	if attrs["PayflowStatus"] != billing.OrderFulfilled || attrs["StripeCustomerID"] != "" {
		t.Errorf("search attributes %v", attrs)
	}
}
