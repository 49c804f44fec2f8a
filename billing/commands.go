package billing

import "time"

// Command is one thing the core asks the workflow to do, as plain data.
// The workflow runs each in the order given, as an activity (records,
// access, email, Stripe calls), a timer, a search-attribute upsert or a
// signal; it never decides anything itself. Every command is idempotent on
// its own key (a record's Stripe created time, an email's DedupeKey, a
// charge's IdempotencyKey), so replaying a batch after a crash is harmless.
type Command interface {
	// Name is the command's type, for logs and the workflow's timeline.
	Name() string
}

// RecordSubscription writes the subscription row. StripeCreated is the
// created time of the newest snapshot applied, for the store's
// older-never-overwrites-newer guard.
type RecordSubscription struct {
	SubscriptionID    string `json:"subscription_id"`
	CustomerID        string `json:"customer_id,omitempty"`
	Email             string `json:"email,omitempty"`
	Status            string `json:"status"` // Stripe's vocabulary
	DunningStage      string `json:"dunning_stage"`
	Items             []Item `json:"items,omitempty"`
	CurrentPeriodEnd  int64  `json:"current_period_end,omitempty"`
	CancelAtPeriodEnd bool   `json:"cancel_at_period_end,omitempty"`
	StripeCreated     int64  `json:"stripe_created"`
}

// RecordInvoice writes one invoice's row.
type RecordInvoice struct {
	SubscriptionID string `json:"subscription_id,omitempty"`
	CustomerID     string `json:"customer_id,omitempty"`
	Invoice        `json:"invoice"`
}

// RecordOrder writes the order row.
type RecordOrder struct {
	OrderID        string   `json:"order_id"`
	CustomerID     string   `json:"customer_id,omitempty"`
	Email          string   `json:"email,omitempty"`
	PaymentIntent  string   `json:"payment_intent,omitempty"`
	CheckoutID     string   `json:"checkout_session,omitempty"`
	ChargeID       string   `json:"charge,omitempty"`
	Products       []string `json:"products,omitempty"`
	Amount         int64    `json:"amount"`
	AmountRefunded int64    `json:"amount_refunded,omitempty"`
	Currency       string   `json:"currency,omitempty"`
	Status         string   `json:"status"`
	Reason         string   `json:"reason,omitempty"`
}

// RecordRefund stores one observation of a charge's refunds (partial or
// full) against the order or invoice it belongs to.
type RecordRefund struct {
	Source         string `json:"source"` // order/<pi> or subscription/<sub>
	InvoiceID      string `json:"invoice,omitempty"`
	ChargeID       string `json:"charge,omitempty"`
	AmountRefunded int64  `json:"amount_refunded"` // cumulative, as Stripe reports it
	Currency       string `json:"currency,omitempty"`
	Full           bool   `json:"full"`
	EventID        string `json:"event_id"`
	StripeCreated  int64  `json:"stripe_created"`
}

// RecordDispute writes the dispute row.
type RecordDispute struct {
	DisputeID       string `json:"dispute_id"`
	ChargeID        string `json:"charge,omitempty"`
	PaymentIntent   string `json:"payment_intent,omitempty"`
	InvoiceID       string `json:"invoice,omitempty"`
	CustomerID      string `json:"customer_id,omitempty"`
	Owner           string `json:"owner,omitempty"` // order/<pi> or subscription/<sub>
	Amount          int64  `json:"amount"`
	Currency        string `json:"currency,omitempty"`
	Reason          string `json:"reason,omitempty"`
	Status          string `json:"status"` // Stripe's
	EvidenceDueBy   int64  `json:"evidence_due_by,omitempty"`
	FundsWithdrawn  bool   `json:"funds_withdrawn,omitempty"`
	FundsReinstated bool   `json:"funds_reinstated,omitempty"`
	StripeCreated   int64  `json:"stripe_created"`
}

// SetAccess records what one source does to one product of the customer.
// The store keeps one row per (customer, product, source); the merchant's
// app is told the source's change and the effective access after it
// (EffectiveAccess).
type SetAccess struct {
	CustomerID string     `json:"customer_id"`
	ProductID  string     `json:"product_id"`
	Source     string     `json:"source"` // order/<pi> or subscription/<sub>
	Status     string     `json:"status"` // granted, suspended, revoked
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	Reason     string     `json:"reason"`
}

// SendEmail sends one email through the ledger: DedupeKey goes out once.
// The activity renders Purpose with Vars (Render).
type SendEmail struct {
	DedupeKey  string            `json:"dedupe_key"`
	Purpose    string            `json:"purpose"`
	To         string            `json:"to,omitempty"`
	CustomerID string            `json:"customer_id,omitempty"` // look the address up when To is empty
	ToOperator bool              `json:"to_operator,omitempty"` // ALERT_EMAIL
	Vars       map[string]string `json:"vars,omitempty"`
}

// RetryCharge pays an open invoice through Stripe's API (payflow mode).
// Its outcome comes back through ApplyChargeResult.
type RetryCharge struct {
	SubscriptionID string `json:"subscription_id"`
	InvoiceID      string `json:"invoice_id"`
	Attempt        int    `json:"attempt"`
	IdempotencyKey string `json:"idempotency_key"`
}

// RecheckInvoice re-reads the invoice and the subscription from Stripe
// before an irreversible step (suspension, the final action), so a stale
// view never punishes a payer. The answer comes back through ApplyRecheck.
type RecheckInvoice struct {
	SubscriptionID string `json:"subscription_id"`
	InvoiceID      string `json:"invoice_id"`
	Step           string `json:"step"` // StepSuspend or StepFinal
}

// CancelSubscription cancels the subscription in Stripe (final action
// cancel). Stripe's customer.subscription.deleted follows.
type CancelSubscription struct {
	SubscriptionID string `json:"subscription_id"`
	InvoiceID      string `json:"invoice_id"`
	IdempotencyKey string `json:"idempotency_key"`
}

// ScheduleTimer asks for a wake-up; the workflow hands it back to the core
// (FireSubscriptionTimer, FireDisputeTimer). Pending timers can also be read
// from the state at any moment (Subscription.Timers, Dispute.Timers), e.g.
// after continue-as-new. A timer that fires when it no longer applies is a
// no-op.
type ScheduleTimer struct {
	Timer Timer `json:"timer"`
}

// CancelTimers drops every timer of one campaign (or dispute).
type CancelTimers struct {
	Campaign string `json:"campaign"`
}

// UpsertSearchAttributes sets the workflow's search attributes. Status is
// Stripe's vocabulary for subscriptions (orders and disputes keep theirs);
// DunningStage is empty for orders and disputes.
type UpsertSearchAttributes struct {
	CustomerID   string `json:"customer_id,omitempty"`
	Status       string `json:"status"`
	DunningStage string `json:"dunning_stage,omitempty"`
}

// LookupPaymentOwner asks which order or subscription invoice a charge
// paid for: a disputed charge (DisputeID; the answer comes back through
// ApplyDisputeOwner), or the charge of an order run's payment that paid
// invoice InvoiceID (ApplyOrderOwner), which only a subscription can own.
type LookupPaymentOwner struct {
	DisputeID     string `json:"dispute_id"`
	ChargeID      string `json:"charge,omitempty"`
	PaymentIntent string `json:"payment_intent,omitempty"`
	InvoiceID     string `json:"invoice,omitempty"`
}

// NotifyOwner signals the workflow that owns a payment with an event about
// it — a dispute's, or a refund an order run found to belong to a
// subscription's invoice — so the order or subscription applies its
// consequence itself (SignalWithStart: the owner may have closed).
type NotifyOwner struct {
	WorkflowID string `json:"workflow_id"`
	Event      Event  `json:"event"`
}

// Note is one line for the workflow's timeline.
type Note struct {
	What string `json:"what"`
}

// Timer is one wake-up: Campaign is the invoice ID of a dunning campaign
// (or the dispute ID), Kind what to do, At when.
type Timer struct {
	Campaign string    `json:"campaign"`
	Kind     string    `json:"kind"`
	At       time.Time `json:"at"`
}

// Timer kinds.
const (
	TimerRetry    = "retry"    // the next payflow retry is due
	TimerGrace    = "grace"    // the grace period ends: suspend after a re-read
	TimerFinal    = "final"    // the final action is due after a re-read
	TimerReminder = "reminder" // dispute evidence reminder
)

// Recheck steps.
const (
	StepSuspend = "suspend"
	StepFinal   = "final"
)

func (RecordSubscription) Name() string     { return "RecordSubscription" }
func (RecordInvoice) Name() string          { return "RecordInvoice" }
func (RecordOrder) Name() string            { return "RecordOrder" }
func (RecordRefund) Name() string           { return "RecordRefund" }
func (RecordDispute) Name() string          { return "RecordDispute" }
func (SetAccess) Name() string              { return "SetAccess" }
func (SendEmail) Name() string              { return "SendEmail" }
func (RetryCharge) Name() string            { return "RetryCharge" }
func (RecheckInvoice) Name() string         { return "RecheckInvoice" }
func (CancelSubscription) Name() string     { return "CancelSubscription" }
func (ScheduleTimer) Name() string          { return "ScheduleTimer" }
func (CancelTimers) Name() string           { return "CancelTimers" }
func (UpsertSearchAttributes) Name() string { return "UpsertSearchAttributes" }
func (LookupPaymentOwner) Name() string     { return "LookupPaymentOwner" }
func (NotifyOwner) Name() string            { return "NotifyOwner" }
func (Note) Name() string                   { return "Note" }
