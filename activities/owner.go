package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
)

// LookupPaymentOwner answers which order or subscription invoice a charge
// (or payment intent) paid for, so a dispute's events — or a refund an
// order run found to belong to an invoice — reach the workflow that applies
// their consequence. The database is asked first — an order by its charge
// or payment intent, then an invoice by the same — and then, when a Stripe
// key is configured, Stripe: charge → invoice → subscription, or a one-off
// payment's intent (order/<payment_intent>). When the question names the
// invoice (an order run's refund of an invoice's charge), the payment is
// not an order's: the invoice is looked up by its ID first and no order is
// considered. WorkflowID is empty when the payment belongs to nothing
// payflow sells, or nothing is known of it. The owner is named in platform
// form (order/<pi>, subscription/<sub>), as the billing core keeps it;
// NotifyOwner puts it in the asking workflow's account, and the Stripe
// reads here act on that account (prepare).
func (a *Activities) LookupPaymentOwner(ctx context.Context, q billing.LookupPaymentOwner) (billing.PaymentOwner, error) {
	log := a.logger(ctx).With("dispute", q.DisputeID, "charge", q.ChargeID, "payment_intent", q.PaymentIntent, "invoice", q.InvoiceID)
	what := "dispute " + q.DisputeID
	if q.DisputeID == "" {
		what = "invoice " + q.InvoiceID + "'s payment"
	}
	if q.ChargeID == "" && q.PaymentIntent == "" && q.InvoiceID == "" {
		log.Warn("payment names neither a charge, a payment intent nor an invoice: no owner")
		return billing.PaymentOwner{}, nil
	}
	if q.InvoiceID != "" {
		inv, err := a.Store.GetInvoice(ctx, q.InvoiceID)
		switch {
		case err == nil:
			owner := invoiceOwner(inv.ID, inv.SubscriptionID, inv.CustomerID)
			log.Info("payment's invoice is in the database", "owner", owner.WorkflowID)
			return owner, nil
		case !errors.Is(err, payflow.ErrNotFound):
			return billing.PaymentOwner{}, fmt.Errorf("look up the invoice of %s: %w", what, err)
		}
	} else if q.ChargeID != "" || q.PaymentIntent != "" {
		o, err := a.Store.FindOrderByPayment(ctx, q.ChargeID, q.PaymentIntent)
		switch {
		case err == nil:
			log.Info("payment is an order", "owner", routing.OrderID(o.ID))
			return billing.PaymentOwner{WorkflowID: routing.OrderID(o.ID), CustomerID: o.CustomerID}, nil
		case !errors.Is(err, payflow.ErrNotFound):
			return billing.PaymentOwner{}, fmt.Errorf("look up the order of %s: %w", what, err)
		}
	}
	if q.ChargeID != "" || q.PaymentIntent != "" {
		inv, err := a.Store.FindInvoiceByPayment(ctx, q.ChargeID, q.PaymentIntent)
		switch {
		case err == nil:
			owner := invoiceOwner(inv.ID, inv.SubscriptionID, inv.CustomerID)
			log.Info("payment paid an invoice", "paid_invoice", inv.ID, "owner", owner.WorkflowID)
			return owner, nil
		case !errors.Is(err, payflow.ErrNotFound):
			return billing.PaymentOwner{}, fmt.Errorf("look up the invoice of %s: %w", what, err)
		}
	}
	if a.Stripe == nil {
		log.Warn("payment unknown to the database and no Stripe key to ask: no owner")
		return billing.PaymentOwner{}, nil
	}
	ref, err := a.Stripe.PaymentRef(ctx, q.ChargeID, q.PaymentIntent, q.InvoiceID)
	if err != nil {
		return billing.PaymentOwner{}, err
	}
	var owner billing.PaymentOwner
	switch {
	case !ref.Found:
		log.Warn("Stripe does not know the payment: no owner")
	case ref.InvoiceID != "":
		owner = invoiceOwner(ref.InvoiceID, ref.SubscriptionID, ref.CustomerID)
		log.Info("Stripe: payment paid an invoice", "paid_invoice", ref.InvoiceID, "owner", owner.WorkflowID)
	case ref.PaymentIntent != "":
		// A one-off payment payflow has no row of (yet): its order workflow
		// is keyed by the payment intent and seeds itself when it starts.
		owner = billing.PaymentOwner{WorkflowID: routing.OrderID(ref.PaymentIntent), CustomerID: ref.CustomerID}
		log.Info("Stripe: payment is a one-off payment", "owner", owner.WorkflowID)
	default:
		log.Warn("Stripe: charge has neither an invoice nor a payment intent: no owner")
	}
	return owner, nil
}

// invoiceOwner: a subscription's invoice belongs to the subscription's
// workflow; a one-off invoice to nothing payflow sells.
func invoiceOwner(invoiceID, subscriptionID, customerID string) billing.PaymentOwner {
	o := billing.PaymentOwner{CustomerID: customerID, InvoiceID: invoiceID, SubscriptionID: subscriptionID}
	if subscriptionID != "" {
		o.WorkflowID = routing.SubscriptionID(subscriptionID)
	}
	return o
}
