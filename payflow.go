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

// StripeAPIVersion is the API version payflow's event decoding is written
// against and the version the webhook endpoint should be pinned to.
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

	ObjectType string `json:"object_type"` // "payment_intent", "invoice", ...
	ObjectID   string `json:"object_id"`

	CustomerID     string `json:"customer_id,omitempty"`
	Email          string `json:"email,omitempty"`
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
	AttemptCount     int64  `json:"attempt_count,omitempty"`
	BillingReason    string `json:"billing_reason,omitempty"`

	CurrentPeriodEnd  int64 `json:"current_period_end,omitempty"`
	CancelAtPeriodEnd bool  `json:"cancel_at_period_end,omitempty"`
	CanceledAt        int64 `json:"canceled_at,omitempty"`
	TrialEnd          int64 `json:"trial_end,omitempty"`

	Refunded      bool   `json:"refunded,omitempty"`
	DisputeReason string `json:"dispute_reason,omitempty"`
	EvidenceDueBy int64  `json:"evidence_due_by,omitempty"`
}

// CreatedTime is the event's creation time on Stripe's clock.
func (e Event) CreatedTime() time.Time { return time.Unix(e.Created, 0).UTC() }

// ErrNotFound is returned by Store lookups that find nothing.
var ErrNotFound = errors.New("not found")

// Order statuses.
const (
	OrderPending   = "pending"
	OrderFulfilled = "fulfilled"
	OrderFailed    = "payment_failed"
	OrderCanceled  = "canceled"
	OrderExpired   = "expired"
	OrderRefunded  = "refunded"
	OrderDisputed  = "disputed"
)

// Entitlement statuses.
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

// Order is one purchase, keyed by its payment intent (or by its checkout
// session when no payment was required).
type Order struct {
	ID            string // payment intent or checkout session ID
	CustomerID    string
	Email         string
	CheckoutID    string
	ChargeID      string
	ProductID     string
	Amount        int64
	Currency      string
	Status        string
	FailureReason string
	CreatedAt     time.Time
	FulfilledAt   *time.Time
	UpdatedAt     time.Time
}

// Invoice is one invoice or one-off payment, keyed by its Stripe ID.
type Invoice struct {
	ID             string
	CustomerID     string
	SubscriptionID string
	Amount         int64
	Currency       string
	Status         string
	StripeCreated  int64 // the event's created time; guards against stale snapshots
	UpdatedAt      time.Time
}

// Subscription mirrors a Stripe subscription plus payflow's dunning stage.
type Subscription struct {
	ID                string
	CustomerID        string
	Status            string
	DunningStage      string
	CurrentPeriodEnd  int64
	CancelAtPeriodEnd bool
	StripeCreated     int64 // the created time of the event this snapshot came from
	UpdatedAt         time.Time
}

// Entitlement is a customer's access to a product.
type Entitlement struct {
	CustomerID  string
	ProductID   string
	Status      string
	Source      string // what granted it: order/pi_…, subscription/sub_…
	ValidUntil  *time.Time
	GrantedAt   *time.Time
	SuspendedAt *time.Time
	RevokedAt   *time.Time
	UpdatedAt   time.Time
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
	ID            string
	ChargeID      string
	PaymentIntent string
	CustomerID    string
	Amount        int64
	Currency      string
	Reason        string
	Status        string
	EvidenceDueBy int64
	StripeCreated int64
	UpdatedAt     time.Time
}

// CustomerSummary is everything the store knows about one customer, for
// `payflow inspect`.
type CustomerSummary struct {
	Customer      Customer
	Orders        []Order
	Subscriptions []Subscription
	Entitlements  []Entitlement
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

	// CreateOrder inserts the order if absent and returns the stored row
	// (which may be further along than o).
	CreateOrder(ctx context.Context, o Order) (Order, error)
	GetOrder(ctx context.Context, id string) (Order, error)
	// GetOrderByCharge finds the order a charge belongs to.
	GetOrderByCharge(ctx context.Context, chargeID string) (Order, error)
	// UpdateOrderStatus moves an order to status; a fulfilled timestamp is
	// set once when status is fulfilled.
	UpdateOrderStatus(ctx context.Context, id, status, reason string, at time.Time) (Order, error)

	// UpsertInvoice writes the invoice unless the stored snapshot is newer
	// (by StripeCreated); it reports whether it wrote.
	UpsertInvoice(ctx context.Context, inv Invoice) (bool, error)
	// UpsertSubscription writes the subscription unless the stored snapshot
	// is newer (by StripeCreated); it reports whether it wrote.
	UpsertSubscription(ctx context.Context, s Subscription) (bool, error)
	GetSubscription(ctx context.Context, id string) (Subscription, error)
	// SetDunningStage changes only the dunning stage (and status when
	// status is not empty) of a subscription.
	SetDunningStage(ctx context.Context, id, status, stage string) error

	// SetEntitlement upserts the (customer, product) entitlement to the
	// given status; it reports whether anything changed.
	SetEntitlement(ctx context.Context, e Entitlement) (bool, error)
	GetEntitlement(ctx context.Context, customerID, productID string) (Entitlement, error)

	// ClaimEmail inserts the ledger row if its dedupe key is new and
	// returns the stored row either way; claimed says whether this call
	// inserted it.
	ClaimEmail(ctx context.Context, e Email) (stored Email, claimed bool, err error)
	// FinishEmail records the outcome of sending a claimed email.
	FinishEmail(ctx context.Context, dedupeKey, status, providerMessageID string, at time.Time) error

	UpsertDispute(ctx context.Context, d Dispute) (bool, error)

	CustomerSummary(ctx context.Context, customerID string) (CustomerSummary, error)
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
