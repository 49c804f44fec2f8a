package billing

import (
	"slices"
	"strings"

	"github.com/payflow/payflow"
)

// Event is what the core reads from one Stripe event. It is a superset of
// payflow.Event: subscriptions have several items, an invoice's paid and due
// amounts differ, and the product a one-off payment buys comes with where it
// was read from. FromPayflow fills it from what the receiver decodes.
type Event struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"` // Stripe's clock, Unix seconds
	// APIVersion is the Stripe API version the event was rendered in.
	APIVersion string `json:"api_version,omitempty"`
	// InvoiceLinkUnknown: a payment intent's or charge's event whose API
	// version no longer names the invoice it paid (payflow.Event's).
	InvoiceLinkUnknown bool `json:"invoice_link_unknown,omitempty"`

	CustomerID     string `json:"customer_id,omitempty"`
	Email          string `json:"email,omitempty"`
	CustomerName   string `json:"customer_name,omitempty"` // for emails (payflow.Event's)
	PaymentIntent  string `json:"payment_intent,omitempty"`
	CheckoutID     string `json:"checkout_session,omitempty"`
	InvoiceID      string `json:"invoice,omitempty"`
	SubscriptionID string `json:"subscription,omitempty"`
	ChargeID       string `json:"charge,omitempty"`
	DisputeID      string `json:"dispute,omitempty"`

	// Amount: payment intent amount, checkout amount_total, charge amount,
	// dispute amount. Invoices use AmountDue and AmountPaid.
	Amount         int64  `json:"amount,omitempty"`
	AmountDue      int64  `json:"amount_due,omitempty"`
	AmountPaid     int64  `json:"amount_paid,omitempty"`
	AmountRefunded int64  `json:"amount_refunded,omitempty"` // charge: cumulative
	Refunded       bool   `json:"refunded,omitempty"`        // charge: fully refunded
	ReceiptURL     string `json:"receipt_url,omitempty"`     // charge: its receipt page
	Currency       string `json:"currency,omitempty"`
	Status         string `json:"status,omitempty"` // the object's own status
	PaymentStatus  string `json:"payment_status,omitempty"`
	Mode           string `json:"mode,omitempty"`

	DeclineCode    string `json:"decline_code,omitempty"`
	FailureCode    string `json:"failure_code,omitempty"`
	FailureMessage string `json:"failure_message,omitempty"`

	// Invoices.
	HostedInvoiceURL   string `json:"hosted_invoice_url,omitempty"`
	InvoicePDF         string `json:"invoice_pdf,omitempty"`
	AttemptCount       int64  `json:"attempt_count,omitempty"`
	BillingReason      string `json:"billing_reason,omitempty"`
	CollectionMethod   string `json:"collection_method,omitempty"`
	NextPaymentAttempt int64  `json:"next_payment_attempt,omitempty"`
	PeriodEnd          int64  `json:"period_end,omitempty"` // the invoice's own service period end (its lines)

	// A change of the customer's payment method (cardupdate.go): the new
	// default, the attached method or the set-up one; set only for a real
	// change (payflow.Event.PaymentMethod).
	PaymentMethod string `json:"payment_method,omitempty"`

	// Subscriptions (customer.subscription.* snapshots).
	Items              []Item `json:"items,omitempty"`
	CurrentPeriodStart int64  `json:"current_period_start,omitempty"`
	CurrentPeriodEnd   int64  `json:"current_period_end,omitempty"`
	CancelAtPeriodEnd  bool   `json:"cancel_at_period_end,omitempty"`
	TrialEnd           int64  `json:"trial_end,omitempty"`
	PauseCollection    string `json:"pause_collection,omitempty"` // behavior: keep_as_draft, mark_uncollectible, void

	// One-off payments: the products bought and where they were read from.
	Products    []string `json:"products,omitempty"`
	ProductFrom string   `json:"product_from,omitempty"` // ProductFrom* constants

	// Disputes.
	DisputeReason string `json:"dispute_reason,omitempty"`
	EvidenceDueBy int64  `json:"evidence_due_by,omitempty"`
}

// Item is one subscription item: a price of a product, times a quantity.
type Item struct {
	ID        string `json:"id,omitempty"` // si_…
	PriceID   string `json:"price,omitempty"`
	ProductID string `json:"product"`
	Quantity  int64  `json:"quantity,omitempty"`
}

// Where a one-off payment's product was read from, weakest first. A
// stronger source always wins over a weaker one, whichever event arrives
// first, so an order's product never depends on delivery order.
const (
	ProductFromPaymentMetadata  = "payment_metadata"  // metadata.product of the payment intent or charge
	ProductFromCheckoutMetadata = "checkout_metadata" // metadata.product of the Checkout Session
	ProductFromLineItems        = "line_items"        // the Checkout Session's line items (price.product)
)

func productRank(from string) int {
	switch from {
	case ProductFromPaymentMetadata:
		return 1
	case ProductFromCheckoutMetadata:
		return 2
	case ProductFromLineItems:
		return 3
	}
	return 0
}

// FromPayflow converts what the receiver decodes (payflow.Event), field by
// field, without guessing:
//   - Amount is the payment intent's amount, the Checkout Session's
//     amount_total, the charge's or the dispute's amount; invoices carry
//     AmountDue and AmountPaid instead (payflow.Event.Amount merges them for
//     older readers and is not used for invoices);
//   - a subscription snapshot gets every item; when the receiver could not
//     read the whole list (ItemsTruncated) it gets none, so the core keeps
//     the items it knows rather than revoke products it did not see;
//   - CurrentPeriodStart and CurrentPeriodEnd come from subscriptions only
//     (on invoices payflow.Event.CurrentPeriodEnd is an older name for a
//     line's period end); an invoice's own period is PeriodEnd;
//   - a Checkout Session's products are its line items' products
//     (ProductFromLineItems) when the whole list is there, else its
//     metadata.product (ProductFromCheckoutMetadata); a payment intent's or
//     charge's metadata.product is ProductFromPaymentMetadata. A partial
//     list of line items is not used: the strongest source replaces the
//     products of weaker ones, so a partial list would drop products bought.
//
// A charge's subscription is known only when its invoice was expanded, a
// dispute's invoice and subscription only when its charge was: Stripe's
// 2023-10-16 webhook events carry IDs, so the core asks (LookupPaymentOwner).
func FromPayflow(e payflow.Event) Event {
	out := Event{
		ID: e.ID, Type: e.Type, Created: e.Created, APIVersion: e.APIVersion, InvoiceLinkUnknown: e.InvoiceLinkUnknown,
		CustomerID: e.CustomerID, Email: e.Email, CustomerName: e.CustomerName, PaymentIntent: e.PaymentIntent, CheckoutID: e.CheckoutID,
		InvoiceID: e.InvoiceID, SubscriptionID: e.SubscriptionID, ChargeID: e.ChargeID, DisputeID: e.DisputeID,
		Amount: e.Amount, AmountRefunded: e.AmountRefunded, Refunded: e.Refunded, Currency: e.Currency,
		Status: e.Status, PaymentStatus: e.PaymentStatus, Mode: e.Mode,
		DeclineCode: e.DeclineCode, FailureCode: e.FailureCode, FailureMessage: e.FailureMessage,
		HostedInvoiceURL: e.HostedInvoiceURL, InvoicePDF: e.InvoicePDF, ReceiptURL: e.ReceiptURL,
		AttemptCount: e.AttemptCount, BillingReason: e.BillingReason,
		CollectionMethod:  e.CollectionMethod,
		CancelAtPeriodEnd: e.CancelAtPeriodEnd, TrialEnd: e.TrialEnd,
		DisputeReason: e.DisputeReason, EvidenceDueBy: e.EvidenceDueBy,
		PaymentMethod: e.PaymentMethod,
	}
	switch e.ObjectType {
	case "subscription":
		out.CurrentPeriodStart, out.CurrentPeriodEnd = e.CurrentPeriodStart, e.CurrentPeriodEnd
		out.PauseCollection = e.PauseCollection
		if !e.ItemsTruncated {
			out.Items = fromPayflowItems(e.Items)
		}
	case "invoice":
		out.Amount = 0
		out.AmountDue, out.AmountPaid = e.AmountDue, e.AmountPaid
		out.NextPaymentAttempt, out.PeriodEnd = e.NextPaymentAttempt, e.PeriodEnd
	case "checkout.session":
		if products := lineItemProducts(e); len(products) > 0 {
			out.Products, out.ProductFrom = products, ProductFromLineItems
		} else if e.MetadataProduct != "" {
			out.Products, out.ProductFrom = []string{e.MetadataProduct}, ProductFromCheckoutMetadata
		}
	case "payment_intent", "charge":
		if e.MetadataProduct != "" {
			out.Products, out.ProductFrom = []string{e.MetadataProduct}, ProductFromPaymentMetadata
		}
	}
	return out
}

// fromPayflowItems copies the receiver's items; nil for none.
func fromPayflowItems(in []payflow.Item) []Item {
	if len(in) == 0 {
		return nil
	}
	out := make([]Item, len(in))
	for i, it := range in {
		out[i] = Item{ID: it.ID, PriceID: it.PriceID, ProductID: it.ProductID, Quantity: it.Quantity}
	}
	return out
}

// lineItemProducts: the products of a Checkout Session's line items when
// the receiver read the whole list, else none.
func lineItemProducts(e payflow.Event) []string {
	if e.LineItemsTruncated {
		return nil
	}
	return itemProducts(fromPayflowItems(e.LineItems))
}

// products returns the sorted, distinct, non-empty product IDs of items.
func itemProducts(items []Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.ProductID)
	}
	return sortedSet(out)
}

func sortedSet(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
