package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/routing"
)

// ErrNotEvent is a verified payload that is not a Stripe event.
var ErrNotEvent = errors.New("payload is not a Stripe event")

// ErrBadID is a verified event carrying an ID Stripe never sends (too long,
// not ASCII, invalid UTF-8). Such an event can never be handed to Temporal
// (workflow IDs and search attributes have size limits), so it is refused
// as malformed rather than answered 503 and retried for days. It wraps
// ErrNotEvent.
var ErrBadID = fmt.Errorf("%w: invalid ID", ErrNotEvent)

// Uninterpretable is a verified, well-formed Stripe event payflow cannot
// read with confidence: an API version family it does not know, a handled
// type whose fields routing needs are missing in that version's shape, a
// livemode or connected account this deployment does not accept. Decode
// returns it together with the envelope's fields (ID, type, API version,
// livemode, account) so the receiver can keep the event in quarantine
// instead of answering a silent 200.
type Uninterpretable struct {
	Reason string // short, stable, for metrics and the quarantine table
	Detail string // what exactly was missing or unexpected, for operators
}

func (u *Uninterpretable) Error() string {
	if u.Detail == "" {
		return "event not interpretable: " + u.Reason
	}
	return "event not interpretable: " + u.Reason + ": " + u.Detail
}

// Is makes errors.Is(err, ErrUninterpretable) true for every Uninterpretable.
func (u *Uninterpretable) Is(target error) bool { return target == ErrUninterpretable }

// ErrUninterpretable matches every *Uninterpretable with errors.Is.
var ErrUninterpretable = errors.New("event not interpretable")

// MaxIDLen bounds every ID the decoder extracts. Stripe's IDs are under
// 100 characters (evt_, pi_, cs_test_… included); 255 leaves room and stays
// far below Temporal's workflow ID and search attribute limits.
const MaxIDLen = 255

// expandable reads a field Stripe sends either as an ID string or, when
// expanded, as an object with an "id". Both decode to the ID.
type expandable string

func (e *expandable) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		*e = ""
	case b[0] == '"':
		// The decoder validated the JSON already: a string without escapes
		// is its bytes (one allocation instead of a nested decode's).
		if n := len(b); n >= 2 && b[n-1] == '"' {
			if raw := b[1 : n-1]; bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
				*e = expandable(raw)
				return nil
			}
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*e = expandable(s)
	case b[0] == '{':
		var o struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*e = expandable(o.ID)
	default:
		return fmt.Errorf("expected an ID or an object, got %.20s", b)
	}
	return nil
}

// emailHolder is customer_details or billing_details: the customer's
// address and name.
type emailHolder struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

type priceRef struct {
	ID      string     `json:"id"`
	Product expandable `json:"product"`
}

// MaxItems bounds the elements read from each list in an object
// (subscription items, invoice lines, Checkout line items), so a signed
// event with a huge list costs allocations for at most this many: the
// decoder skips the rest of a fixed-size array without allocating it.
// Stripe allows 20 items per subscription and 100 line items per Checkout
// Session, so a real list is read whole.
const MaxItems = 100

// item is a subscription item or a Checkout line item. Since
// 2025-03-31.basil a subscription item carries the billing period the
// subscription carried before.
type item struct {
	ID                 string   `json:"id"`
	Price              priceRef `json:"price"`
	Quantity           int64    `json:"quantity"`
	CurrentPeriodStart int64    `json:"current_period_start"`
	CurrentPeriodEnd   int64    `json:"current_period_end"`
}

// itemList reads up to MaxItems elements; one more element only tells
// that the list is longer than that. (A nil element: the list ended.)
type itemList struct {
	Data    [MaxItems + 1]*item `json:"data"`
	HasMore bool                `json:"has_more"`
}

// read returns the items and whether the list was cut short, by Stripe
// (has_more: an embedded list holds one page) or by MaxItems.
func (l *itemList) read() (items []payflow.Item, truncated bool) {
	if l == nil {
		return nil, false
	}
	n := 0
	for n < MaxItems && l.Data[n] != nil {
		n++
	}
	if n > 0 {
		items = make([]payflow.Item, n)
		for i, it := range l.Data[:n] {
			items[i] = payflow.Item{ID: it.ID, PriceID: it.Price.ID, ProductID: string(it.Price.Product), Quantity: it.Quantity}
		}
	}
	return items, l.HasMore || l.Data[MaxItems] != nil
}

// period is the billing period of the item whose period ends first (the
// next time the subscription is invoiced, which is what the subscription's
// own current_period_end said before 2025-03-31.basil); zeros when no item
// carries one.
func (l *itemList) period() (start, end int64) {
	if l == nil {
		return 0, 0
	}
	for _, it := range l.Data[:MaxItems] {
		if it == nil {
			break
		}
		if it.CurrentPeriodEnd > 0 && (end == 0 || it.CurrentPeriodEnd < end) {
			start, end = it.CurrentPeriodStart, it.CurrentPeriodEnd
		}
	}
	return start, end
}

// invoiceParent is an invoice's parent (2025-03-31.basil and later): what
// generated the invoice, and for a subscription's invoice the
// subscription (an ID, or the expanded subscription).
type invoiceParent struct {
	Type                string `json:"type"` // subscription_details, quote_details, …
	SubscriptionDetails *struct {
		Subscription expandable `json:"subscription"`
	} `json:"subscription_details"`
}

func (p *invoiceParent) subscription() string {
	if p == nil || p.SubscriptionDetails == nil {
		return ""
	}
	return string(p.SubscriptionDetails.Subscription)
}

// invoiceLine is one invoice line item: its price as 2023-10-16 renders it
// (price), or as 2025-03-31.basil and later do (pricing.price_details, and
// the subscription it bills in parent).
type invoiceLine struct {
	Price   *priceRef `json:"price"`
	Pricing *struct {
		PriceDetails *struct {
			Price   expandable `json:"price"` // an ID; expandable since 2025-12-15.clover
			Product expandable `json:"product"`
		} `json:"price_details"`
	} `json:"pricing"`
	Parent *struct {
		SubscriptionItemDetails *struct {
			Subscription expandable `json:"subscription"`
		} `json:"subscription_item_details"`
		InvoiceItemDetails *struct {
			Subscription expandable `json:"subscription"`
		} `json:"invoice_item_details"`
	} `json:"parent"`
	Period struct {
		End int64 `json:"end"`
	} `json:"period"`
}

// price is the line's price and product in the family's shape, falling
// back to the other shape.
func (l *invoiceLine) price(family string) (price, product string) {
	var basilPrice, basilProduct string
	if l.Pricing != nil && l.Pricing.PriceDetails != nil {
		basilPrice, basilProduct = string(l.Pricing.PriceDetails.Price), string(l.Pricing.PriceDetails.Product)
	}
	var classicPrice, classicProduct string
	if l.Price != nil {
		classicPrice, classicProduct = l.Price.ID, string(l.Price.Product)
	}
	if family == FamilyBasil {
		if basilPrice != "" || basilProduct != "" {
			return basilPrice, basilProduct
		}
		return classicPrice, classicProduct
	}
	if classicPrice != "" || classicProduct != "" {
		return classicPrice, classicProduct
	}
	return basilPrice, basilProduct
}

// subscription is the subscription the line bills (basil and later).
func (l *invoiceLine) subscription() string {
	switch p := l.Parent; {
	case p == nil:
		return ""
	case p.SubscriptionItemDetails != nil && p.SubscriptionItemDetails.Subscription != "":
		return string(p.SubscriptionItemDetails.Subscription)
	case p.InvoiceItemDetails != nil:
		return string(p.InvoiceItemDetails.Subscription)
	}
	return ""
}

// paymentRef is an invoice payment's payment (2025-03-31.basil and later):
// a payment intent, a charge, or an out-of-band payment.
type paymentRef struct {
	Type          string     `json:"type"`
	PaymentIntent expandable `json:"payment_intent"`
	Charge        expandable `json:"charge"`
}

// invoicePayment is one element of an invoice's payments list.
type invoicePayment struct {
	IsDefault bool       `json:"is_default"`
	Status    string     `json:"status"`
	Payment   paymentRef `json:"payment"`
}

// invoicePayments reads up to MaxItems of an invoice's payments, which
// Stripe includes only when asked (expand[]=payments), never by default.
type invoicePayments struct {
	Data [MaxItems]*invoicePayment `json:"data"`
}

// main is the payment that stands for the invoice's: the default one, else
// the first paid, else the first; nil for none.
func (l *invoicePayments) main() *paymentRef {
	if l == nil || l.Data[0] == nil {
		return nil
	}
	var paid *invoicePayment
	for _, p := range l.Data {
		if p == nil {
			break
		}
		if p.IsDefault {
			return &p.Payment
		}
		if paid == nil && p.Status == "paid" {
			paid = p
		}
	}
	if paid != nil {
		return &paid.Payment
	}
	return &l.Data[0].Payment
}

// invoiceRef reads an invoice field (charge.invoice, payment_intent.invoice):
// an ID, or, when expanded, the invoice's ID and its subscription.
type invoiceRef struct{ ID, Subscription string }

func (r *invoiceRef) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '{' {
		var o struct {
			ID           string         `json:"id"`
			Subscription expandable     `json:"subscription"`
			Parent       *invoiceParent `json:"parent"` // basil and later
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*r = invoiceRef{ID: o.ID, Subscription: firstSet(o.Parent.subscription(), string(o.Subscription))}
		return nil
	}
	var id expandable
	err := id.UnmarshalJSON(b)
	*r = invoiceRef{ID: string(id)}
	return err
}

// chargeRef reads a charge field (dispute.charge, invoice.charge): an ID,
// or, when expanded, the charge's ID, payment intent and invoice.
type chargeRef struct {
	ID, PaymentIntent string
	Invoice           invoiceRef
}

func (r *chargeRef) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '{' {
		var o struct {
			ID            string     `json:"id"`
			PaymentIntent expandable `json:"payment_intent"`
			Invoice       invoiceRef `json:"invoice"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*r = chargeRef{ID: o.ID, PaymentIntent: string(o.PaymentIntent), Invoice: o.Invoice}
		return nil
	}
	var id expandable
	err := id.UnmarshalJSON(b)
	*r = chargeRef{ID: string(id)}
	return err
}

// object is the union of the fields payflow reads from every object type it
// handles, in the shapes of every API version family (version.go): Decode
// picks the paths of the event's family. Unknown fields are skipped by the
// decoder, so the additive monthly versions of a known release decode; in
// a known version a field whose type changed fails the decode and the
// event is refused with a 400 rather than misread (in an unknown version
// the event is Uninterpretable).
type object struct {
	ID              string       `json:"id"`
	Object          string       `json:"object"`
	Customer        expandable   `json:"customer"`
	ReceiptEmail    string       `json:"receipt_email"`
	CustomerEmail   string       `json:"customer_email"`
	CustomerDetails *emailHolder `json:"customer_details"`
	BillingDetails  *emailHolder `json:"billing_details"`
	// For the greeting and links of emails: an invoice's customer_name and
	// invoice_pdf, a payment intent's or charge's shipping.name, a
	// charge's receipt_url.
	CustomerName string `json:"customer_name"`
	Shipping     *struct {
		Name string `json:"name"`
	} `json:"shipping"`
	InvoicePDF    string     `json:"invoice_pdf"`
	ReceiptURL    string     `json:"receipt_url"`
	PaymentIntent expandable `json:"payment_intent"`
	Invoice       invoiceRef `json:"invoice"`
	Subscription  expandable `json:"subscription"`
	Charge        chargeRef  `json:"charge"`
	LatestCharge  expandable `json:"latest_charge"`

	Amount         int64  `json:"amount"`
	AmountTotal    int64  `json:"amount_total"`
	AmountDue      int64  `json:"amount_due"`
	AmountPaid     int64  `json:"amount_paid"`
	AmountRefunded int64  `json:"amount_refunded"`
	Currency       string `json:"currency"`
	Status         string `json:"status"`
	PaymentStatus  string `json:"payment_status"`
	Mode           string `json:"mode"`
	Description    string `json:"description"`

	LastPaymentError *struct {
		Code        string `json:"code"`
		DeclineCode string `json:"decline_code"`
		Message     string `json:"message"`
	} `json:"last_payment_error"`
	FailureCode    string `json:"failure_code"`
	FailureMessage string `json:"failure_message"`

	HostedInvoiceURL   string `json:"hosted_invoice_url"`
	AttemptCount       int64  `json:"attempt_count"`
	BillingReason      string `json:"billing_reason"`
	CollectionMethod   string `json:"collection_method"`
	NextPaymentAttempt int64  `json:"next_payment_attempt"`
	CurrentPeriodStart int64  `json:"current_period_start"`
	CurrentPeriodEnd   int64  `json:"current_period_end"`
	CancelAtPeriodEnd  bool   `json:"cancel_at_period_end"`
	CanceledAt         int64  `json:"canceled_at"`
	TrialEnd           int64  `json:"trial_end"`
	PauseCollection    *struct {
		Behavior string `json:"behavior"`
	} `json:"pause_collection"`
	Refunded bool   `json:"refunded"`
	Reason   string `json:"reason"`

	// Payment method changes: a customer's default for invoices, a
	// payment method's or setup intent's own, the setup intent's usage.
	InvoiceSettings *struct {
		DefaultPaymentMethod expandable `json:"default_payment_method"`
	} `json:"invoice_settings"`
	PaymentMethod expandable `json:"payment_method"`
	Usage         string     `json:"usage"`
	// A subscription's own default payment method (charged before the
	// customer's invoice_settings default).
	DefaultPaymentMethod expandable `json:"default_payment_method"`

	EvidenceDetails *struct {
		DueBy int64 `json:"due_by"`
	} `json:"evidence_details"`
	// Lists are fixed-size arrays (see MaxItems): a signed event with a
	// huge list costs no more memory than MaxItems elements.
	Items     *itemList `json:"items"`      // subscriptions
	LineItems *itemList `json:"line_items"` // Checkout Sessions, when expanded
	Lines     *struct {
		Data [MaxItems]*invoiceLine `json:"data"`
	} `json:"lines"`

	// 2025-03-31.basil and later: an invoice's parent (its subscription),
	// its payments when included, and an invoice_payment's payment.
	Parent   *invoiceParent   `json:"parent"`
	Payments *invoicePayments `json:"payments"`
	Payment  *paymentRef      `json:"payment"`
	// Only metadata.product is read; a struct instead of a map skips the
	// other keys without allocating them.
	Metadata *struct {
		Product string `json:"product"`
	} `json:"metadata"`
}

// envelopeHead is the part of an event that has the same shape in every
// API version: enough to name, count and quarantine an event whose object
// cannot be read.
type envelopeHead struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Type       string `json:"type"`
	Created    int64  `json:"created"`
	APIVersion string `json:"api_version"`
	Livemode   bool   `json:"livemode"`
	Account    string `json:"account"` // Connect: the connected account
}

func (h *envelopeHead) event() payflow.Event {
	return payflow.Event{ID: h.ID, Type: h.Type, Created: h.Created, APIVersion: h.APIVersion, Livemode: h.Livemode, Account: h.Account}
}

// check refuses what is no Stripe event at all.
func (h *envelopeHead) check() error {
	if h.ID == "" || h.Type == "" || (h.Object != "" && h.Object != "event") {
		return fmt.Errorf("%w: missing id or type", ErrNotEvent)
	}
	return nil
}

type envelope struct {
	envelopeHead
	Data struct {
		Object             *object             `json:"object"`
		PreviousAttributes *previousAttributes `json:"previous_attributes"`
	} `json:"data"`
}

// previousAttributes is the part of an update event's previous values
// payflow reads. Only invoice_settings.default_payment_method is read,
// raw: absent (nil) and null (the customer had none) mean different things.
type previousAttributes struct {
	InvoiceSettings *struct {
		DefaultPaymentMethod json.RawMessage `json:"default_payment_method"`
	} `json:"invoice_settings"`
	DefaultPaymentMethod json.RawMessage `json:"default_payment_method"` // a subscription's
}

// Decode reads a verified payload into a payflow.Event, with the field
// paths of the event's API version family (APIFamilyOf).
//
// A well-formed event payflow cannot read with confidence is returned with
// an *Uninterpretable error (errors.Is(err, ErrUninterpretable)) and the
// envelope's fields filled (ID, type, created, API version, livemode,
// account), so the caller can keep it in quarantine instead of answering
// it: an API version of no family payflow knows (unknown_api_version;
// its object is not read), or a handled type whose object lacks, in its
// version's shape, a field routing needs (missing_fields; the event is
// then decoded as far as it goes). Any other error is ErrNotEvent (or
// ErrBadID, which wraps it): the payload is not a Stripe event payflow
// could ever read.
func Decode(payload []byte) (payflow.Event, error) {
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return decodeHead(payload, err)
	}
	if err := env.check(); err != nil {
		return payflow.Event{}, err
	}
	if env.Data.Object == nil {
		return payflow.Event{}, fmt.Errorf("%w: missing data.object", ErrNotEvent)
	}
	family, u := familyOf(env.APIVersion)
	if u != nil {
		return quarantined(env.event(), u)
	}
	o := env.Data.Object
	ev := env.event()
	ev.APIFamily = family
	ev.ObjectType, ev.ObjectID, ev.CustomerID = o.Object, o.ID, string(o.Customer)
	ev.Currency, ev.Status, ev.PaymentStatus, ev.Mode = o.Currency, o.Status, o.PaymentStatus, o.Mode
	ev.Description, ev.HostedInvoiceURL, ev.AttemptCount = o.Description, o.HostedInvoiceURL, o.AttemptCount
	ev.BillingReason, ev.CurrentPeriodEnd, ev.CancelAtPeriodEnd = o.BillingReason, o.CurrentPeriodEnd, o.CancelAtPeriodEnd
	ev.CanceledAt, ev.TrialEnd, ev.Refunded, ev.AmountRefunded = o.CanceledAt, o.TrialEnd, o.Refunded, o.AmountRefunded
	ev.FailureCode, ev.FailureMessage = o.FailureCode, o.FailureMessage
	ev.PaymentIntent, ev.InvoiceID = string(o.PaymentIntent), o.Invoice.ID
	ev.SubscriptionID, ev.ChargeID = firstSet(string(o.Subscription), o.Invoice.Subscription), o.Charge.ID
	ev.CollectionMethod = o.CollectionMethod
	if o.LastPaymentError != nil {
		ev.DeclineCode = o.LastPaymentError.DeclineCode
		ev.FailureCode = o.LastPaymentError.Code
		ev.FailureMessage = o.LastPaymentError.Message
	}
	if o.Metadata != nil {
		ev.ProductID, ev.MetadataProduct = o.Metadata.Product, o.Metadata.Product
	}
	switch o.Object {
	case "payment_intent":
		ev.PaymentIntent, ev.Amount, ev.Email = o.ID, o.Amount, o.ReceiptEmail
		ev.ChargeID = string(o.LatestCharge)
		ev.CustomerName = shippingName(o)
	case "checkout.session":
		ev.CheckoutID, ev.Amount = o.ID, o.AmountTotal
		if o.CustomerDetails != nil {
			ev.Email = o.CustomerDetails.Email
			ev.CustomerName = payflow.CleanName(o.CustomerDetails.Name)
		}
		ev.LineItems, ev.LineItemsTruncated = o.LineItems.read()
	case "invoice":
		decodeInvoice(&ev, o, family)
	case "invoice_payment":
		// What links a payment to an invoice since 2025-03-31.basil.
		ev.InvoiceID, ev.Amount, ev.AmountPaid = o.Invoice.ID, o.AmountPaid, o.AmountPaid
		if p := o.Payment; p != nil {
			ev.PaymentIntent, ev.ChargeID = string(p.PaymentIntent), string(p.Charge)
		}
	case "subscription":
		ev.SubscriptionID, ev.CurrentPeriodStart = o.ID, o.CurrentPeriodStart
		if start, end := o.Items.period(); end > 0 && (family == FamilyBasil || ev.CurrentPeriodEnd == 0) {
			ev.CurrentPeriodStart, ev.CurrentPeriodEnd = start, end
		}
		if o.PauseCollection != nil {
			ev.PauseCollection = o.PauseCollection.Behavior
		}
		ev.Items, ev.ItemsTruncated = o.Items.read()
		if len(ev.Items) > 0 {
			it := ev.Items[0]
			ev.PriceID, ev.ProductID = it.PriceID, firstSet(ev.ProductID, it.ProductID)
		}
		if env.Type == "customer.subscription.updated" && env.Data.PreviousAttributes != nil {
			ev.PaymentMethod = changedTo(env.Data.PreviousAttributes.DefaultPaymentMethod, string(o.DefaultPaymentMethod))
		}
	case "charge":
		ev.ChargeID, ev.Amount, ev.Email = o.ID, o.Amount, firstSet(o.ReceiptEmail, billingEmail(o))
		ev.ReceiptURL = o.ReceiptURL
		if o.BillingDetails != nil {
			ev.CustomerName = payflow.CleanName(o.BillingDetails.Name)
		}
		ev.CustomerName = firstSet(ev.CustomerName, shippingName(o))
	case "customer":
		ev.CustomerID = o.ID
		ev.PaymentMethod = defaultPaymentMethodChange(env.Type, o, env.Data.PreviousAttributes)
	case "payment_method":
		if env.Type == "payment_method.attached" {
			ev.PaymentMethod = o.ID
		}
	case "setup_intent":
		if env.Type == "setup_intent.succeeded" && o.Usage == "off_session" {
			ev.PaymentMethod = string(o.PaymentMethod)
		}
	case "dispute":
		ev.DisputeID, ev.Amount, ev.DisputeReason = o.ID, o.Amount, o.Reason
		if o.EvidenceDetails != nil {
			ev.EvidenceDueBy = o.EvidenceDetails.DueBy
		}
		// An expanded charge tells what the disputed payment paid.
		ev.PaymentIntent = firstSet(ev.PaymentIntent, o.Charge.PaymentIntent)
		ev.InvoiceID, ev.SubscriptionID = firstSet(ev.InvoiceID, o.Charge.Invoice.ID), firstSet(ev.SubscriptionID, o.Charge.Invoice.Subscription)
	}
	// Since basil a payment intent or charge names no invoice: an empty
	// InvoiceID no longer means a one-off payment.
	if family == FamilyBasil && (o.Object == "payment_intent" || o.Object == "charge") && ev.InvoiceID == "" {
		ev.InvoiceLinkUnknown = true
	}
	if err := checkIDs(&ev); err != nil {
		return payflow.Event{}, err
	}
	if detail := missingFields(&ev, o); detail != "" {
		return ev, &Uninterpretable{Reason: ReasonMissingFields, Detail: detail}
	}
	return ev, nil
}

// decodeHead answers a payload whose object did not decode: when its
// envelope reads and its API version is one payflow does not know, the
// object's shape is simply not one payflow reads (a field changed type in
// a newer release), so it is Uninterpretable, not malformed. Anything else
// is not an event payflow could ever read.
func decodeHead(payload []byte, decodeErr error) (payflow.Event, error) {
	var head envelopeHead
	if json.Unmarshal(payload, &head) == nil && head.check() == nil {
		if _, u := familyOf(head.APIVersion); u != nil {
			return quarantined(head.event(), u)
		}
	}
	return payflow.Event{}, fmt.Errorf("%w: %v", ErrNotEvent, decodeErr)
}

// quarantined returns the envelope's event with u, unless the envelope's
// own IDs could never name a workflow or a quarantined event (ErrBadID).
func quarantined(ev payflow.Event, u *Uninterpretable) (payflow.Event, error) {
	if err := checkIDs(&ev); err != nil {
		return payflow.Event{}, err
	}
	return ev, u
}

// decodeInvoice reads an invoice in its family's shape: the subscription,
// the charge (from the payments list since basil), the lines' period and
// the first line's price.
func decodeInvoice(ev *payflow.Event, o *object, family string) {
	ev.InvoiceID, ev.Email = o.ID, o.CustomerEmail
	ev.CustomerName, ev.InvoicePDF = payflow.CleanName(o.CustomerName), o.InvoicePDF
	ev.AmountDue, ev.AmountPaid, ev.NextPaymentAttempt = o.AmountDue, o.AmountPaid, o.NextPaymentAttempt
	ev.Amount = o.AmountDue
	if o.AmountPaid > 0 {
		ev.Amount = o.AmountPaid
	}
	// The intent of an invoice belongs to the invoice; keep it off the
	// event so order routing never mistakes it for a one-off payment.
	ev.PaymentIntent = ""
	if family == FamilyBasil {
		ev.SubscriptionID = firstSet(o.Parent.subscription(), string(o.Subscription))
		if p := o.Payments.main(); p != nil {
			ev.ChargeID = firstSet(ev.ChargeID, string(p.Charge))
		}
	}
	if o.Lines == nil {
		return
	}
	for _, line := range o.Lines.Data {
		if line == nil {
			break
		}
		ev.PeriodEnd = max(ev.PeriodEnd, line.Period.End)
		if family == FamilyBasil && ev.SubscriptionID == "" {
			ev.SubscriptionID = line.subscription()
		}
	}
	if line := o.Lines.Data[0]; line != nil {
		ev.CurrentPeriodEnd = line.Period.End
		if price, product := line.price(family); price != "" || product != "" {
			ev.PriceID, ev.ProductID = price, firstSet(ev.ProductID, product)
		}
	}
}

// missingFields names what a handled event lacks that its version's shape
// should carry, or "". An invoice that a subscription generated (its
// billing_reason subscription_*, or since basil its parent's type
// subscription_details) but names no subscription at any of the family's
// paths cannot be routed: skipping it as a one-off invoice would lose a
// subscription's payment or failure. A genuine one-off invoice (manual,
// no parent) is not missing anything; routing skips it.
func missingFields(ev *payflow.Event, o *object) string {
	if _, handled := routing.Routes[ev.Type]; !handled || o.Object != "invoice" || ev.SubscriptionID != "" {
		return ""
	}
	bySubscription := strings.HasPrefix(ev.BillingReason, "subscription")
	parent := ""
	if o.Parent != nil {
		parent = o.Parent.Type
		bySubscription = bySubscription || parent == "subscription_details"
	}
	if !bySubscription {
		return ""
	}
	where := families[0].Subscription
	if ev.APIFamily == FamilyBasil {
		where = families[1].Subscription
	}
	return fmt.Sprintf("invoice %s (billing_reason %q, parent type %q) names no subscription; %s events carry it at: %s",
		ev.InvoiceID, clip(ev.BillingReason), clip(parent), ev.APIFamily, where)
}

// defaultPaymentMethodChange is the customer's new default payment method
// for invoices when customer.updated changed it (previous_attributes name
// the field, with another value or null), else "": any other update of the
// customer (email, address, metadata) retries nothing.
func defaultPaymentMethodChange(typ string, o *object, prev *previousAttributes) string {
	if typ != "customer.updated" || o.InvoiceSettings == nil || prev == nil || prev.InvoiceSettings == nil ||
		prev.InvoiceSettings.DefaultPaymentMethod == nil {
		return ""
	}
	return changedTo(prev.InvoiceSettings.DefaultPaymentMethod, string(o.InvoiceSettings.DefaultPaymentMethod))
}

// changedTo is now when previous_attributes named the field (prev present:
// another value or null) and now is a different, non-empty payment method;
// else "".
func changedTo(prev json.RawMessage, now string) string {
	if prev == nil || now == "" {
		return ""
	}
	var before expandable
	if err := before.UnmarshalJSON(prev); err != nil || now == string(before) {
		return ""
	}
	return now
}

// checkIDs refuses an event whose IDs could never key a workflow or a
// search attribute. Stripe's IDs are short ASCII: letters, digits and
// underscores (a hyphen is tolerated). Event types are lower-case words
// joined by dots. The product may come from the merchant's own metadata,
// so it may be any printable text, within the same length. Every item's
// and line item's ID, price and product are checked the same way. An empty
// ID is left to routing (a handled type without its key is skipped).
func checkIDs(ev *payflow.Event) error {
	if !isToken(ev.Type, true) {
		return fmt.Errorf("%w: type (%d bytes)", ErrBadID, len(ev.Type))
	}
	ids := [...]struct {
		name, v string
	}{
		{"id", ev.ID}, {"account", ev.Account}, {"data.object.id", ev.ObjectID}, {"customer", ev.CustomerID},
		{"payment_intent", ev.PaymentIntent}, {"checkout session", ev.CheckoutID},
		{"invoice", ev.InvoiceID}, {"subscription", ev.SubscriptionID}, {"charge", ev.ChargeID},
		{"dispute", ev.DisputeID}, {"price", ev.PriceID}, {"payment_method", ev.PaymentMethod},
	}
	for _, id := range ids {
		if id.v != "" && !isToken(id.v, false) {
			return fmt.Errorf("%w: %s (%d bytes; want at most %d of A-Z a-z 0-9 _ -)", ErrBadID, id.name, len(id.v), MaxIDLen)
		}
	}
	// A product ID may be the merchant's own text (metadata, or a custom
	// product ID), so any printable text within MaxIDLen is allowed.
	for _, p := range [...]struct{ name, v string }{{"product", ev.ProductID}, {"metadata.product", ev.MetadataProduct}} {
		if p.v != "" && !isPrintable(p.v) {
			return badProduct(p.name, p.v)
		}
	}
	for _, list := range [...]struct {
		name  string
		items []payflow.Item
	}{{"items", ev.Items}, {"line_items", ev.LineItems}} {
		for i, it := range list.items {
			for _, id := range [...]struct{ field, v string }{{"id", it.ID}, {"price", it.PriceID}} {
				if id.v != "" && !isToken(id.v, false) {
					return fmt.Errorf("%w: %s[%d].%s (%d bytes; want at most %d of A-Z a-z 0-9 _ -)", ErrBadID, list.name, i, id.field, len(id.v), MaxIDLen)
				}
			}
			if p := it.ProductID; p != "" && !isPrintable(p) {
				return badProduct(fmt.Sprintf("%s[%d].price.product", list.name, i), p)
			}
		}
	}
	return nil
}

func badProduct(name, p string) error {
	return fmt.Errorf("%w: %s (%d bytes; want at most %d printable characters)", ErrBadID, name, len(p), MaxIDLen)
}

// isToken: 1 to MaxIDLen of [A-Za-z0-9_-], and '.' when dots is set.
func isToken(s string, dots bool) bool {
	if s == "" || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		case c == '.' && dots:
		default:
			return false
		}
	}
	return true
}

// isPrintable: at most MaxIDLen bytes of valid UTF-8 without control
// characters or U+FFFD (what the JSON decoder makes of invalid UTF-8).
func isPrintable(s string) bool {
	if len(s) > MaxIDLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f || r == utf8.RuneError || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// shippingName is the name a payment intent or charge ships to, the
// only name a payment intent carries.
func shippingName(o *object) string {
	if o.Shipping != nil {
		return payflow.CleanName(o.Shipping.Name)
	}
	return ""
}

func billingEmail(o *object) string {
	if o.BillingDetails != nil {
		return o.BillingDetails.Email
	}
	return ""
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
