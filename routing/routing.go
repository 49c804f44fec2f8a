// Package routing is the contract between the receiver and the workers:
// which workflow owns a Stripe event (its ID, type and reuse policy), the
// signal and query names, the search attributes, and the workflows' start
// inputs. It is a leaf: it imports the root package and the billing core's
// types only, so the receiver links neither the workflows' activities nor
// SendGrid nor the Stripe API client.
package routing

import (
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
)

// Signal and query names.
const (
	// SignalEvent carries one payflow.Event from the receiver (or
	// `payflow reconcile`) into the workflow that owns it.
	SignalEvent = "stripe-event"
	// SignalOwnerEvent carries one billing.Event that a dispute workflow
	// forwards to the owner of the disputed payment, or an order run to the
	// subscription whose invoice its payment paid (billing.NotifyOwner).
	// The forwarding workflow has already recorded the event in the ledger,
	// so the owner dedupes it by its own state only.
	SignalOwnerEvent = "owner-event"
	// QueryState returns the workflow's whole state as JSON.
	QueryState = "state"
)

// Registered workflow names.
const (
	OrderWorkflowName        = "OrderWorkflow"
	SubscriptionWorkflowName = "SubscriptionWorkflow"
	DisputeWorkflowName      = "DisputeWorkflow"
	CustomerWorkflowName     = "CustomerWorkflow"
	// QuarantineWorkflowName keeps an event payflow cannot interpret
	// (quarantine.go).
	QuarantineWorkflowName = "QuarantineWorkflow"
)

// Search attributes, registered by `payflow dev` and `payflow migrate`.
// PayflowStatus is Stripe's subscription status on subscriptions
// (incomplete, incomplete_expired, trialing, active, past_due, unpaid,
// paused, canceled), the order's status on orders (billing.Order.Status;
// invoice_payment for a run whose payment paid an invoice and whose events
// went to the subscription) and payflow's dispute status on disputes (needs_response, under_review,
// won, lost). PayflowDunningStage is set on subscriptions only: none,
// retrying, awaiting_customer, suspended, final.
var (
	CustomerIDKey   = temporal.NewSearchAttributeKeyKeyword("StripeCustomerID")
	StatusKey       = temporal.NewSearchAttributeKeyKeyword("PayflowStatus")
	DunningStageKey = temporal.NewSearchAttributeKeyKeyword("PayflowDunningStage")
)

// SearchAttributeNames lists the Keyword attributes payflow needs in its
// namespace.
func SearchAttributeNames() []string {
	return []string{CustomerIDKey.GetName(), StatusKey.GetName(), DunningStageKey.GetName()}
}

// Workflow ID prefixes and the IDs of the public contract.
const (
	orderPrefix        = "order/"
	subscriptionPrefix = "subscription/"
	disputePrefix      = "dispute/"
	// customer/<cus> is a short-lived fan-out (CustomerInput): an event
	// about the customer (a new payment method) is handed to each of the
	// customer's subscriptions in dunning, then the run ends. It records
	// nothing of its own. Added with "retry when the customer fixes the
	// card": the receiver holds no state, so it cannot name
	// the subscriptions itself.
	customerPrefix = "customer/"
	// quarantine/<evt> is a short-lived run that keeps one event payflow
	// cannot interpret (QuarantineInput); keyed by the event, so a
	// redelivery finds the run and is answered as a duplicate.
	quarantinePrefix = "quarantine/"
)

// The IDs of the platform's own workflows (no connected account):
// WorkflowID("", kind, key).
func OrderID(key string) string        { return orderPrefix + key }
func SubscriptionID(key string) string { return subscriptionPrefix + key }
func DisputeID(key string) string      { return disputePrefix + key }
func CustomerID(key string) string     { return customerPrefix + key }
func QuarantineID(key string) string   { return quarantinePrefix + key }

// Workflow kinds: the first segment of a platform workflow ID.
const (
	KindOrder        = "order"
	KindSubscription = "subscription"
	KindDispute      = "dispute"
	KindCustomer     = "customer"
	KindQuarantine   = "quarantine"
)

// AccountPrefix starts every Stripe connected account ID (acct_…). A
// workflow ID whose first segment starts with it belongs to that account.
const AccountPrefix = "acct_"

// WorkflowID builds the ID of the workflow of kind (KindOrder, …) keyed by
// key (a Stripe object ID) for account: the platform's own workflows
// (account "") keep the IDs of the public contract, <kind>/<key>; a
// connected account's are prefixed with the account,
// acct_…/<kind>/<key>, so two accounts never share a workflow even when
// their object IDs collide, and every ID of one account starts with
// "acct_…/" (a visibility filter: WorkflowId STARTS_WITH 'acct_…/').
func WorkflowID(account, kind, key string) string {
	return WithAccount(account, kind+"/"+key)
}

// WithAccount puts a platform-form ID (<kind>/<key>, as the billing core
// composes its owners and sources) in account: unchanged for the platform
// (""), else acct_…/<kind>/<key>. An ID that already names an account is
// moved to this one: a workflow only ever addresses workflows of its own
// account.
func WithAccount(account, id string) string {
	_, rest := SplitWorkflowID(id)
	if account == "" {
		return rest
	}
	return account + "/" + rest
}

// SplitWorkflowID splits a workflow ID into its connected account ("" for
// the platform's own workflows) and the platform-form rest, <kind>/<key>:
// SplitWorkflowID(WorkflowID(a, k, key)) is (a, k+"/"+key). A connected
// account is recognised by its prefix (acct_…) before the first "/"; the
// decoder admits no "/" in an account or object ID, so the split is
// unambiguous.
func SplitWorkflowID(id string) (account, rest string) {
	first, after, ok := strings.Cut(id, "/")
	if ok && strings.HasPrefix(first, AccountPrefix) {
		return first, after
	}
	return "", id
}

// AccountOf is the connected account a workflow ID belongs to ("" for the
// platform).
func AccountOf(workflowID string) string {
	account, _ := SplitWorkflowID(workflowID)
	return account
}

// Step is one line of a workflow's timeline (the query's "steps").
type Step struct {
	At   time.Time `json:"at"`
	What string    `json:"what"`
}

// OrderInput starts an order workflow. A run seeds its state from the
// stored order, so a refund or dispute weeks after the payment starts a
// new run that knows what the payment bought.
type OrderInput struct {
	OrderID string `json:"order_id"` // payment intent, or checkout session without payment
	// IdleTimeout ends a run that waits for a payment (an async method, a
	// retry on a failed card) longer than this; 0: 30 days. A later event
	// starts a new run.
	IdleTimeout time.Duration `json:"idle_timeout,omitempty"`
}

// SubscriptionInput starts, or continues as new, a subscription workflow:
// the whole state travels, seen event IDs and campaigns included.
type SubscriptionInput struct {
	State    billing.Subscription `json:"state"`
	Timeline []Step               `json:"timeline,omitempty"`
	Runs     int                  `json:"runs,omitempty"` // continue-as-new count
	// MaxEventsPerRun continues as new after this many events or timers in
	// one run (0: 500), besides whenever Temporal suggests it.
	MaxEventsPerRun int `json:"max_events_per_run,omitempty"`
	// Linger keeps a run whose subscription ended (or that never saw a
	// snapshot) open this long after its last event, for the late ones
	// (a final invoice, a refund); 0: 7 days.
	Linger time.Duration `json:"linger,omitempty"`
}

// DisputeInput starts a dispute workflow.
type DisputeInput struct {
	DisputeID string `json:"dispute_id"`
	// RemindBefore is how long before the evidence deadline the operator is
	// reminded (0: 48h).
	RemindBefore time.Duration `json:"remind_before,omitempty"`
}

// CustomerInput starts a customer fan-out run, customer/<cus>: each event
// it receives (a change of the customer's payment method) goes to every
// subscription of the customer whose dunning stage is not none and whose
// workflow is running (signal owner-event); the run ends when no event is
// left. It holds no state across runs, so every event may start a run.
type CustomerInput struct {
	CustomerID string `json:"customer_id"`
}

// Route says where one event type goes.
type Route struct {
	// Workflow is the registered workflow name; Resolve fills it from the
	// workflow ID for types that go to more than one (checkout sessions,
	// refunds).
	Workflow string
	// Key returns (workflow ID, "") or ("", the reason nothing owns it).
	Key func(e payflow.Event) (id, skip string)
	// Reuse says whether an event may start a new run after a run with the
	// same ID closed. Orders: always (a run seeds itself from the stored
	// order, and the event ledger and the core's facts keep a payment from
	// being fulfilled twice). Subscriptions: only refunds, because a late
	// snapshot or invoice without the state it belongs to could grant or
	// dun a subscription that ended; the run lingers after the end for
	// those. Disputes: only the funds events, which Stripe may send after
	// the dispute closed.
	Reuse enumspb.WorkflowIdReusePolicy
	// Input builds the workflow's start argument.
	Input func(id string, e payflow.Event) any
}

const (
	rejectCompleted = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
	allowAfterClose = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
)

// keyOf is the Stripe object ID a workflow ID is keyed by, whatever its
// account.
func keyOf(id, prefix string) string {
	_, rest := SplitWorkflowID(id)
	return strings.TrimPrefix(rest, prefix)
}

func orderInput(id string, _ payflow.Event) any {
	return OrderInput{OrderID: keyOf(id, orderPrefix)}
}

func subscriptionInput(id string, _ payflow.Event) any {
	return SubscriptionInput{State: billing.NewSubscription(keyOf(id, subscriptionPrefix))}
}

func customerInput(id string, _ payflow.Event) any {
	return CustomerInput{CustomerID: keyOf(id, customerPrefix)}
}

func disputeInput(id string, _ payflow.Event) any {
	return DisputeInput{DisputeID: keyOf(id, disputePrefix)}
}

// orderKey keys an order by its payment intent, or by its checkout session
// when no payment was needed. Intents created by invoices belong to the
// subscription workflow: an order never fulfils a subscription's payment.
func orderKey(e payflow.Event) (string, string) {
	if e.InvoiceID != "" {
		return "", "payment belongs to invoice " + e.InvoiceID + " (subscription workflow)"
	}
	switch {
	case e.PaymentIntent != "":
		return OrderID(e.PaymentIntent), ""
	case e.CheckoutID != "":
		return OrderID(e.CheckoutID), ""
	}
	return "", "no payment_intent or checkout session on the object"
}

func checkoutKey(e payflow.Event) (string, string) {
	switch e.Mode {
	case "subscription":
		return subscriptionKey(e)
	case "setup":
		return "", "setup-mode checkout sessions move no money"
	}
	if e.PaymentIntent != "" {
		return OrderID(e.PaymentIntent), ""
	}
	if e.CheckoutID != "" {
		return OrderID(e.CheckoutID), ""
	}
	return "", "no checkout session ID"
}

func subscriptionKey(e payflow.Event) (string, string) {
	if e.SubscriptionID == "" {
		return "", "no subscription on the object (a one-off invoice)"
	}
	return SubscriptionID(e.SubscriptionID), ""
}

// refundKey sends a refund to the payment's owner: the subscription whose
// invoice the charge paid, or the order. When the event names the invoice
// but not its subscription (API 2023-10-16 renders charge.invoice as an ID
// and has no subscription on the charge), the receiver, which holds no
// state, sends it to order/<payment_intent>: the order core sees a charge
// that paid an invoice, does not treat it as an order, looks the invoice's
// subscription up (the database, then Stripe) and forwards the refund to
// it (signal owner-event), and the run ends having recorded, granted and
// sent nothing (billing.InvoicePayment).
func refundKey(e payflow.Event) (string, string) {
	switch {
	case e.SubscriptionID != "":
		return SubscriptionID(e.SubscriptionID), ""
	case e.InvoiceID != "" && e.PaymentIntent != "":
		return OrderID(e.PaymentIntent), ""
	case e.InvoiceID != "":
		return "", "refund of invoice " + e.InvoiceID + "'s charge: the event names neither its subscription nor its payment intent"
	}
	return orderKey(e)
}

// paymentMethodKey sends a change of the customer's payment method to the
// customer's fan-out run. The decoder sets PaymentMethod only for a real
// change (a new default for invoices, an attached method, an off-session
// setup); any other customer.updated, or an on-session setup, is skipped
// here and never starts a workflow.
func paymentMethodKey(e payflow.Event) (string, string) {
	switch {
	case e.PaymentMethod == "":
		return "", "not a change of the customer's payment method for invoices"
	case e.CustomerID == "":
		return "", "payment method " + e.PaymentMethod + " belongs to no customer"
	}
	return CustomerID(e.CustomerID), ""
}

func disputeKey(e payflow.Event) (string, string) {
	if e.DisputeID == "" {
		return "", "no dispute ID"
	}
	return DisputeID(e.DisputeID), ""
}

var (
	toOrder        = Route{OrderWorkflowName, orderKey, allowAfterClose, orderInput}
	toCheckout     = Route{"", checkoutKey, 0, nil}
	toSubscription = Route{SubscriptionWorkflowName, subscriptionKey, rejectCompleted, subscriptionInput}
	toRefund       = Route{"", refundKey, allowAfterClose, nil}
	toDispute      = Route{DisputeWorkflowName, disputeKey, rejectCompleted, disputeInput}
	toDisputeFunds = Route{DisputeWorkflowName, disputeKey, allowAfterClose, disputeInput}
	toCustomer     = Route{CustomerWorkflowName, paymentMethodKey, allowAfterClose, customerInput}
)

// Routes is the one routing table: every Stripe event type payflow handles
// (the event types the billing core acts on). The receiver, `payflow
// reconcile`, `payflow trigger` and the README's list of events to
// subscribe to all read it. Workflow code never reads it.
var Routes = map[string]Route{
	"payment_intent.succeeded":      toOrder,
	"payment_intent.payment_failed": toOrder,
	"payment_intent.canceled":       toOrder,

	// Checkout sessions: the mode picks the workflow (a subscription-mode
	// session paid by a delayed method sends the async events too).
	"checkout.session.completed":               toCheckout,
	"checkout.session.async_payment_succeeded": toCheckout,
	"checkout.session.async_payment_failed":    toCheckout,
	"checkout.session.expired":                 toCheckout,

	"charge.refunded": toRefund,

	"invoice.finalized":               toSubscription,
	"invoice.paid":                    toSubscription,
	"invoice.payment_succeeded":       toSubscription,
	"invoice.payment_failed":          toSubscription,
	"invoice.payment_action_required": toSubscription,
	"invoice.voided":                  toSubscription,
	"invoice.marked_uncollectible":    toSubscription,

	"customer.subscription.created":        toSubscription,
	"customer.subscription.updated":        toSubscription,
	"customer.subscription.deleted":        toSubscription,
	"customer.subscription.paused":         toSubscription,
	"customer.subscription.resumed":        toSubscription,
	"customer.subscription.trial_will_end": toSubscription,

	"charge.dispute.created":          toDispute,
	"charge.dispute.updated":          toDispute,
	"charge.dispute.closed":           toDispute,
	"charge.dispute.funds_withdrawn":  toDisputeFunds,
	"charge.dispute.funds_reinstated": toDisputeFunds,

	// A new payment method retries every open campaign of the customer
	// at once (billing/cardupdate.go), through customer/<cus>.
	"customer.updated":        toCustomer,
	"payment_method.attached": toCustomer,
	"setup_intent.succeeded":  toCustomer,
}

// Resolve finds where an event goes. ok is false for a type payflow does not
// handle; skip is non-empty for a handled type whose object belongs to no
// workflow (see Route.Key). An event of a connected account (e.Account)
// goes to that account's workflow, acct_…/<kind>/<key> (WorkflowID).
func Resolve(e payflow.Event) (r Route, id, skip string, ok bool) {
	r, ok = Routes[e.Type]
	if !ok {
		return Route{}, "", "", false
	}
	id, skip = r.Key(e)
	if skip != "" {
		return r, "", skip, true
	}
	id = WithAccount(e.Account, id)
	if r.Workflow == "" {
		t, _ := targetOf(id)
		r.Workflow, r.Input = t.Workflow, t.Input
		if r.Reuse == 0 {
			r.Reuse = t.Reuse
		}
	}
	return r, id, "", true
}

// targetOf is the route of a workflow ID's kind, whatever its account.
func targetOf(id string) (Route, bool) {
	_, id = SplitWorkflowID(id)
	switch {
	case strings.HasPrefix(id, orderPrefix):
		return toOrder, true
	case strings.HasPrefix(id, subscriptionPrefix):
		return toSubscription, true
	case strings.HasPrefix(id, disputePrefix):
		return toDispute, true
	case strings.HasPrefix(id, customerPrefix):
		return toCustomer, true
	}
	return Route{}, false
}

// OwnerStart is how billing.NotifyOwner reaches the owner of a payment
// (an order or a subscription): the workflow to start if it is
// not running and its input. A closed owner gets a new run (an order
// seeds itself from the database). workflowID may carry an account
// (acct_…/subscription/<sub>); the input is keyed by the object alone.
func OwnerStart(workflowID string) (workflow string, input any, reuse enumspb.WorkflowIdReusePolicy, ok bool) {
	t, ok := targetOf(workflowID)
	if !ok || t.Workflow == DisputeWorkflowName || t.Workflow == CustomerWorkflowName {
		return "", nil, 0, false
	}
	return t.Workflow, t.Input(workflowID, payflow.Event{}), allowAfterClose, true
}

// StartAttributes are the search attributes a run gets when the receiver
// starts it: the customer, so a search by customer finds it at once. The
// status is the workflow's own (the core's), set by its first step.
func StartAttributes(customerID string) []temporal.SearchAttributeUpdate {
	if customerID == "" {
		return nil
	}
	return []temporal.SearchAttributeUpdate{CustomerIDKey.ValueSet(customerID)}
}

// HandledTypes lists every event type in the routing table, sorted: the
// events a Stripe endpoint should be subscribed to.
func HandledTypes() []string {
	types := make([]string, 0, len(Routes))
	for t := range Routes {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}
