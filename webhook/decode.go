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
	Invoice         expandable   `json:"invoice"`
	Subscription    expandable   `json:"subscription"`
	Charge          expandable   `json:"charge"`
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

	HostedInvoiceURL  string `json:"hosted_invoice_url"`
	AttemptCount      int64  `json:"attempt_count"`
	BillingReason     string `json:"billing_reason"`
	CurrentPeriodEnd  int64  `json:"current_period_end"`
	CancelAtPeriodEnd bool   `json:"cancel_at_period_end"`
	CanceledAt        int64  `json:"canceled_at"`
	TrialEnd          int64  `json:"trial_end"`
	Refunded          bool   `json:"refunded"`
	Reason            string `json:"reason"`

	EvidenceDetails *struct {
		DueBy int64 `json:"due_by"`
	} `json:"evidence_details"`
	// Only the first item and line are read: one-element arrays make the
	// decoder skip the rest without allocating them, so a signed event with
	// a huge list costs no more memory than its bytes. (A nil element: the
	// list was empty.)
	Items *struct {
		Data [1]*struct {
			Price priceRef `json:"price"`
		} `json:"data"`
	} `json:"items"`
	Lines *struct {
		Data [1]*struct {
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
		Object *object `json:"object"`
	} `json:"data"`
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
		PaymentIntent: string(o.PaymentIntent), InvoiceID: string(o.Invoice), SubscriptionID: string(o.Subscription),
		ChargeID: string(o.Charge),
	}
	if o.LastPaymentError != nil {
		ev.DeclineCode = o.LastPaymentError.DeclineCode
		ev.FailureCode = o.LastPaymentError.Code
		ev.FailureMessage = o.LastPaymentError.Message
	}
	if o.Metadata != nil {
		ev.ProductID = o.Metadata.Product
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
	case "invoice":
		ev.InvoiceID, ev.Email = o.ID, o.CustomerEmail
		ev.Amount = o.AmountDue
		if o.AmountPaid > 0 {
			ev.Amount = o.AmountPaid
		}
		// The intent of an invoice belongs to the invoice; keep it off the
		// event so order routing never mistakes it for a one-off payment.
		ev.PaymentIntent = ""
		if o.Lines != nil && o.Lines.Data[0] != nil {
			line := o.Lines.Data[0]
			ev.CurrentPeriodEnd = line.Period.End
			if line.Price != nil {
				ev.PriceID, ev.ProductID = line.Price.ID, firstSet(ev.ProductID, string(line.Price.Product))
			}
		}
	case "subscription":
		ev.SubscriptionID = o.ID
		if o.Items != nil && o.Items.Data[0] != nil {
			p := o.Items.Data[0].Price
			ev.PriceID, ev.ProductID = p.ID, firstSet(ev.ProductID, string(p.Product))
		}
	case "charge":
		ev.ChargeID, ev.Amount, ev.Email = o.ID, o.Amount, firstSet(o.ReceiptEmail, billingEmail(o))
		ev.InvoiceID = string(o.Invoice)
	case "dispute":
		ev.DisputeID, ev.Amount, ev.DisputeReason = o.ID, o.Amount, o.Reason
		if o.EvidenceDetails != nil {
			ev.EvidenceDueBy = o.EvidenceDetails.DueBy
		}
	}
	if err := checkIDs(&ev); err != nil {
		return payflow.Event{}, err
	}
	return ev, nil
}

// checkIDs refuses an event whose IDs could never key a workflow or a
// search attribute. Stripe's IDs are short ASCII: letters, digits and
// underscores (a hyphen is tolerated). Event types are lower-case words
// joined by dots. The product may come from the merchant's own metadata,
// so it may be any printable text, within the same length. An empty ID is
// left to routing (a handled type without its key is skipped).
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
		{"dispute", ev.DisputeID}, {"price", ev.PriceID},
	}
	for _, id := range ids {
		if id.v != "" && !isToken(id.v, false) {
			return fmt.Errorf("%w: %s (%d bytes; want at most %d of A-Z a-z 0-9 _ -)", ErrBadID, id.name, len(id.v), MaxIDLen)
		}
	}
	if p := ev.ProductID; p != "" && !isPrintable(p) {
		return fmt.Errorf("%w: product (%d bytes; want at most %d printable characters)", ErrBadID, len(p), MaxIDLen)
	}
	return nil
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
