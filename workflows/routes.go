package workflows

import (
	"sort"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/payflow/payflow"
)

// Names shared by the receiver, the worker and the workflows.
const (
	// SignalEvent carries one payflow.Event into the workflow that owns it.
	SignalEvent = "stripe-event"
	// QueryState returns the workflow's whole state as JSON.
	QueryState = "state"

	OrderWorkflowName        = "OrderWorkflow"
	SubscriptionWorkflowName = "SubscriptionWorkflow"
	DisputeWorkflowName      = "DisputeWorkflow"
)

// Search attributes registered by `payflow dev` and `payflow migrate`.
var (
	CustomerIDKey = temporal.NewSearchAttributeKeyKeyword("StripeCustomerID")
	StatusKey     = temporal.NewSearchAttributeKeyKeyword("PayflowStatus")
)

// OrderID, SubscriptionID and DisputeID are the workflow IDs of the public
// contract.
func OrderID(key string) string        { return "order/" + key }
func SubscriptionID(key string) string { return "subscription/" + key }
func DisputeID(key string) string      { return "dispute/" + key }

// Route says where one event type goes. Key returns the workflow ID for an
// event, or a reason to not start anything (an event Stripe sends for a
// type we handle, but which belongs to nobody, e.g. a payment intent paid by
// an invoice: the subscription workflow owns that one).
type Route struct {
	Workflow string // registered workflow name
	// Key returns (workflow ID, "") or ("", reason it is skipped).
	Key func(e payflow.Event) (id, skip string)
	// Reuse says whether an event may start a new run after a run with the
	// same ID has closed. Fulfilment events use AllowDuplicateFailedOnly: an
	// order that completed is never fulfilled by a second run. Events that
	// must act on a closed order (a refund) allow a new run, which reloads
	// the order from the database.
	Reuse enumspb.WorkflowIdReusePolicy
	// Input builds the workflow's start argument.
	Input func(id string, e payflow.Event) any
}

const (
	rejectCompleted = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
	allowAfterClose = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
)

func orderInput(id string, e payflow.Event) any {
	return OrderInput{WorkflowID: id, OrderID: id[len("order/"):], Rev: OrderRevision}
}

func subscriptionInput(id string, e payflow.Event) any {
	return SubscriptionInput{State: SubscriptionState{SubscriptionID: id[len("subscription/"):], CustomerID: e.CustomerID}}
}

func disputeInput(id string, e payflow.Event) any {
	return DisputeInput{DisputeID: id[len("dispute/"):]}
}

// orderKey keys an order by its payment intent, or by its checkout session
// when no payment was needed. Intents created by invoices belong to the
// subscription workflow.
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

func disputeKey(e payflow.Event) (string, string) {
	if e.DisputeID == "" {
		return "", "no dispute ID"
	}
	return DisputeID(e.DisputeID), ""
}

// Routes is the one routing table: every Stripe event type payflow handles.
// The receiver, `payflow reconcile`, `payflow trigger` and the README's list
// of events to subscribe to all read it.
var Routes = map[string]Route{
	"payment_intent.succeeded":      {OrderWorkflowName, orderKey, rejectCompleted, orderInput},
	"payment_intent.payment_failed": {OrderWorkflowName, orderKey, rejectCompleted, orderInput},
	"payment_intent.canceled":       {OrderWorkflowName, orderKey, rejectCompleted, orderInput},

	// Checkout sessions: checkoutKey and Resolve pick the workflow by mode
	// (a subscription-mode session paid by a delayed method sends the async
	// events too, keyed subscription/<sub>).
	"checkout.session.completed":               {"", checkoutKey, rejectCompleted, nil},
	"checkout.session.async_payment_succeeded": {"", checkoutKey, rejectCompleted, nil},
	"checkout.session.async_payment_failed":    {"", checkoutKey, rejectCompleted, nil},
	"checkout.session.expired":                 {"", checkoutKey, rejectCompleted, nil},

	"charge.refunded": {OrderWorkflowName, orderKey, allowAfterClose, orderInput},

	"invoice.paid":                    {SubscriptionWorkflowName, subscriptionKey, rejectCompleted, subscriptionInput},
	"invoice.payment_succeeded":       {SubscriptionWorkflowName, subscriptionKey, rejectCompleted, subscriptionInput},
	"invoice.payment_failed":          {SubscriptionWorkflowName, subscriptionKey, rejectCompleted, subscriptionInput},
	"invoice.payment_action_required": {SubscriptionWorkflowName, subscriptionKey, rejectCompleted, subscriptionInput},

	"customer.subscription.created":        {SubscriptionWorkflowName, subscriptionKey, rejectCompleted, subscriptionInput},
	"customer.subscription.updated":        {SubscriptionWorkflowName, subscriptionKey, rejectCompleted, subscriptionInput},
	"customer.subscription.deleted":        {SubscriptionWorkflowName, subscriptionKey, rejectCompleted, subscriptionInput},
	"customer.subscription.paused":         {SubscriptionWorkflowName, subscriptionKey, rejectCompleted, subscriptionInput},
	"customer.subscription.resumed":        {SubscriptionWorkflowName, subscriptionKey, rejectCompleted, subscriptionInput},
	"customer.subscription.trial_will_end": {SubscriptionWorkflowName, subscriptionKey, rejectCompleted, subscriptionInput},

	"charge.dispute.created": {DisputeWorkflowName, disputeKey, rejectCompleted, disputeInput},
	"charge.dispute.updated": {DisputeWorkflowName, disputeKey, rejectCompleted, disputeInput},
	"charge.dispute.closed":  {DisputeWorkflowName, disputeKey, rejectCompleted, disputeInput},
}

// Resolve finds where an event goes. ok is false for a type payflow does not
// handle; skip is non-empty for a handled type whose object belongs to no
// workflow (see Route.Key).
func Resolve(e payflow.Event) (r Route, id, skip string, ok bool) {
	r, ok = Routes[e.Type]
	if !ok {
		return Route{}, "", "", false
	}
	id, skip = r.Key(e)
	if skip != "" {
		return r, "", skip, true
	}
	if r.Workflow == "" { // checkout sessions: the mode picks the workflow
		if e.Mode == "subscription" {
			r.Workflow, r.Input = SubscriptionWorkflowName, subscriptionInput
		} else {
			r.Workflow, r.Input = OrderWorkflowName, orderInput
		}
	}
	return r, id, "", true
}

// HandledTypes lists every event type in the routing table, sorted: the
// events a Stripe endpoint should be subscribed to.
func HandledTypes() []string {
	types := make([]string, 0, len(Routes))
	for t := range Routes {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}
