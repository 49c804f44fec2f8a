package workflows_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/workflows"
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

	type want struct {
		workflow, id, skip string
		reuse              enumspb.WorkflowIdReusePolicy
	}
	order := func(id string) want {
		return want{workflows.OrderWorkflowName, id, "", enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY}
	}
	subscription := want{workflows.SubscriptionWorkflowName, "subscription/sub_1", "", enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY}
	dispute := want{workflows.DisputeWorkflowName, "dispute/dp_1", "", enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY}
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

		{"charge refunded", with(pi, "charge.refunded", nil),
			want{workflows.OrderWorkflowName, "order/pi_1", "", enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE}},
		{"charge refunded of an invoice", with(pi, "charge.refunded", func(e *payflow.Event) { e.InvoiceID = "in_1" }),
			skip("payment belongs to invoice in_1 (subscription workflow)")},

		{"invoice paid", with(inv, "invoice.paid", nil), subscription},
		{"invoice payment succeeded", with(inv, "invoice.payment_succeeded", nil), subscription},
		{"invoice payment failed", with(inv, "invoice.payment_failed", nil), subscription},
		{"invoice action required", with(inv, "invoice.payment_action_required", nil), subscription},
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
		{"dispute without id", payflow.Event{Type: "charge.dispute.created"}, skip("no dispute ID")},
	}

	covered := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			covered[tc.ev.Type] = true
			r, id, skipReason, ok := workflows.Resolve(tc.ev)
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
			case workflows.OrderInput:
				require.Equal(t, workflows.OrderWorkflowName, r.Workflow)
				require.Equal(t, id, in.WorkflowID)
				require.Equal(t, id, workflows.OrderID(in.OrderID))
			case workflows.SubscriptionInput:
				require.Equal(t, workflows.SubscriptionWorkflowName, r.Workflow)
				require.Equal(t, id, workflows.SubscriptionID(in.State.SubscriptionID))
				require.Equal(t, tc.ev.CustomerID, in.State.CustomerID)
			case workflows.DisputeInput:
				require.Equal(t, workflows.DisputeWorkflowName, r.Workflow)
				require.Equal(t, id, workflows.DisputeID(in.DisputeID))
			default:
				t.Fatalf("unexpected input %T", in)
			}
		})
	}
	for typ := range workflows.Routes {
		require.True(t, covered[typ], "no test case for %s", typ)
	}

	_, _, _, ok := workflows.Resolve(payflow.Event{Type: "customer.created", CustomerID: "cus_1"})
	require.False(t, ok, "unhandled types are not routed")

	types := workflows.HandledTypes()
	require.True(t, sort.StringsAreSorted(types))
	require.Len(t, types, len(workflows.Routes))
	for _, typ := range types {
		require.False(t, strings.TrimSpace(typ) == "")
	}
}
