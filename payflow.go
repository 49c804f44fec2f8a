// Package payflow holds the domain types every other package shares: the
// normalised Stripe event that travels from the receiver into workflows, the
// records the database keeps, and the Store interface the activities write
// through. It imports nothing of the project's own, so every package may
// import it (Ben Johnson's "standard package layout").
package payflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// StripeAPIVersion is the API version of payflow's own calls to Stripe's
// API (stripe-go v76 pins it). Events are read in whatever version they
// arrive in, from 2023-10-16 to the newest release webhook.APIFamilies
// knows.
const StripeAPIVersion = "2023-10-16"

// Event is the part of a Stripe event that payflow acts on. The receiver
// builds it from the raw payload (only the fields routing and the workflows
// need), so a workflow history never holds a whole Stripe payload.
type Event struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Created    int64  `json:"created"` // Unix seconds, Stripe's clock
	APIVersion string `json:"api_version,omitempty"`
	Livemode   bool   `json:"livemode,omitempty"`
	// Account is the connected account the event happened on (the
	// envelope's account; empty for the platform's own events).
	Account string `json:"account,omitempty"`
	// APIFamily is the group of API versions whose field paths the
	// receiver read the object with (webhook.APIFamilies): "classic"
	// (2023-10-16 through the acacia release) or "basil" (2025-03-31.basil
	// and later). Empty when the version is not one payflow knows.
	APIFamily string `json:"api_family,omitempty"`

	ObjectType string `json:"object_type"` // "payment_intent", "invoice", ...
	ObjectID   string `json:"object_id"`

	CustomerID string `json:"customer_id,omitempty"`
	Email      string `json:"email,omitempty"`
	// CustomerName is the customer's name as the object carries it, for
	// emails: an invoice's customer_name, a Checkout Session's
	// customer_details.name, a charge's billing_details.name, a payment
	// intent's shipping.name. One line, at most 100 characters.
	CustomerName   string `json:"customer_name,omitempty"`
	PaymentIntent  string `json:"payment_intent,omitempty"`
	CheckoutID     string `json:"checkout_session,omitempty"`
	InvoiceID      string `json:"invoice,omitempty"`
	SubscriptionID string `json:"subscription,omitempty"`
	ChargeID       string `json:"charge,omitempty"`
	DisputeID      string `json:"dispute,omitempty"`
	ProductID      string `json:"product,omitempty"`
	PriceID        string `json:"price,omitempty"`

	Amount         int64  `json:"amount,omitempty"`
	AmountRefunded int64  `json:"amount_refunded,omitempty"`
	Currency       string `json:"currency,omitempty"`
	Status         string `json:"status,omitempty"`         // the object's own status
	PaymentStatus  string `json:"payment_status,omitempty"` // checkout sessions
	Mode           string `json:"mode,omitempty"`           // checkout sessions
	Description    string `json:"description,omitempty"`

	DeclineCode      string `json:"decline_code,omitempty"`
	FailureCode      string `json:"failure_code,omitempty"`
	FailureMessage   string `json:"failure_message,omitempty"`
	HostedInvoiceURL string `json:"hosted_invoice_url,omitempty"`
	// InvoicePDF is an invoice's invoice_pdf, ReceiptURL a charge's
	// receipt_url: links for receipts.
	InvoicePDF    string `json:"invoice_pdf,omitempty"`
	ReceiptURL    string `json:"receipt_url,omitempty"`
	AttemptCount  int64  `json:"attempt_count,omitempty"`
	BillingReason string `json:"billing_reason,omitempty"`

	CurrentPeriodEnd  int64 `json:"current_period_end,omitempty"`
	CancelAtPeriodEnd bool  `json:"cancel_at_period_end,omitempty"`
	CanceledAt        int64 `json:"canceled_at,omitempty"`
	TrialEnd          int64 `json:"trial_end,omitempty"`

	Refunded      bool   `json:"refunded,omitempty"`
	DisputeReason string `json:"dispute_reason,omitempty"`
	EvidenceDueBy int64  `json:"evidence_due_by,omitempty"`

	// InvoiceLinkUnknown is set on payment intents and charges of an API
	// version that no longer names the invoice a payment paid (basil and
	// later: Stripe removed payment_intent.invoice and charge.invoice and
	// links payments to invoices only through invoice_payment objects). On
	// such an event an empty InvoiceID means "not said", not "a one-off
	// payment": the payment may have paid a subscription's invoice, so it
	// must not be fulfilled as an order before the payment's invoice is
	// looked up (Stripe's invoice payments, or the stored invoice). False
	// when the version carries the link (then an empty InvoiceID is a
	// one-off payment) or when the event names the invoice.
	InvoiceLinkUnknown bool `json:"invoice_link_unknown,omitempty"`

	// What the billing core reads (billing.FromPayflow), each field exactly
	// as Stripe sends it. Amount, ProductID, PriceID and, on invoices,
	// CurrentPeriodEnd above keep their older, merged meaning for the
	// code that still reads them. A charge's or dispute's InvoiceID,
	// SubscriptionID and PaymentIntent above also come from its invoice or
	// charge when Stripe sends that expanded.

	// Invoices: amounts apart, how the invoice is collected, Stripe's next
	// automatic attempt (0: none scheduled), and the end of the service
	// period its lines cover (the latest lines.data[].period.end).
	AmountDue          int64  `json:"amount_due,omitempty"`
	AmountPaid         int64  `json:"amount_paid,omitempty"`
	CollectionMethod   string `json:"collection_method,omitempty"` // invoices and subscriptions: charge_automatically, send_invoice
	NextPaymentAttempt int64  `json:"next_payment_attempt,omitempty"`
	PeriodEnd          int64  `json:"period_end,omitempty"`

	// Subscriptions: every item in Stripe's order. ItemsTruncated: the list
	// was longer than the receiver reads (has_more, or over its bound), so
	// Items is not the whole subscription and must not be taken for it.
	Items              []Item `json:"items,omitempty"`
	ItemsTruncated     bool   `json:"items_truncated,omitempty"`
	CurrentPeriodStart int64  `json:"current_period_start,omitempty"`
	PauseCollection    string `json:"pause_collection,omitempty"` // pause_collection.behavior: keep_as_draft, mark_uncollectible, void

	// metadata.product of the event's object itself (ProductID may come
	// from elsewhere), and a Checkout Session's line items, which Stripe
	// includes only when the session was fetched with expand[]=line_items
	// (never in a webhook event); LineItemsTruncated as ItemsTruncated.
	MetadataProduct    string `json:"metadata_product,omitempty"`
	LineItems          []Item `json:"line_items,omitempty"`
	LineItemsTruncated bool   `json:"line_items_truncated,omitempty"`

	// PaymentMethod is set only when the event is a real change of the
	// customer's payment method, the moment to retry open dunning
	// campaigns: customer.updated whose previous_attributes name an
	// invoice_settings.default_payment_method other than the new one (the
	// new one), payment_method.attached (the attached method),
	// setup_intent.succeeded with usage off_session (its payment method).
	PaymentMethod string `json:"payment_method,omitempty"`
}

// Item is one subscription item (si_…) or Checkout line item (li_…): a
// price of a product, times a quantity (0 when Stripe sends none, as for
// metered prices).
type Item struct {
	ID        string `json:"id,omitempty"`
	PriceID   string `json:"price,omitempty"`
	ProductID string `json:"product,omitempty"`
	Quantity  int64  `json:"quantity,omitempty"`
}

// CreatedTime is the event's creation time on Stripe's clock.
func (e Event) CreatedTime() time.Time { return time.Unix(e.Created, 0).UTC() }

// ErrNotFound is returned by Store lookups that find nothing.
var ErrNotFound = errors.New("not found")

// Order statuses: the billing core's (billing.Order.Status), derived from
// what happened to the payment, never from the last event. The store only
// ever moves an order's status forward (received < awaiting_payment,
// payment_failed < canceled, expired, async_payment_failed < fulfilled <
// partially_refunded < disputed < refunded).
const (
	OrderReceived          = "received"             // nothing paid yet
	OrderPending           = "pending"              // written before schema version 3; read as received
	OrderAwaitingPayment   = "awaiting_payment"     // Checkout completed, a delayed payment method pending
	OrderFailed            = "payment_failed"       // the customer may retry on the same intent
	OrderCanceled          = "canceled"             // payment intent canceled before payment
	OrderExpired           = "expired"              // Checkout Session expired before payment
	OrderAsyncFailed       = "async_payment_failed" // a delayed Checkout payment failed
	OrderFulfilled         = "fulfilled"            // paid: access granted, receipt sent
	OrderPartiallyRefunded = "partially_refunded"   // fulfilled, part of it refunded
	OrderDisputed          = "disputed"             // a dispute of the payment was lost
	OrderRefunded          = "refunded"             // fully refunded
)

// Access statuses: what one source does to one product, and the
// effective access of a customer to a product (granted if any source
// grants it, else suspended if any suspends it, else revoked).
const (
	AccessGranted   = "granted"
	AccessSuspended = "suspended"
	AccessRevoked   = "revoked"
)

// Email statuses in the ledger.
const (
	EmailPending = "pending" // claimed, not yet handed to a provider
	EmailSent    = "sent"    // accepted by SendGrid
	EmailOutbox  = "outbox"  // no provider configured: kept in the local outbox
	EmailFailed  = "failed"  // the provider refused it permanently
)

// Customer is a Stripe customer as payflow knows it.
type Customer struct {
	ID        string
	Email     string
	UpdatedAt time.Time
}

// Order is one one-off purchase, keyed by its payment intent (or by its
// Checkout Session when no payment was required).
type Order struct {
	ID            string // payment intent or checkout session ID
	CustomerID    string
	Email         string
	PaymentIntent string
	CheckoutID    string
	ChargeID      string
	// Products are the products bought, sorted. ProductID is the first of
	// them, for readers that know one product per order.
	Products       []string
	ProductID      string
	Amount         int64
	AmountRefunded int64 // cumulative, as Stripe reports it on the charge
	Currency       string
	Status         string
	FailureReason  string
	CreatedAt      time.Time
	FulfilledAt    *time.Time // when the order first reached a paid status
	UpdatedAt      time.Time
}

// Invoice is one invoice of a subscription (or a one-off invoice), keyed
// by its Stripe ID. Its status never moves back (draft < open <
// uncollectible < paid, void) and its amounts paid and refunded only grow.
type Invoice struct {
	ID               string
	CustomerID       string
	SubscriptionID   string
	Status           string
	AmountDue        int64
	AmountPaid       int64
	AmountRefunded   int64
	FullyRefunded    bool
	Currency         string
	AttemptCount     int64
	BillingReason    string
	CollectionMethod string
	HostedURL        string
	PeriodEnd        int64 // the invoice's service period end, Unix seconds
	ChargeID         string
	PaymentIntent    string
	DisputeID        string // a dispute of the invoice's charge
	DisputeStatus    string // Stripe's status of that dispute
	StripeCreated    int64  // the newest event applied; guards against stale snapshots
	UpdatedAt        time.Time
}

// SubscriptionItem is one item of a subscription: a price of a product,
// times a quantity.
type SubscriptionItem struct {
	ID        string `json:"id,omitempty"`
	PriceID   string `json:"price,omitempty"`
	ProductID string `json:"product"`
	Quantity  int64  `json:"quantity,omitempty"`
}

// Subscription mirrors a Stripe subscription plus payflow's dunning stage.
type Subscription struct {
	ID                string
	CustomerID        string
	Status            string // Stripe's vocabulary
	DunningStage      string // none, retrying, awaiting_customer, suspended, final
	Items             []SubscriptionItem
	CurrentPeriodEnd  int64
	CancelAtPeriodEnd bool
	StripeCreated     int64 // the created time of the newest snapshot applied
	UpdatedAt         time.Time
	// Account is the connected account the subscription belongs to (its
	// workflow is acct_…/subscription/<sub>); "" for the platform's own.
	Account string
}

// AccessSource is what one source (order/<pi>, subscription/<sub>) does
// to one product of a customer. The store keeps one row per (customer,
// product, source); the customer's effective access to the product is
// folded from all of the product's rows (billing.EffectiveAccess).
type AccessSource struct {
	CustomerID  string
	ProductID   string
	Source      string
	Status      string // AccessGranted, AccessSuspended, AccessRevoked
	ValidUntil  *time.Time
	Reason      string
	GrantedAt   *time.Time // when the row last entered each status
	SuspendedAt *time.Time
	RevokedAt   *time.Time
	UpdatedAt   time.Time
	// Account is the connected account whose workflow wrote the row (the
	// customer's account); "" for the platform's own. Source stays in
	// platform form (subscription/<sub>): Stripe IDs are unique across
	// accounts.
	Account string
}

// AccessUpdate is the outcome of writing one source's row: whether it
// changed, the product's rows after the write (every source, sorted by
// source) and the product's version, which grows by one with every change
// of any of its rows, so the merchant's app can order what it is told.
type AccessUpdate struct {
	Changed bool
	Version int64
	Sources []AccessSource
}

// Refund is the refunds of one charge as Stripe last reported them
// (charge.refunded carries the cumulative amount), recorded against the
// order or subscription invoice the charge paid: one row per (source,
// invoice, charge).
type Refund struct {
	Source         string // order/<pi> or subscription/<sub>
	InvoiceID      string
	ChargeID       string
	AmountRefunded int64 // cumulative; never decreases
	Currency       string
	Full           bool // the charge is fully refunded; never reverts
	EventID        string
	StripeCreated  int64 // created time of the newest event recorded
	UpdatedAt      time.Time
}

// Email is one message in the email ledger. DedupeKey is unique: claiming the
// same key twice returns the first claim, so a retried activity never sends
// a second copy.
type Email struct {
	DedupeKey         string
	To                string
	Purpose           string
	Subject           string
	Body              string
	Status            string
	ProviderMessageID string
	CreatedAt         time.Time
	SentAt            *time.Time
}

// AppliedEvent records that a Stripe event was applied, so an operator can
// answer "did we process evt_…?" with one query.
type AppliedEvent struct {
	EventID  string
	Type     string
	ObjectID string
	Created  int64
	// Owner is the workflow run that applied it. MarkEventApplied reports
	// true again to the same owner, so an activity retried after its first
	// attempt committed still treats the event as its own.
	Owner     string
	AppliedAt time.Time
}

// Dispute is one chargeback.
type Dispute struct {
	ID              string
	ChargeID        string
	PaymentIntent   string
	InvoiceID       string
	CustomerID      string
	Owner           string // workflow ID of the disputed payment's owner: order/<pi> or subscription/<sub>
	Amount          int64
	Currency        string
	Reason          string
	Status          string // Stripe's
	EvidenceDueBy   int64
	FundsWithdrawn  bool // never reverts
	FundsReinstated bool // never reverts
	StripeCreated   int64
	UpdatedAt       time.Time
}

// CustomerSummary is everything the store knows about one customer, for
// `payflow inspect`. Access holds the source rows; the effective access
// per product is folded from them (store.View).
type CustomerSummary struct {
	Customer      Customer
	Orders        []Order
	Subscriptions []Subscription
	Invoices      []Invoice
	Access        []AccessSource
	Refunds       []Refund
	Emails        []Email
	Disputes      []Dispute
}

// Store is the database, as the activities see it. Every write is idempotent
// by a unique key and each call is one transaction.
type Store interface {
	// MarkEventApplied records the event; it reports false when the event
	// was recorded before by another owner (a duplicate delivery), true when
	// this call inserted it or the stored row has the same Owner.
	MarkEventApplied(ctx context.Context, e AppliedEvent) (bool, error)
	EventApplied(ctx context.Context, eventID string) (bool, error)

	UpsertCustomer(ctx context.Context, c Customer) error

	// UpsertOrder writes the order: identifiers a write lacks keep the
	// stored ones, the status only moves forward, the refunded amount only
	// grows. It returns the stored row and whether this call moved the
	// order to a paid status for the first time (FulfilledAt set).
	UpsertOrder(ctx context.Context, o Order) (stored Order, fulfilled bool, err error)
	GetOrder(ctx context.Context, id string) (Order, error)
	// FindOrderByPayment finds the order a charge or payment intent paid
	// (either may be empty).
	FindOrderByPayment(ctx context.Context, chargeID, paymentIntent string) (Order, error)

	// UpsertInvoice writes the invoice, never moving its status back nor
	// its amounts down, and the rest only from a snapshot at least as new
	// as the stored one (StripeCreated); it reports whether it wrote.
	UpsertInvoice(ctx context.Context, inv Invoice) (bool, error)
	GetInvoice(ctx context.Context, id string) (Invoice, error)
	// FindInvoiceByPayment finds the invoice a charge or payment intent
	// paid (either may be empty).
	FindInvoiceByPayment(ctx context.Context, chargeID, paymentIntent string) (Invoice, error)

	// UpsertSubscription writes the subscription unless the stored
	// snapshot is newer (by StripeCreated); it reports whether it wrote.
	UpsertSubscription(ctx context.Context, s Subscription) (bool, error)
	GetSubscription(ctx context.Context, id string) (Subscription, error)

	// SetAccessSource writes one source's row for one product and returns
	// the product's rows after it, in one transaction that writers of the
	// same (customer, product) take in turn.
	SetAccessSource(ctx context.Context, a AccessSource) (AccessUpdate, error)
	// AccessFor lists the customer's source rows for productID, or for
	// every product when productID is empty, sorted by product and source.
	AccessFor(ctx context.Context, customerID, productID string) ([]AccessSource, error)

	// RecordRefund records a charge's refunds (cumulative); it reports
	// whether the stored row changed.
	RecordRefund(ctx context.Context, r Refund) (bool, error)

	// ClaimEmail inserts the ledger row if its dedupe key is new and
	// returns the stored row either way; claimed says whether this call
	// inserted it.
	ClaimEmail(ctx context.Context, e Email) (stored Email, claimed bool, err error)
	// FinishEmail records the outcome of sending a claimed email.
	FinishEmail(ctx context.Context, dedupeKey, status, providerMessageID string, at time.Time) error

	// UpsertDispute writes the dispute unless the stored snapshot is newer
	// (by StripeCreated); the funds flags never revert. It reports whether
	// it wrote.
	UpsertDispute(ctx context.Context, d Dispute) (bool, error)
	GetDispute(ctx context.Context, id string) (Dispute, error)

	CustomerSummary(ctx context.Context, customerID string) (CustomerSummary, error)
	// The events the receiver could not interpret (quarantine.go).
	QuarantineStore
	Ping(ctx context.Context) error
	// WriteCheck makes a small real write, for readiness: a database that
	// answers a ping may still refuse writes.
	WriteCheck(ctx context.Context) error
	Close() error
}

// FormatAmount renders Stripe's minor units as "12.34 USD" (emails,
// inspect): zero-decimal currencies as whole units, three-decimal ones in
// thousandths; an empty currency reads as USD.
func FormatAmount(amount int64, currency string) string {
	cur := strings.ToUpper(currency)
	if cur == "" {
		cur = "USD"
	}
	switch cur { // zero-decimal currencies Stripe lists
	case "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF":
		return fmt.Sprintf("%d %s", amount, cur)
	}
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	switch cur { // three-decimal currencies: minor units are thousandths
	case "BHD", "JOD", "KWD", "OMR", "TND":
		return fmt.Sprintf("%s%d.%03d %s", sign, amount/1000, amount%1000, cur)
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, amount/100, amount%100, cur)
}
