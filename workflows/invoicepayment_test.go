package workflows_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/workflows"
)

const (
	invPI      = "pi_inv1"
	invCharge  = "ch_inv1"
	invInvoice = "in_inv1"
)

var invOrderID = routing.OrderID(invPI)

// invoiceRefundEvent is charge.refunded of a subscription invoice's charge
// as the receiver decodes API version 2023-10-16: the invoice's ID and the
// payment intent, no subscription.
func invoiceRefundEvent(id string) payflow.Event {
	return payflow.Event{ID: id, Type: "charge.refunded", Created: unix(time.Hour), ObjectType: "charge", ObjectID: invCharge,
		CustomerID: subCustomer, PaymentIntent: invPI, ChargeID: invCharge, InvoiceID: invInvoice, Amount: 2000,
		AmountRefunded: 2000, Refunded: true, Currency: "usd", Status: "succeeded"}
}

func (w *world) stripeCalls() []string {
	var out []string
	for _, r := range w.stripe.Requests() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// The refund of an invoice's charge reaches order/<payment_intent>: the run
// looks the invoice's subscription up (the database first, else Stripe:
// charge → invoice → subscription), hands the refund to it (signal
// owner-event, once, though delivered twice), and ends without an order
// row, access or email; the UI line says where the refund went.
func TestOrderForwardsInvoiceRefund(t *testing.T) {
	for _, tc := range []struct {
		name        string
		inDatabase  bool
		stripeCalls []string
	}{
		{"the database knows the invoice", true, nil},
		{"only Stripe knows it", false, []string{"GET /v1/charges/" + invCharge, "GET /v1/invoices/" + invInvoice}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.stripe.PutSubscription(stripeapi.Subscription{ID: subID, CustomerID: subCustomer, Status: "active"})
			w.stripe.PutInvoice(stripeapi.Invoice{ID: invInvoice, CustomerID: subCustomer, SubscriptionID: subID, Status: "paid",
				Amount: 2000, ChargeID: invCharge, PaymentIntentID: invPI})
			if tc.inDatabase {
				require.NoError(t, w.acts.RecordInvoice(context.Background(), billing.RecordInvoice{SubscriptionID: subID, CustomerID: subCustomer,
					Invoice: billing.Invoice{ID: invInvoice, Status: billing.InvoicePaid, AmountDue: 2000, AmountPaid: 2000, ChargeID: invCharge, StripeCreated: 1}}))
			}
			h := w.run(t, invOrderID)
			h.signal(0, invoiceRefundEvent("evt_inv_refund"))
			h.signal(0, invoiceRefundEvent("evt_inv_refund"))
			h.env.ExecuteWorkflow(workflows.OrderWorkflow, routing.OrderInput{OrderID: invPI})
			v := orderResult(t, h)
			require.Equal(t, time.Duration(0), h.elapsed())
			require.Equal(t, billing.OrderInvoicePayment, v.Status)
			require.Contains(t, v.Details, "refund of invoice "+invInvoice+" forwarded to "+subWorkflowID)
			n := h.notifications()
			require.Len(t, n, 1)
			require.Equal(t, subWorkflowID, n[0].WorkflowID)
			require.Equal(t, "evt_inv_refund", n[0].Event.ID)
			require.Equal(t, invInvoice, n[0].Event.InvoiceID)
			require.Equal(t, subID, n[0].Event.SubscriptionID)
			require.Equal(t, int64(2000), n[0].Event.AmountRefunded)
			require.Equal(t, tc.stripeCalls, w.stripeCalls())

			_, err := w.db.GetOrder(context.Background(), invPI)
			require.True(t, errors.Is(err, payflow.ErrNotFound), "no order row: %v", err)
			require.Empty(t, w.access(t, subCustomer))
			require.Empty(t, w.sent())
			applied, err := w.db.EventApplied(context.Background(), "evt_inv_refund")
			require.NoError(t, err)
			require.True(t, applied, "the order run owns the event in the ledger")
			require.Equal(t, billing.OrderInvoicePayment, h.sa.get("PayflowStatus"))
			require.Equal(t, subCustomer, h.sa.get("StripeCustomerID"))
		})
	}
}

// A late duplicate of that refund starts a new run of the order (its first
// run closed and stored no order): the ledger says it was applied, so the
// run ends at once, asking and forwarding nothing.
func TestOrderRunOfALateInvoiceRefundEnds(t *testing.T) {
	w := newWorld(t)
	ev := invoiceRefundEvent("evt_inv_refund")
	_, err := w.db.MarkEventApplied(context.Background(), payflow.AppliedEvent{EventID: ev.ID, Type: ev.Type,
		ObjectID: ev.ObjectID, Created: ev.Created, Owner: invOrderID + "@an-earlier-run", AppliedAt: t0})
	require.NoError(t, err)
	h := w.run(t, invOrderID)
	h.signal(0, ev)
	h.env.ExecuteWorkflow(workflows.OrderWorkflow, routing.OrderInput{OrderID: invPI})
	v := orderResult(t, h)
	require.Equal(t, time.Duration(0), h.elapsed(), "nothing to wait for")
	require.True(t, containsLine(notes(v.Steps), "already applied by an earlier run"), notes(v.Steps))
	require.Empty(t, h.notifications())
	require.Empty(t, w.stripeCalls())
	require.Empty(t, w.sent())
}
