package routing_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
)

func TestResolveRoutesEveryType(t *testing.T) {
	pi := payflow.Event{PaymentIntent: "pi_1", CustomerID: "cus_1", ChargeID: "ch_1"}
	with := func(e payflow.Event, typ string, edit func(*payflow.Event)) payflow.Event {
		e.Type = typ
		if edit != nil {
			edit(&e)
		}
		return e
	}
	cs := func(mode string) func(*payflow.Event) {
		return func(e *payflow.Event) {
			e.CheckoutID, e.Mode = "cs_1", mode
			if mode == "subscription" {
				e.PaymentIntent, e.SubscriptionID = "", "sub_1"
			}
		}
	}
	inv := payflow.Event{InvoiceID: "in_1", SubscriptionID: "sub_1", CustomerID: "cus_1"}
	sub := payflow.Event{SubscriptionID: "sub_1", CustomerID: "cus_1"}
	dp := payflow.Event{DisputeID: "dp_1", ChargeID: "ch_1"}

	const (
		reject = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
		allow  = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	)
	type want struct {
		workflow, id, skip string
		reuse              enumspb.WorkflowIdReusePolicy
	}
	order := func(id string) want { return want{routing.OrderWorkflowName, id, "", allow} }
	subscription := want{routing.SubscriptionWorkflowName, "subscription/sub_1", "", reject}
	dispute := want{routing.DisputeWorkflowName, "dispute/dp_1", "", reject}
	disputeFunds := want{routing.DisputeWorkflowName, "dispute/dp_1", "", allow}
	customer := want{routing.CustomerWorkflowName, "customer/cus_1", "", allow}
	skip := func(reason string) want { return want{skip: reason} }

	cases := []struct {
		name string
		ev   payflow.Event
		want want
	}{
		{"pi succeeded", with(pi, "payment_intent.succeeded", nil), order("order/pi_1")},
		{"pi succeeded paid by an invoice", with(pi, "payment_intent.succeeded", func(e *payflow.Event) { e.InvoiceID = "in_1" }),
			skip("payment belongs to invoice in_1 (subscription workflow)")},
		{"pi failed", with(pi, "payment_intent.payment_failed", nil), order("order/pi_1")},
		{"pi failed for an invoice", with(pi, "payment_intent.payment_failed", func(e *payflow.Event) { e.InvoiceID = "in_1" }),
			skip("payment belongs to invoice in_1 (subscription workflow)")},
		{"pi canceled", with(pi, "payment_intent.canceled", nil), order("order/pi_1")},
		{"pi without id", payflow.Event{Type: "payment_intent.succeeded"}, skip("no payment_intent or checkout session on the object")},

		{"checkout completed payment", with(pi, "checkout.session.completed", cs("payment")), order("order/pi_1")},
		{"checkout completed no payment", with(payflow.Event{}, "checkout.session.completed", cs("payment")), order("order/cs_1")},
		{"checkout completed subscription", with(pi, "checkout.session.completed", cs("subscription")), subscription},
		{"checkout completed subscription, no sub yet", with(payflow.Event{CheckoutID: "cs_1"}, "checkout.session.completed",
			func(e *payflow.Event) { e.Mode = "subscription" }), skip("no subscription on the object (a one-off invoice)")},
		{"checkout completed setup", with(pi, "checkout.session.completed", cs("setup")), skip("setup-mode checkout sessions move no money")},
		{"checkout async ok payment", with(pi, "checkout.session.async_payment_succeeded", cs("payment")), order("order/pi_1")},
		{"checkout async ok subscription", with(pi, "checkout.session.async_payment_succeeded", cs("subscription")), subscription},
		{"checkout async failed payment", with(pi, "checkout.session.async_payment_failed", cs("payment")), order("order/pi_1")},
		{"checkout async failed subscription", with(pi, "checkout.session.async_payment_failed", cs("subscription")), subscription},
		{"checkout expired payment", with(payflow.Event{}, "checkout.session.expired", cs("payment")), order("order/cs_1")},
		{"checkout expired setup", with(payflow.Event{}, "checkout.session.expired", cs("setup")), skip("setup-mode checkout sessions move no money")},

		{"charge refunded", with(pi, "charge.refunded", nil), order("order/pi_1")},
		{"charge refunded of a subscription invoice", with(pi, "charge.refunded", func(e *payflow.Event) { e.InvoiceID, e.SubscriptionID = "in_1", "sub_1" }),
			want{routing.SubscriptionWorkflowName, "subscription/sub_1", "", allow}},
		// API 2023-10-16: the charge names its invoice, not the subscription.
		// The order run of its payment intent finds the subscription and
		// forwards the refund (billing.InvoicePayment); it is never fulfilled.
		{"charge refunded of an invoice, subscription unknown", with(pi, "charge.refunded", func(e *payflow.Event) { e.InvoiceID = "in_1" }),
			order("order/pi_1")},
		{"charge refunded of an invoice, no payment intent", with(payflow.Event{ChargeID: "ch_1", InvoiceID: "in_1"}, "charge.refunded", nil),
			skip("refund of invoice in_1's charge: the event names neither its subscription nor its payment intent")},

		{"invoice finalized", with(inv, "invoice.finalized", nil), subscription},
		{"invoice paid", with(inv, "invoice.paid", nil), subscription},
		{"invoice payment succeeded", with(inv, "invoice.payment_succeeded", nil), subscription},
		{"invoice payment failed", with(inv, "invoice.payment_failed", nil), subscription},
		{"invoice action required", with(inv, "invoice.payment_action_required", nil), subscription},
		{"invoice voided", with(inv, "invoice.voided", nil), subscription},
		{"invoice uncollectible", with(inv, "invoice.marked_uncollectible", nil), subscription},
		{"one-off invoice", with(inv, "invoice.paid", func(e *payflow.Event) { e.SubscriptionID = "" }),
			skip("no subscription on the object (a one-off invoice)")},

		{"sub created", with(sub, "customer.subscription.created", nil), subscription},
		{"sub updated", with(sub, "customer.subscription.updated", nil), subscription},
		{"sub deleted", with(sub, "customer.subscription.deleted", nil), subscription},
		{"sub paused", with(sub, "customer.subscription.paused", nil), subscription},
		{"sub resumed", with(sub, "customer.subscription.resumed", nil), subscription},
		{"sub trial ends", with(sub, "customer.subscription.trial_will_end", nil), subscription},

		{"dispute created", with(dp, "charge.dispute.created", nil), dispute},
		{"dispute updated", with(dp, "charge.dispute.updated", nil), dispute},
		{"dispute closed", with(dp, "charge.dispute.closed", nil), dispute},
		{"dispute funds withdrawn", with(dp, "charge.dispute.funds_withdrawn", nil), disputeFunds},
		{"dispute funds reinstated", with(dp, "charge.dispute.funds_reinstated", nil), disputeFunds},
		{"dispute without id", payflow.Event{Type: "charge.dispute.created"}, skip("no dispute ID")},

		// A change of the customer's payment method goes to customer/<cus>,
		// which hands it to the customer's subscriptions in dunning; any
		// other customer.updated or setup (no PaymentMethod decoded) is
		// skipped before a workflow starts.
		{"default payment method changed", payflow.Event{Type: "customer.updated", CustomerID: "cus_1", PaymentMethod: "pm_2"}, customer},
		{"customer updated otherwise", payflow.Event{Type: "customer.updated", CustomerID: "cus_1"},
			skip("not a change of the customer's payment method for invoices")},
		{"payment method attached", payflow.Event{Type: "payment_method.attached", CustomerID: "cus_1", PaymentMethod: "pm_2"}, customer},
		{"payment method of no customer", payflow.Event{Type: "payment_method.attached", PaymentMethod: "pm_2"},
			skip("payment method pm_2 belongs to no customer")},
		{"off-session setup", payflow.Event{Type: "setup_intent.succeeded", CustomerID: "cus_1", PaymentMethod: "pm_2"}, customer},
		{"on-session setup", payflow.Event{Type: "setup_intent.succeeded", CustomerID: "cus_1"},
			skip("not a change of the customer's payment method for invoices")},
	}

	covered := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			covered[tc.ev.Type] = true
			r, id, skipReason, ok := routing.Resolve(tc.ev)
			require.True(t, ok, "handled type")
			require.Equal(t, tc.want.skip, skipReason)
			require.Equal(t, tc.want.id, id)
			if tc.want.skip != "" {
				return
			}
			require.Equal(t, tc.want.workflow, r.Workflow)
			require.Equal(t, tc.want.reuse, r.Reuse)
			require.NotNil(t, r.Input)
			// The start argument matches the workflow and names the same key.
			switch in := r.Input(id, tc.ev).(type) {
			case routing.OrderInput:
				require.Equal(t, routing.OrderWorkflowName, r.Workflow)
				require.Equal(t, id, routing.OrderID(in.OrderID))
			case routing.SubscriptionInput:
				require.Equal(t, routing.SubscriptionWorkflowName, r.Workflow)
				require.Equal(t, id, routing.SubscriptionID(in.State.ID))
				require.Equal(t, billing.NewSubscription(in.State.ID), in.State)
			case routing.DisputeInput:
				require.Equal(t, routing.DisputeWorkflowName, r.Workflow)
				require.Equal(t, id, routing.DisputeID(in.DisputeID))
			case routing.CustomerInput:
				require.Equal(t, routing.CustomerWorkflowName, r.Workflow)
				require.Equal(t, id, routing.CustomerID(in.CustomerID))
			default:
				t.Fatalf("unexpected input %T", in)
			}
		})
	}
	for typ := range routing.Routes {
		require.True(t, covered[typ], "no test case for %s", typ)
	}

	_, _, _, ok := routing.Resolve(payflow.Event{Type: "customer.created", CustomerID: "cus_1"})
	require.False(t, ok, "unhandled types are not routed")

	types := routing.HandledTypes()
	require.True(t, slices.IsSorted(types))
	require.Len(t, types, len(routing.Routes))
}

// Every event type the billing core acts on is subscribed.
func TestHandledTypesCoverTheCore(t *testing.T) {
	for _, typ := range []string{
		"invoice.voided", "invoice.marked_uncollectible", "invoice.finalized",
		"charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated",
	} {
		require.Contains(t, routing.HandledTypes(), typ)
	}
}

func TestOwnerStart(t *testing.T) {
	name, in, reuse, ok := routing.OwnerStart("order/pi_1")
	require.True(t, ok)
	require.Equal(t, routing.OrderWorkflowName, name)
	require.Equal(t, routing.OrderInput{OrderID: "pi_1"}, in)
	require.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, reuse)

	name, in, _, ok = routing.OwnerStart("subscription/sub_1")
	require.True(t, ok)
	require.Equal(t, routing.SubscriptionWorkflowName, name)
	require.Equal(t, routing.SubscriptionInput{State: billing.NewSubscription("sub_1")}, in)

	for _, id := range []string{"dispute/dp_1", "customer/cus_1", "invoice/in_1", ""} {
		_, _, _, ok := routing.OwnerStart(id)
		require.False(t, ok, id)
	}
}

func TestStartAttributes(t *testing.T) {
	require.Empty(t, routing.StartAttributes(""))
	require.Len(t, routing.StartAttributes("cus_1"), 1)
	require.Equal(t, []string{"StripeCustomerID", "PayflowStatus", "PayflowDunningStage"}, routing.SearchAttributeNames())
}

// The routing contract is a leaf: the receiver that imports it links
// neither the activities nor SendGrid nor the Stripe API client.
func TestRoutingIsALeaf(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/payflow/payflow/routing").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, dep := range strings.Fields(string(out)) {
		if !strings.HasPrefix(dep, "github.com/payflow/payflow") {
			continue
		}
		switch dep {
		case "github.com/payflow/payflow", "github.com/payflow/payflow/billing", "github.com/payflow/payflow/routing":
		default:
			t.Errorf("routing depends on %s", dep)
		}
	}
}

// Stripe Connect: a connected account's workflows are prefixed with the
// account; the platform's keep the public contract's IDs unchanged, and
// splitting gives back what built them.
func TestWorkflowIDAccounts(t *testing.T) {
	for _, tc := range []struct {
		account, kind, key, want string
	}{
		{"", routing.KindSubscription, "sub_1", "subscription/sub_1"},
		{"", routing.KindOrder, "pi_1", "order/pi_1"},
		{"", routing.KindDispute, "dp_1", "dispute/dp_1"},
		{"", routing.KindCustomer, "cus_1", "customer/cus_1"},
		{"", routing.KindQuarantine, "evt_1", "quarantine/evt_1"},
		{"acct_123", routing.KindSubscription, "sub_1", "acct_123/subscription/sub_1"},
		{"acct_123", routing.KindOrder, "cs_test_a1", "acct_123/order/cs_test_a1"},
		{"acct_123", routing.KindDispute, "dp_1", "acct_123/dispute/dp_1"},
		{"acct_123", routing.KindCustomer, "cus_1", "acct_123/customer/cus_1"},
		{"acct_123", routing.KindQuarantine, "evt_1", "acct_123/quarantine/evt_1"},
	} {
		id := routing.WorkflowID(tc.account, tc.kind, tc.key)
		require.Equal(t, tc.want, id)
		account, rest := routing.SplitWorkflowID(id)
		require.Equal(t, tc.account, account, id)
		require.Equal(t, tc.kind+"/"+tc.key, rest, id)
		require.Equal(t, tc.account, routing.AccountOf(id))
	}
	// The platform helpers are WorkflowID("", …).
	require.Equal(t, routing.WorkflowID("", routing.KindSubscription, "sub_9"), routing.SubscriptionID("sub_9"))
	require.Equal(t, routing.WorkflowID("", routing.KindOrder, "pi_9"), routing.OrderID("pi_9"))
	require.Equal(t, routing.WorkflowID("", routing.KindQuarantine, "evt_9"), routing.QuarantineID("evt_9"))

	// WithAccount puts a core's platform-form ID in an account, and moves
	// one that names another account: a workflow addresses its own only.
	require.Equal(t, "acct_A/subscription/sub_1", routing.WithAccount("acct_A", "subscription/sub_1"))
	require.Equal(t, "acct_A/subscription/sub_1", routing.WithAccount("acct_A", "acct_B/subscription/sub_1"))
	require.Equal(t, "subscription/sub_1", routing.WithAccount("", "acct_B/subscription/sub_1"))
	require.Equal(t, "order/pi_1", routing.WithAccount("", "order/pi_1"))
}

func TestResolveKeepsTheAccount(t *testing.T) {
	ev := payflow.Event{Type: "invoice.payment_failed", SubscriptionID: "sub_same", InvoiceID: "in_1", Account: "acct_A"}
	r, id, skip, ok := routing.Resolve(ev)
	require.True(t, ok)
	require.Empty(t, skip)
	require.Equal(t, "acct_A/subscription/sub_same", id)
	require.Equal(t, routing.SubscriptionWorkflowName, r.Workflow)
	in := r.Input(id, ev).(routing.SubscriptionInput)
	require.Equal(t, "sub_same", in.State.ID, "the input is keyed by the object alone")

	ev.Account = "acct_B"
	_, idB, _, _ := routing.Resolve(ev)
	require.Equal(t, "acct_B/subscription/sub_same", idB)
	ev.Account = ""
	_, platform, _, _ := routing.Resolve(ev)
	require.Equal(t, "subscription/sub_same", platform)

	// Routes that pick the workflow from the ID (checkout, refunds) too.
	refund := payflow.Event{Type: "charge.refunded", PaymentIntent: "pi_1", ChargeID: "ch_1", Account: "acct_A"}
	r, id, _, ok = routing.Resolve(refund)
	require.True(t, ok)
	require.Equal(t, "acct_A/order/pi_1", id)
	require.Equal(t, routing.OrderWorkflowName, r.Workflow)
	require.Equal(t, "pi_1", r.Input(id, refund).(routing.OrderInput).OrderID)
	cs := payflow.Event{Type: "checkout.session.completed", CheckoutID: "cs_1", Mode: "subscription", SubscriptionID: "sub_1", Account: "acct_A"}
	r, id, _, _ = routing.Resolve(cs)
	require.Equal(t, "acct_A/subscription/sub_1", id)
	require.Equal(t, routing.SubscriptionWorkflowName, r.Workflow)
	pm := payflow.Event{Type: "payment_method.attached", PaymentMethod: "pm_1", CustomerID: "cus_1", Account: "acct_A"}
	r, id, _, _ = routing.Resolve(pm)
	require.Equal(t, "acct_A/customer/cus_1", id)
	require.Equal(t, "cus_1", r.Input(id, pm).(routing.CustomerInput).CustomerID)
	dp := payflow.Event{Type: "charge.dispute.created", DisputeID: "dp_1", Account: "acct_A"}
	r, id, _, _ = routing.Resolve(dp)
	require.Equal(t, "acct_A/dispute/dp_1", id)
	require.Equal(t, "dp_1", r.Input(id, dp).(routing.DisputeInput).DisputeID)

	// The owner of a connected account's payment starts keyed by its object.
	wf, input, _, ok := routing.OwnerStart("acct_A/subscription/sub_same")
	require.True(t, ok)
	require.Equal(t, routing.SubscriptionWorkflowName, wf)
	require.Equal(t, "sub_same", input.(routing.SubscriptionInput).State.ID)
	wf, input, _, ok = routing.OwnerStart("acct_A/order/pi_1")
	require.True(t, ok)
	require.Equal(t, routing.OrderWorkflowName, wf)
	require.Equal(t, "pi_1", input.(routing.OrderInput).OrderID)
	_, _, _, ok = routing.OwnerStart("acct_A/dispute/dp_1")
	require.False(t, ok)
}
