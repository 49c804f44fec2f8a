package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/payflow/payflow"
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

type emailHolder struct {
	Email string `json:"email"`
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

// item is a subscription item or a Checkout line item.
type item struct {
	ID       string   `json:"id"`
	Price    priceRef `json:"price"`
	Quantity int64    `json:"quantity"`
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

// invoiceRef reads an invoice field (charge.invoice, payment_intent.invoice):
// an ID, or, when expanded, the invoice's ID and its subscription.
type invoiceRef struct{ ID, Subscription string }

func (r *invoiceRef) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '{' {
		var o struct {
			ID           string     `json:"id"`
			Subscription expandable `json:"subscription"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*r = invoiceRef{ID: o.ID, Subscription: string(o.Subscription)}
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
// handles. Unknown fields are skipped by the decoder, so an event from a
// newer API version decodes as long as these fields keep their meaning;
// a field whose type changed fails the decode and the event is refused
// with a 400 rather than misread.
type object struct {
	ID              string       `json:"id"`
	Object          string       `json:"object"`
	Customer        expandable   `json:"customer"`
	ReceiptEmail    string       `json:"receipt_email"`
	CustomerEmail   string       `json:"customer_email"`
	CustomerDetails *emailHolder `json:"customer_details"`
	BillingDetails  *emailHolder `json:"billing_details"`
	PaymentIntent   expandable   `json:"payment_intent"`
	Invoice         invoiceRef   `json:"invoice"`
	Subscription    expandable   `json:"subscription"`
	Charge          chargeRef    `json:"charge"`
	LatestCharge    expandable   `json:"latest_charge"`

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

	EvidenceDetails *struct {
		DueBy int64 `json:"due_by"`
	} `json:"evidence_details"`
	// Lists are fixed-size arrays (see MaxItems): a signed event with a
	// huge list costs no more memory than MaxItems elements.
	Items     *itemList `json:"items"`      // subscriptions
	LineItems *itemList `json:"line_items"` // Checkout Sessions, when expanded
	Lines     *struct {
		Data [MaxItems]*struct {
			Price  *priceRef `json:"price"`
			Period struct {
				End int64 `json:"end"`
			} `json:"period"`
		} `json:"data"`
	} `json:"lines"`
	// Only metadata.product is read; a struct instead of a map skips the
	// other keys without allocating them.
	Metadata *struct {
		Product string `json:"product"`
	} `json:"metadata"`
}

type envelope struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Type       string `json:"type"`
	Created    int64  `json:"created"`
	APIVersion string `json:"api_version"`
	Livemode   bool   `json:"livemode"`
	Data       struct {
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
}

// Decode reads a verified payload into a payflow.Event.
func Decode(payload []byte) (payflow.Event, error) {
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return payflow.Event{}, fmt.Errorf("%w: %v", ErrNotEvent, err)
	}
	if env.ID == "" || env.Type == "" || (env.Object != "" && env.Object != "event") {
		return payflow.Event{}, fmt.Errorf("%w: missing id or type", ErrNotEvent)
	}
	if env.Data.Object == nil {
		return payflow.Event{}, fmt.Errorf("%w: missing data.object", ErrNotEvent)
	}
	o := env.Data.Object
	ev := payflow.Event{
		ID: env.ID, Type: env.Type, Created: env.Created, APIVersion: env.APIVersion, Livemode: env.Livemode,
		ObjectType: o.Object, ObjectID: o.ID, CustomerID: string(o.Customer),
		Currency: o.Currency, Status: o.Status, PaymentStatus: o.PaymentStatus, Mode: o.Mode,
		Description: o.Description, HostedInvoiceURL: o.HostedInvoiceURL, AttemptCount: o.AttemptCount,
		BillingReason: o.BillingReason, CurrentPeriodEnd: o.CurrentPeriodEnd, CancelAtPeriodEnd: o.CancelAtPeriodEnd,
		CanceledAt: o.CanceledAt, TrialEnd: o.TrialEnd, Refunded: o.Refunded, AmountRefunded: o.AmountRefunded,
		FailureCode: o.FailureCode, FailureMessage: o.FailureMessage,
		PaymentIntent: string(o.PaymentIntent), InvoiceID: o.Invoice.ID,
		SubscriptionID: firstSet(string(o.Subscription), o.Invoice.Subscription), ChargeID: o.Charge.ID,
		CollectionMethod: o.CollectionMethod,
	}
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
	case "checkout.session":
		ev.CheckoutID, ev.Amount = o.ID, o.AmountTotal
		if o.CustomerDetails != nil {
			ev.Email = o.CustomerDetails.Email
		}
		ev.LineItems, ev.LineItemsTruncated = o.LineItems.read()
	case "invoice":
		ev.InvoiceID, ev.Email = o.ID, o.CustomerEmail
		ev.AmountDue, ev.AmountPaid, ev.NextPaymentAttempt = o.AmountDue, o.AmountPaid, o.NextPaymentAttempt
		ev.Amount = o.AmountDue
		if o.AmountPaid > 0 {
			ev.Amount = o.AmountPaid
		}
		// The intent of an invoice belongs to the invoice; keep it off the
		// event so order routing never mistakes it for a one-off payment.
		ev.PaymentIntent = ""
		if o.Lines != nil {
			for _, line := range o.Lines.Data {
				if line == nil {
					break
				}
				ev.PeriodEnd = max(ev.PeriodEnd, line.Period.End)
			}
			if line := o.Lines.Data[0]; line != nil {
				ev.CurrentPeriodEnd = line.Period.End
				if line.Price != nil {
					ev.PriceID, ev.ProductID = line.Price.ID, firstSet(ev.ProductID, string(line.Price.Product))
				}
			}
		}
	case "subscription":
		ev.SubscriptionID, ev.CurrentPeriodStart = o.ID, o.CurrentPeriodStart
		if o.PauseCollection != nil {
			ev.PauseCollection = o.PauseCollection.Behavior
		}
		ev.Items, ev.ItemsTruncated = o.Items.read()
		if len(ev.Items) > 0 {
			it := ev.Items[0]
			ev.PriceID, ev.ProductID = it.PriceID, firstSet(ev.ProductID, it.ProductID)
		}
	case "charge":
		ev.ChargeID, ev.Amount, ev.Email = o.ID, o.Amount, firstSet(o.ReceiptEmail, billingEmail(o))
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
	if err := checkIDs(&ev); err != nil {
		return payflow.Event{}, err
	}
	return ev, nil
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
	var before expandable
	if err := before.UnmarshalJSON(prev.InvoiceSettings.DefaultPaymentMethod); err != nil {
		return ""
	}
	now := string(o.InvoiceSettings.DefaultPaymentMethod)
	if now == "" || now == string(before) {
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
		{"id", ev.ID}, {"data.object.id", ev.ObjectID}, {"customer", ev.CustomerID},
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
