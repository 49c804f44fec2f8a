package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/payflow/payflow"
)

// ErrNotEvent is a verified payload that is not a Stripe event.
var ErrNotEvent = errors.New("payload is not a Stripe event")

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
	Items *struct {
		Data []struct {
			Price priceRef `json:"price"`
		} `json:"data"`
	} `json:"items"`
	Lines *struct {
		Data []struct {
			Price  *priceRef `json:"price"`
			Period struct {
				End int64 `json:"end"`
			} `json:"period"`
		} `json:"data"`
	} `json:"lines"`
	Metadata map[string]string `json:"metadata"`
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
		ev.ProductID = o.Metadata["product"]
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
		if o.Lines != nil && len(o.Lines.Data) > 0 {
			line := o.Lines.Data[0]
			ev.CurrentPeriodEnd = line.Period.End
			if line.Price != nil {
				ev.PriceID, ev.ProductID = line.Price.ID, firstSet(ev.ProductID, string(line.Price.Product))
			}
		}
	case "subscription":
		ev.SubscriptionID = o.ID
		if o.Items != nil && len(o.Items.Data) > 0 {
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
	return ev, nil
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
