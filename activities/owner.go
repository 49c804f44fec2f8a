package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
)

// LookupPaymentOwner answers which order or subscription invoice a
// disputed charge (or payment intent) paid for, so the dispute's events
// reach the workflow that applies their consequence to its own access. The
// database is asked first — an order by its charge or payment intent, then
// an invoice by the same — and then, when a Stripe key is configured,
// Stripe: charge → invoice → subscription, or a one-off payment's intent
// (order/<payment_intent>). WorkflowID is empty when the payment belongs to
// nothing payflow sells, or nothing is known of it.
func (a *Activities) LookupPaymentOwner(ctx context.Context, q billing.LookupPaymentOwner) (billing.PaymentOwner, error) {
	log := a.logger(ctx).With("dispute", q.DisputeID, "charge", q.ChargeID, "payment_intent", q.PaymentIntent)
	if q.ChargeID == "" && q.PaymentIntent == "" {
		log.Warn("disputed payment names neither a charge nor a payment intent: no owner")
		return billing.PaymentOwner{}, nil
	}
	o, err := a.Store.FindOrderByPayment(ctx, q.ChargeID, q.PaymentIntent)
	switch {
	case err == nil:
		log.Info("disputed payment is an order", "owner", "order/"+o.ID)
		return billing.PaymentOwner{WorkflowID: "order/" + o.ID, CustomerID: o.CustomerID}, nil
	case !errors.Is(err, payflow.ErrNotFound):
		return billing.PaymentOwner{}, fmt.Errorf("look up the order of dispute %s: %w", q.DisputeID, err)
	}
	inv, err := a.Store.FindInvoiceByPayment(ctx, q.ChargeID, q.PaymentIntent)
	switch {
	case err == nil:
		owner := invoiceOwner(inv.ID, inv.SubscriptionID, inv.CustomerID)
		log.Info("disputed payment paid an invoice", "invoice", inv.ID, "owner", owner.WorkflowID)
		return owner, nil
	case !errors.Is(err, payflow.ErrNotFound):
		return billing.PaymentOwner{}, fmt.Errorf("look up the invoice of dispute %s: %w", q.DisputeID, err)
	}
	if a.Stripe == nil {
		log.Warn("disputed payment unknown to the database and no Stripe key to ask: no owner")
		return billing.PaymentOwner{}, nil
	}
	ref, err := a.Stripe.PaymentRef(ctx, q.ChargeID, q.PaymentIntent)
	if err != nil {
		return billing.PaymentOwner{}, err
	}
	var owner billing.PaymentOwner
	switch {
	case !ref.Found:
		log.Warn("Stripe does not know the disputed payment: no owner")
	case ref.InvoiceID != "":
		owner = invoiceOwner(ref.InvoiceID, ref.SubscriptionID, ref.CustomerID)
		log.Info("Stripe: disputed payment paid an invoice", "invoice", ref.InvoiceID, "owner", owner.WorkflowID)
	case ref.PaymentIntent != "":
		// A one-off payment payflow has no row of (yet): its order workflow
		// is keyed by the payment intent and seeds itself when it starts.
		owner = billing.PaymentOwner{WorkflowID: "order/" + ref.PaymentIntent, CustomerID: ref.CustomerID}
		log.Info("Stripe: disputed payment is a one-off payment", "owner", owner.WorkflowID)
	default:
		log.Warn("Stripe: disputed charge has neither an invoice nor a payment intent: no owner")
	}
	return owner, nil
}

// invoiceOwner: a subscription's invoice belongs to the subscription's
// workflow; a one-off invoice to nothing payflow sells.
func invoiceOwner(invoiceID, subscriptionID, customerID string) billing.PaymentOwner {
	o := billing.PaymentOwner{CustomerID: customerID, InvoiceID: invoiceID, SubscriptionID: subscriptionID}
	if subscriptionID != "" {
		o.WorkflowID = "subscription/" + subscriptionID
	}
	return o
}
