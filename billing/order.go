package billing

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/payflow/payflow"
)

// Order statuses (PayflowStatus of order workflows).
const (
	OrderReceived          = "received"           // nothing paid yet
	OrderAwaitingPayment   = "awaiting_payment"   // Checkout completed, a delayed payment method pending
	OrderPaymentFailed     = "payment_failed"     // the customer may retry on the same intent
	OrderFulfilled         = "fulfilled"          // paid, access granted, receipt sent
	OrderPartiallyRefunded = "partially_refunded" // fulfilled, part of it refunded
	OrderRefunded          = "refunded"           // fully refunded: access revoked
	OrderDisputed          = "disputed"           // a dispute of the payment was lost: access revoked
	OrderCanceled          = "canceled"           // payment intent canceled before payment
	OrderExpired           = "expired"            // Checkout Session expired before payment
	OrderAsyncFailed       = "async_payment_failed"
)

// Order is one one-off purchase, keyed by its payment intent (or its
// Checkout Session when no payment was required).
type Order struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id,omitempty"`
	Email      string `json:"email,omitempty"`
	// CustomerName (checkout customer_details.name, charge
	// billing_details.name, payment intent shipping.name) and ReceiptURL
	// (the charge's receipt page) are for the emails only.
	CustomerName  string `json:"customer_name,omitempty"`
	ReceiptURL    string `json:"receipt_url,omitempty"`
	PaymentIntent string `json:"payment_intent,omitempty"`
	CheckoutID    string `json:"checkout_session,omitempty"`
	ChargeID      string `json:"charge,omitempty"`
	// Products and where they were read from: a stronger source replaces a
	// weaker one whatever the arrival order (ProductFrom* constants).
	Products    []string `json:"products,omitempty"`
	ProductFrom string   `json:"product_from,omitempty"`
	Amount      int64    `json:"amount"`
	Currency    string   `json:"currency,omitempty"`
	Paid        bool     `json:"paid"`
	Fulfilled   bool     `json:"fulfilled"` // receipt sent, access granted (once)
	// Restored: the state was seeded from the stored order (OrderFromRecord)
	// and no payment event has been applied to it in this run yet.
	Restored       bool        `json:"restored,omitempty"`
	Awaiting       bool        `json:"awaiting,omitempty"`
	Failed         bool        `json:"failed,omitempty"`
	FailureReason  string      `json:"failure_reason,omitempty"`
	Closed         string      `json:"closed,omitempty"` // canceled, expired, async_payment_failed (unpaid ends)
	AmountRefunded int64       `json:"amount_refunded,omitempty"`
	FullyRefunded  bool        `json:"fully_refunded,omitempty"`
	Dispute        *DisputeRef `json:"dispute,omitempty"`
	// Invoice is set when the payment turned out to have paid an invoice:
	// not an order; its charge events go to the invoice's subscription.
	Invoice *InvoicePayment `json:"invoice_payment,omitempty"`
	// From API 2025-03-31.basil on a payment intent or charge no longer
	// names its invoice (Event.InvoiceLinkUnknown): the run holds such
	// events (LinkPending) until LookupPaymentOwner says whether the
	// payment paid an invoice (then it is a subscription's, never
	// fulfilled here) or is a one-off payment.
	LinkAsked   bool             `json:"link_asked,omitempty"`
	LinkChecked bool             `json:"link_checked,omitempty"`
	LinkPending []Event          `json:"link_pending,omitempty"`
	Access      []Grant          `json:"access,omitempty"`
	Search      SearchAttributes `json:"search"`
	Seen        []string         `json:"seen,omitempty"`
}

// NewOrder starts the state of order id.
func NewOrder(id string) Order { return Order{ID: id} }

// Source is the access source name of the order.
func (o Order) Source() string { return "order/" + o.ID }

// Status is derived from the facts, so it does not depend on the order in
// which they arrived.
func (o Order) Status() string {
	if o.Invoice != nil {
		return OrderInvoicePayment
	}
	if o.Paid {
		switch {
		case o.FullyRefunded:
			return OrderRefunded
		case o.Dispute != nil && disputeOutcome(o.Dispute.Status) == DisputeLost:
			return OrderDisputed
		case o.AmountRefunded > 0:
			return OrderPartiallyRefunded
		}
		return OrderFulfilled
	}
	switch {
	case o.Closed != "":
		return o.Closed
	case o.Failed:
		return OrderPaymentFailed
	case o.Awaiting:
		return OrderAwaitingPayment
	}
	return OrderReceived
}

// Done reports an order with nothing left to wait for: paid and handled,
// or closed unpaid, or an invoice's payment handed to its owner. Later
// refunds and disputes start a new run seeded with OrderFromRecord.
func (o Order) Done() bool { return o.Paid || o.Closed != "" || o.Invoice.settled() }

// ProductsBought is what access is granted for: the products known, or
// DefaultProduct for a paid order that names none.
func (o Order) ProductsBought() []string {
	if len(o.Products) > 0 || !o.Paid {
		return slices.Clone(o.Products)
	}
	return []string{DefaultProduct}
}

// ApplyOrder applies one event of a one-off payment.
func ApplyOrder(o Order, ev Event, now time.Time) (Order, []Command) {
	o = o.clone()
	var dup bool
	if dup, o.Seen = seen(o.Seen, ev.ID); dup {
		return o, nil
	}
	if ev.InvoiceLinkUnknown && o.Invoice == nil && !o.LinkChecked && !o.Paid && !o.Restored {
		return o.holdForInvoiceLink(ev)
	}
	return o.apply(ev, now)
}

func (o Order) apply(ev Event, now time.Time) (Order, []Command) {
	if o.belongsToInvoice(ev) {
		return o.applyInvoicePayment(ev)
	}
	before := o.recordView()
	var cmds []Command
	note := func(format string, args ...any) { cmds = append(cmds, Note{What: fmt.Sprintf(format, args...)}) }
	o.absorb(ev)
	switch ev.Type {
	case "payment_intent.succeeded", "checkout.session.async_payment_succeeded":
		o.Paid = true
	case "checkout.session.completed":
		if ev.PaymentStatus == "paid" || ev.PaymentStatus == "no_payment_required" {
			o.Paid = true
		} else {
			o.Awaiting = true
			note("checkout completed, waiting for the delayed payment")
		}
	case "checkout.session.async_payment_failed":
		if !o.Paid && o.Closed == "" {
			o.Closed = OrderAsyncFailed
			cmds = append(cmds, o.email("payment-failed", PurposeOrderPaymentFailed))
		}
	case "checkout.session.expired":
		o.Closed = firstNonEmpty(o.Closed, OrderExpired)
	case "payment_intent.canceled":
		o.Closed = firstNonEmpty(o.Closed, OrderCanceled)
	case "payment_intent.payment_failed":
		o.Failed = true
		o.FailureReason = firstNonEmpty(ev.DeclineCode, ev.FailureCode)
		if ev.FailureMessage != "" {
			o.FailureReason += ": " + ev.FailureMessage
		}
	case "charge.refunded":
		cmds = append(cmds, o.refund(ev)...)
	default:
		if strings.HasPrefix(ev.Type, "charge.dispute.") {
			o.Dispute = o.Dispute.apply(ev)
			note("%s: dispute %s", ev.Type, o.Dispute)
		} else {
			note("%s not handled by an order", ev.Type)
		}
	}
	if o.Restored && paymentEvent(ev) {
		o.Restored = false
		if o.Fulfilled && !o.FullyRefunded && o.Dispute == nil {
			// The stored row says fulfilled, but a run that starts from it
			// cannot tell whether the run that wrote it got as far as the
			// access change and the receipt: a worker that dies inside a
			// workflow task leaves its local steps' writes without their
			// history, and the retried task finds the row already written.
			// A fresh payment event therefore re-issues both; the access
			// store and the email ledger (same dedupe key) make each happen
			// once.
			o.Access = nil
			note("fulfilled by an earlier attempt: access and receipt re-issued (each happens once)")
			cmds = append(cmds, o.email("receipt", PurposeReceipt))
		}
	}
	if o.Paid && !o.Fulfilled && !o.FullyRefunded {
		o.Fulfilled = true
		note("paid: fulfilled")
		cmds = append(cmds, o.email("receipt", PurposeReceipt))
	}
	if o.Paid && o.FullyRefunded && !(before.paid && before.fullyRefunded) {
		cmds = append(cmds, o.email("refund", PurposeRefund))
	}
	var access []Command
	o.Access, access = syncGrants(o.CustomerID, o.Source(), o.Access, o.ProductsBought(), o.wantAccess(), 0, "order "+o.Status())
	if o.CustomerID == "" && o.Paid {
		note("guest payment (no Stripe customer): no access to record")
	}
	cmds = append(cmds, access...)
	if rec := o.recordView(); !rec.equal(before) {
		cmds = append(cmds, rec.RecordOrder)
	}
	if sa := (SearchAttributes{CustomerID: o.CustomerID, Status: o.Status()}); sa != o.Search {
		o.Search = sa
		cmds = append(cmds, UpsertSearchAttributes(sa))
	}
	return o, orderCommands(cmds)
}

// paymentEvent is an event that pays an order.
func paymentEvent(ev Event) bool {
	switch ev.Type {
	case "payment_intent.succeeded", "checkout.session.async_payment_succeeded":
		return true
	case "checkout.session.completed":
		return ev.PaymentStatus == "paid" || ev.PaymentStatus == "no_payment_required"
	}
	return false
}

// absorb copies what the event knows, never replacing a value with an
// empty one; the amount comes from payment events only.
func (o *Order) absorb(ev Event) {
	o.CustomerID = firstNonEmpty(o.CustomerID, ev.CustomerID)
	o.Email = firstNonEmpty(o.Email, ev.Email)
	o.CustomerName = firstNonEmpty(o.CustomerName, ev.CustomerName)
	o.ReceiptURL = firstNonEmpty(ev.ReceiptURL, o.ReceiptURL)
	o.PaymentIntent = firstNonEmpty(o.PaymentIntent, ev.PaymentIntent)
	o.CheckoutID = firstNonEmpty(o.CheckoutID, ev.CheckoutID)
	o.ChargeID = firstNonEmpty(o.ChargeID, ev.ChargeID)
	o.Currency = firstNonEmpty(o.Currency, ev.Currency)
	if ev.Amount > 0 && (strings.HasPrefix(ev.Type, "payment_intent.") || strings.HasPrefix(ev.Type, "checkout.session.")) {
		o.Amount = ev.Amount
	}
	rank, products := productRank(ev.ProductFrom), sortedSet(ev.Products)
	switch cur := productRank(o.ProductFrom); {
	case rank == 0 || len(products) == 0:
	case o.ProductFrom == ProductFromStored:
		// The stored products came from the strongest source an earlier
		// run saw, which the row does not name. Line items are the whole
		// list and replace them; metadata only adds a product, so a
		// redelivered weaker event never shrinks what was bought.
		if ev.ProductFrom == ProductFromLineItems {
			o.Products, o.ProductFrom = products, ev.ProductFrom
		} else {
			o.Products = sortedSet(append(slices.Clone(o.Products), products...))
		}
	case rank > cur || len(o.Products) == 0:
		o.Products, o.ProductFrom = products, ev.ProductFrom
	case rank == cur:
		o.Products = sortedSet(append(slices.Clone(o.Products), products...))
	}
}

// refund records charge.refunded. A full refund revokes what the order
// granted (this source only: a subscription granting the same product is
// untouched) and is confirmed by email once the order is paid; a partial
// refund is recorded and leaves access alone. A refund that arrives before
// the payment event is recorded and changes nothing else.
func (o *Order) refund(ev Event) []Command {
	full := ev.Refunded || (ev.Amount > 0 && ev.AmountRefunded >= ev.Amount)
	if ev.AmountRefunded <= o.AmountRefunded && (!full || o.FullyRefunded) {
		return []Command{Note{What: "refund already recorded"}}
	}
	o.AmountRefunded = max(o.AmountRefunded, ev.AmountRefunded)
	o.FullyRefunded = o.FullyRefunded || full
	return []Command{RecordRefund{Source: o.Source(), ChargeID: ev.ChargeID, AmountRefunded: o.AmountRefunded,
		Currency: o.Currency, Full: full, EventID: ev.ID, StripeCreated: ev.Created},
		Note{What: fmt.Sprintf("refunded %s (full: %v)", FormatAmount(o.AmountRefunded, o.Currency), full)}}
}

// wantAccess: nothing before payment; revoked when fully refunded or a
// dispute is lost; suspended while a dispute is open; granted otherwise.
func (o Order) wantAccess() string {
	switch {
	case !o.Paid:
		return ""
	case o.FullyRefunded:
		return AccessRevoked
	case o.Dispute != nil && o.Dispute.Status != "":
		switch disputeOutcome(o.Dispute.Status) {
		case DisputeLost:
			return AccessRevoked
		case DisputeWon:
			return AccessGranted
		}
		return AccessSuspended
	}
	return AccessGranted
}

func (o Order) email(step, purpose string) SendEmail {
	vars := map[string]string{"order_id": o.ID, "product": strings.Join(o.ProductsBought(), ", "), "reason": o.FailureReason}
	setMoney(vars, "amount", "amount_minor", o.Amount, o.Currency)
	setMoney(vars, "refunded", "refunded_minor", o.AmountRefunded, o.Currency)
	if o.CustomerName != "" {
		vars["customer_name"] = o.CustomerName
	}
	if o.ReceiptURL != "" {
		vars["receipt_url"] = o.ReceiptURL
	}
	return SendEmail{DedupeKey: o.Source() + "/" + step, Purpose: purpose, To: o.Email, CustomerID: o.CustomerID, Vars: vars}
}

type orderRecord struct {
	RecordOrder
	paid, fullyRefunded bool
}

func (o Order) recordView() orderRecord {
	return orderRecord{RecordOrder: RecordOrder{OrderID: o.ID, CustomerID: o.CustomerID, Email: o.Email,
		PaymentIntent: o.PaymentIntent, CheckoutID: o.CheckoutID, ChargeID: o.ChargeID, Products: o.ProductsBought(),
		Amount: o.Amount, AmountRefunded: o.AmountRefunded, Currency: o.Currency, Status: o.Status(), Reason: o.FailureReason},
		paid: o.Paid, fullyRefunded: o.FullyRefunded}
}

func (r orderRecord) equal(o orderRecord) bool {
	a, b := r.RecordOrder, o.RecordOrder
	return a.OrderID == b.OrderID && a.CustomerID == b.CustomerID && a.Email == b.Email &&
		a.PaymentIntent == b.PaymentIntent && a.CheckoutID == b.CheckoutID && a.ChargeID == b.ChargeID &&
		slices.Equal(a.Products, b.Products) && a.Amount == b.Amount && a.AmountRefunded == b.AmountRefunded &&
		a.Currency == b.Currency && a.Status == b.Status && a.Reason == b.Reason
}

// ProductFromStored marks products read back from the store
// (OrderFromRecord), which does not keep the source they came from.
const ProductFromStored = "stored"

// OrderFromRecord seeds a new run for an order an earlier run handled (a
// refund or dispute weeks later), from the stored row: the identifiers,
// amounts, cumulative refund and every product, the facts that the row's
// status stands for (a disputed order is paid with a lost dispute), and the
// access the store holds for the order's own source (granted when
// fulfilled or partially refunded, revoked when refunded or disputed), so
// the new run's first event changes only what that event changes.
func OrderFromRecord(r payflow.Order) Order {
	o := Order{ID: r.ID, CustomerID: r.CustomerID, Email: r.Email, PaymentIntent: r.PaymentIntent,
		CheckoutID: r.CheckoutID, ChargeID: r.ChargeID, Amount: r.Amount, Currency: r.Currency,
		AmountRefunded: r.AmountRefunded, FailureReason: r.FailureReason, Restored: true}
	products := r.Products
	if len(products) == 0 && r.ProductID != "" {
		products = []string{r.ProductID} // a row written before Products
	}
	// "default" is what a paid order that named no product was granted:
	// it is not a product read from a source, and a later source replaces it.
	if products = sortedSet(products); !slices.Equal(products, []string{DefaultProduct}) && len(products) > 0 {
		o.Products, o.ProductFrom = products, ProductFromStored
	}
	switch r.Status {
	case payflow.OrderFulfilled, payflow.OrderPartiallyRefunded, payflow.OrderRefunded, payflow.OrderDisputed:
		o.Paid, o.Fulfilled = true, true
		o.FullyRefunded = r.Status == payflow.OrderRefunded
		if r.Status == payflow.OrderDisputed {
			// The row keeps no dispute ID; a closed dispute never reopens,
			// so a redelivered dispute event cannot give access back.
			o.Dispute = &DisputeRef{Status: DisputeLost}
		}
	case payflow.OrderCanceled, payflow.OrderExpired, payflow.OrderAsyncFailed:
		o.Closed = r.Status
	case payflow.OrderFailed:
		o.Failed = true
	case payflow.OrderAwaitingPayment:
		o.Awaiting = true
	}
	if !o.Paid && o.Amount > 0 && o.AmountRefunded >= o.Amount {
		o.FullyRefunded = true // refunded before the payment was seen: a payment never grants
	}
	if o.Paid && o.CustomerID != "" {
		status := AccessGranted
		if r.Status == payflow.OrderRefunded || r.Status == payflow.OrderDisputed {
			status = AccessRevoked
		}
		for _, p := range o.ProductsBought() {
			o.Access = append(o.Access, Grant{ProductID: p, Status: status})
		}
	}
	o.Search = SearchAttributes{CustomerID: o.CustomerID, Status: o.Status()}
	return o
}

func (o Order) clone() Order {
	o.Products = slices.Clone(o.Products)
	o.Access = slices.Clone(o.Access)
	o.Seen = slices.Clone(o.Seen)
	o.Dispute = o.Dispute.clone()
	o.Invoice = o.Invoice.clone()
	o.LinkPending = slices.Clone(o.LinkPending)
	return o
}
