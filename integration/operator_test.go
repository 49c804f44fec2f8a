package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/workflows"
)

// Support staff steer a run from the command line (the same Temporal
// Updates as the Web UI's form): a retry of a subscription without a
// failed invoice is rejected with the reason; after a hard decline,
// `payflow subscription retry` charges the invoice at once and it
// recovers, with who did it in the run's timeline.
func TestOperatorRetryFromTheCommandLine(t *testing.T) {
	t.Parallel()
	cus, sub, inv, prod := "cus_op", "sub_op", "in_op", "prod_op"
	id := routing.SubscriptionID(sub)
	sys.stripe.PutSubscription(stripeapi.Subscription{ID: sub, CustomerID: cus, Status: "past_due"})
	sys.stripe.PutInvoice(stripeInvoice(inv, cus, sub))
	pi, ch := sys.stripe.ScriptDecline(inv, "stolen_card")
	env := []string{"DATABASE_URL=" + sys.dbURL, "TEMPORAL_ADDRESS=" + sys.temporalAdr}

	mustDeliver(t, build(t, "customer.subscription.created", fixtures.Options{CustomerID: cus, SubscriptionID: sub, ProductID: prod, Created: time.Now().Add(-time.Minute)}))
	waitStatus(t, id, "active")
	out, err := runPayflow(t, env, "subscription", "retry", sub, "-by", "ann")
	if err == nil || !strings.Contains(out, "no open invoice") {
		t.Fatalf("retry without a campaign: err %v\n%s", err, out)
	}

	mustDeliver(t, build(t, "invoice.payment_failed", fixtures.Options{CustomerID: cus, SubscriptionID: sub, InvoiceID: inv, ProductID: prod,
		PaymentIntentID: pi, ChargeID: ch, DeclineCode: "stolen_card"}))
	waitAttr(t, id, routing.DunningStageKey.GetName(), billing.StageAwaitingCustomer)
	sys.stripe.ScriptPay(inv, stripeapi.PaySucceeds)
	out, err = runPayflow(t, env, "subscription", "retry", sub, "-by", "ann", "-reason", "bank lifted the block")
	if err != nil || !strings.Contains(out, id+": invoice "+inv+" retried now (attempt 1)") {
		t.Fatalf("retry: %v\n%s", err, out)
	}
	if n := sys.stripe.PayAttempts(inv); n != 1 {
		t.Fatalf("%d charge attempts, want the one retry", n)
	}
	waitAttr(t, id, routing.DunningStageKey.GetName(), billing.StageNone)
	waitAccess(t, cus, prod, payflow.AccessGranted)
	out, err = runPayflow(t, env, "inspect", "customer", cus)
	if err != nil || !strings.Contains(out, "  "+sub+"  none") {
		t.Fatalf("inspect after recovery: %v\n%s", err, out)
	}
	var v workflows.SubscriptionView
	query(t, id, &v)
	found := false
	for _, s := range v.Steps {
		found = found || strings.Contains(s.What, "operator ann (bank lifted the block): invoice "+inv+" retried now")
	}
	if !found {
		t.Errorf("timeline lacks the operator's retry: %s", fmt.Sprint(v.Steps))
	}
}
