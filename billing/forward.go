package billing

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// OrderInvoicePayment is the status (PayflowStatus) of an order run whose
// payment turned out to have paid an invoice: it is not an order, and the
// charge's events went to the invoice's subscription.
const OrderInvoicePayment = "invoice_payment"

// InvoicePayment is what an order run knows of a payment that paid an
// invoice. In API version 2023-10-16 a charge names its invoice by ID only
// (charge.invoice) and not the subscription, so the stateless receiver
// cannot route charge.refunded of a subscription's invoice to
// subscription/<sub>; it sends it to order/<payment_intent>, where the core
// does not treat the payment as a one-off order: it asks who owns the
// invoice (LookupPaymentOwner: the database, then Stripe's charge → invoice
// → subscription) and hands the event to that subscription (NotifyOwner),
// which records the refund on the invoice. Such a run records no order,
// grants nothing and sends nothing.
type InvoicePayment struct {
	InvoiceID      string `json:"invoice"`
	SubscriptionID string `json:"subscription,omitempty"`
	// Owner is subscription/<sub>; empty once known: the invoice belongs to
	// no subscription payflow follows (a one-off invoice, or one neither the
	// database nor Stripe knows).
	Owner       string  `json:"owner,omitempty"`
	OwnerKnown  bool    `json:"owner_known,omitempty"`
	LookupAsked bool    `json:"lookup_asked,omitempty"`
	Pending     []Event `json:"pending,omitempty"` // waiting for the owner lookup
	Forwarded   int     `json:"forwarded,omitempty"`
	// Last is what the latest event was about ("refund", "dispute", or its
	// type), for the UI line.
	Last string `json:"last,omitempty"`
}

func (f *InvoicePayment) clone() *InvoicePayment {
	if f == nil {
		return nil
	}
	c := *f
	c.Pending = slices.Clone(f.Pending)
	return &c
}

// settled: the owner is known and every event was handed to it.
func (f *InvoicePayment) settled() bool {
	return f != nil && f.OwnerKnown && len(f.Pending) == 0
}

// belongsToInvoice reports whether ev is about a payment that paid an
// invoice rather than a one-off order: a charge event that names an
// invoice, unless the order was paid as a one-off (an order payflow
// fulfilled keeps its refunds and disputes, should Stripe ever name an
// invoice on its charge, e.g. a Checkout invoice_creation receipt); and
// every event once the run knows its payment paid an invoice.
func (o Order) belongsToInvoice(ev Event) bool {
	return o.Invoice != nil || (ev.InvoiceID != "" && strings.HasPrefix(ev.Type, "charge.") && !o.Paid)
}

// applyInvoicePayment is ApplyOrder for a payment that paid an invoice:
// charge events go to the invoice's owner, anything else is noted; no
// order is recorded, no access changed, no email sent.
func (o Order) applyInvoicePayment(ev Event) (Order, []Command) {
	if o.Invoice == nil {
		o.Invoice = &InvoicePayment{}
	}
	f := o.Invoice
	f.InvoiceID = firstNonEmpty(f.InvoiceID, ev.InvoiceID)
	f.SubscriptionID = firstNonEmpty(f.SubscriptionID, ev.SubscriptionID)
	o.CustomerID = firstNonEmpty(o.CustomerID, ev.CustomerID)
	o.PaymentIntent = firstNonEmpty(o.PaymentIntent, ev.PaymentIntent)
	o.ChargeID = firstNonEmpty(o.ChargeID, ev.ChargeID)
	o.Currency = firstNonEmpty(o.Currency, ev.Currency)
	var cmds []Command
	if strings.HasPrefix(ev.Type, "charge.") {
		f.Last = invoiceEventKind(ev.Type)
		cmds = o.forwardToInvoiceOwner(ev)
	} else {
		// payment_intent.* of an invoice's payment: the subscription hears
		// of the payment through its own invoice.* events.
		cmds = []Command{Note{What: fmt.Sprintf("%s: the payment belongs to invoice %s, not an order: nothing to do", ev.Type, f.InvoiceID)}}
	}
	return o, orderCommands(append(cmds, o.searchUpdate()...))
}

// ApplyOrderOwner takes the answer to the order's LookupPaymentOwner and
// hands the events held for it to the invoice's subscription. Only a
// subscription is followed: an invoice's payment is never an order's.
func ApplyOrderOwner(o Order, owner PaymentOwner, now time.Time) (Order, []Command) {
	o = o.clone()
	if o.Invoice == nil && o.LinkAsked && !o.LinkChecked {
		return o.invoiceLinkAnswered(owner, now)
	}
	f := o.Invoice
	if f == nil || f.OwnerKnown {
		return o, nil
	}
	f.OwnerKnown = true
	f.SubscriptionID = firstNonEmpty(f.SubscriptionID, owner.SubscriptionID)
	o.CustomerID = firstNonEmpty(o.CustomerID, owner.CustomerID)
	var cmds []Command
	switch {
	case strings.HasPrefix(owner.WorkflowID, "subscription/"):
		f.Owner = owner.WorkflowID
	case owner.WorkflowID != "":
		cmds = append(cmds, Note{What: fmt.Sprintf("the lookup named %s for invoice %s's payment: not followed (an invoice's payment is not an order)",
			owner.WorkflowID, f.InvoiceID)})
	case owner.InvoiceID != "":
		cmds = append(cmds, Note{What: fmt.Sprintf("invoice %s belongs to no subscription payflow follows (a one-off invoice): nothing to change", f.InvoiceID)})
	default:
		// Without a Stripe key, a refund that overtakes the invoice's own
		// events finds nothing: the operator sees it here.
		cmds = append(cmds, Note{What: fmt.Sprintf("invoice %s is known neither to the database nor to Stripe: its events are not applied", f.InvoiceID)})
	}
	pending := f.Pending
	f.Pending = nil
	for _, ev := range pending {
		cmds = append(cmds, o.forwardToInvoiceOwner(ev)...)
	}
	return o, orderCommands(append(cmds, o.searchUpdate()...))
}

// forwardToInvoiceOwner hands ev to the invoice's subscription, asking who
// that is first when nothing says.
func (o *Order) forwardToInvoiceOwner(ev Event) []Command {
	f := o.Invoice
	if !f.OwnerKnown && f.SubscriptionID != "" {
		f.OwnerKnown, f.Owner = true, "subscription/"+f.SubscriptionID
	}
	ev.InvoiceID, ev.SubscriptionID = firstNonEmpty(ev.InvoiceID, f.InvoiceID), firstNonEmpty(ev.SubscriptionID, f.SubscriptionID)
	ev.CustomerID = firstNonEmpty(ev.CustomerID, o.CustomerID)
	what := invoiceEventKind(ev.Type) + " of invoice " + f.InvoiceID
	switch {
	case f.OwnerKnown && f.Owner != "":
		f.Forwarded++
		return []Command{NotifyOwner{WorkflowID: f.Owner, Event: ev}, Note{What: what + " forwarded to " + f.Owner}}
	case f.OwnerKnown:
		return []Command{Note{What: what + ": no subscription to forward it to"}}
	}
	if len(f.Pending) < MaxPendingForward {
		f.Pending = append(f.Pending, ev)
	}
	cmds := []Command{Note{What: what + ": the payment belongs to the invoice, not an order; looking up its subscription"}}
	if !f.LookupAsked {
		f.LookupAsked = true
		cmds = append(cmds, LookupPaymentOwner{ChargeID: o.ChargeID, PaymentIntent: o.PaymentIntent, InvoiceID: f.InvoiceID})
	}
	return cmds
}

// searchUpdate upserts the order's search attributes when they changed.
func (o *Order) searchUpdate() []Command {
	sa := SearchAttributes{CustomerID: o.CustomerID, Status: o.Status()}
	if sa == o.Search {
		return nil
	}
	o.Search = sa
	return []Command{UpsertSearchAttributes(sa)}
}

// describe is the UI line of an invoice's payment.
func (f *InvoicePayment) describe(paymentID string) string {
	what := firstNonEmpty(f.Last, "payment") + " of invoice " + f.InvoiceID
	switch {
	case f.Owner != "":
		what += " forwarded to " + f.Owner
	case f.OwnerKnown:
		what += ": the invoice belongs to no subscription payflow follows, nothing changed"
	default:
		what += ": looking up its subscription"
	}
	return fmt.Sprintf("payment %s (not an order): %s", paymentID, what)
}

func invoiceEventKind(eventType string) string {
	switch {
	case eventType == "charge.refunded":
		return "refund"
	case strings.HasPrefix(eventType, "charge.dispute."):
		return "dispute"
	}
	return eventType
}

// holdForInvoiceLink keeps an event of a payment whose API version no
// longer names the invoice it paid (basil and later) until Stripe says
// whether it paid one: the first such event asks (LookupPaymentOwner, by
// payment intent and charge; the activity reads the payment through
// Stripe's API, pinned to a version that still names the invoice).
func (o Order) holdForInvoiceLink(ev Event) (Order, []Command) {
	o.LinkPending = append(o.LinkPending, ev)
	if o.LinkAsked {
		return o, []Command{Note{What: fmt.Sprintf("%s held: waiting to learn whether the payment paid an invoice", ev.Type)}}
	}
	o.LinkAsked = true
	o.PaymentIntent = firstNonEmpty(o.PaymentIntent, ev.PaymentIntent)
	o.ChargeID = firstNonEmpty(o.ChargeID, ev.ChargeID)
	return o, []Command{
		Note{What: fmt.Sprintf("%s (API %s) does not say whether the payment paid an invoice: asking Stripe before fulfilling", ev.Type, firstNonEmpty(ev.APIVersion, "version unknown"))},
		LookupPaymentOwner{PaymentIntent: o.PaymentIntent, ChargeID: o.ChargeID},
	}
}

// invoiceLinkAnswered applies the answer to holdForInvoiceLink's question:
// a payment that paid an invoice becomes an invoice payment (nothing
// fulfilled; its subscription learns of it through its own invoice
// events), any other is a one-off order and the held events apply.
func (o Order) invoiceLinkAnswered(owner PaymentOwner, now time.Time) (Order, []Command) {
	o.LinkChecked = true
	held := o.LinkPending
	o.LinkPending = nil
	var cmds []Command
	if owner.InvoiceID != "" || strings.HasPrefix(owner.WorkflowID, "subscription/") {
		o.Invoice = &InvoicePayment{InvoiceID: owner.InvoiceID, SubscriptionID: owner.SubscriptionID, OwnerKnown: true}
		if strings.HasPrefix(owner.WorkflowID, "subscription/") {
			o.Invoice.Owner = owner.WorkflowID
		}
		cmds = append(cmds, Note{What: fmt.Sprintf("the payment paid invoice %s (%s): not an order, nothing fulfilled",
			owner.InvoiceID, firstNonEmpty(owner.WorkflowID, "no subscription payflow follows"))})
	} else {
		cmds = append(cmds, Note{What: "the payment paid no invoice: a one-off order"})
	}
	for _, ev := range held {
		var more []Command
		o, more = o.apply(ev, now)
		cmds = append(cmds, more...)
	}
	return o, orderCommands(cmds)
}
