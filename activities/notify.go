package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
)

// NotifyOwner hands an event to the workflow that owns the payment (an
// order or a subscription) — a dispute's event, or a refund an order run
// found to belong to a subscription's invoice — starting it when it is not
// running:
// an order whose run closed weeks ago gets a new run, which seeds itself
// from the stored order. Signalling twice is harmless: the owner's state
// remembers the event ID.
//
// The core names the owner in platform form (subscription/<sub>); it is
// the workflow of that object in this workflow's account (ownerInAccount):
// a connected account's dispute reaches acct_…/subscription/<sub>.
func (a *Activities) NotifyOwner(ctx context.Context, n billing.NotifyOwner) error {
	n.WorkflowID = ownerInAccount(ctx, n.WorkflowID)
	workflow, input, reuse, ok := routing.OwnerStart(n.WorkflowID)
	if !ok {
		return invalid("notify owner: %q is not an order or subscription workflow", n.WorkflowID)
	}
	if a.Temporal == nil {
		return temporal.NewNonRetryableApplicationError("notify owner: the worker has no Temporal client", "Misconfigured", nil)
	}
	opts := client.StartWorkflowOptions{
		ID:                    n.WorkflowID,
		TaskQueue:             a.TaskQueue,
		WorkflowIDReusePolicy: reuse,
		TypedSearchAttributes: temporal.NewSearchAttributes(routing.StartAttributes(n.Event.CustomerID)...),
	}
	_, err := a.Temporal.SignalWithStartWorkflow(ctx, n.WorkflowID, routing.SignalOwnerEvent, n.Event, opts, workflow, input)
	var invalidArg *serviceerror.InvalidArgument
	if errors.As(err, &invalidArg) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("notify %s: %v", n.WorkflowID, err), "InvalidArgument", err)
	}
	if err != nil {
		return fmt.Errorf("notify %s of %s: %w", n.WorkflowID, n.Event.ID, err)
	}
	a.logger(ctx).Info("event handed to the payment's owner", "owner", n.WorkflowID, "event_id", n.Event.ID, "type", n.Event.Type)
	return nil
}

// SubscriptionsInDunning lists the customer's subscriptions (their
// workflow IDs in platform form, subscription/<sub>: NotifyRunning puts
// them in the caller's account) that the database shows with an open
// campaign (dunning stage not none) and not ended: where a change of the
// customer's payment method is worth handing (routing.CustomerInput).
// None when nothing is stored for the customer.
func (a *Activities) SubscriptionsInDunning(ctx context.Context, customerID string) ([]string, error) {
	if customerID == "" {
		return nil, invalid("subscriptions in dunning: no customer")
	}
	sum, err := a.Store.CustomerSummary(ctx, customerID)
	if errors.Is(err, payflow.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("subscriptions of %s: %w", customerID, err)
	}
	var out []string
	for _, s := range sum.Subscriptions {
		switch {
		case s.DunningStage == "" || s.DunningStage == billing.StageNone:
		case s.Status == billing.StatusCanceled || s.Status == billing.StatusIncompleteExpired:
		default:
			out = append(out, routing.SubscriptionID(s.ID))
		}
	}
	return out, nil
}

// NotifyRunning hands an event to a running workflow (signal owner-event)
// and starts none: a subscription whose run ended has no campaign to
// retry. It reports whether the workflow was running. The workflow is
// the one of this workflow's account (ownerInAccount).
func (a *Activities) NotifyRunning(ctx context.Context, n billing.NotifyOwner) (bool, error) {
	n.WorkflowID = ownerInAccount(ctx, n.WorkflowID)
	if a.Temporal == nil {
		return false, temporal.NewNonRetryableApplicationError("notify running: the worker has no Temporal client", "Misconfigured", nil)
	}
	err := a.Temporal.SignalWorkflow(ctx, n.WorkflowID, "", routing.SignalOwnerEvent, n.Event)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		a.logger(ctx).Info("no running workflow to hand the event to", "workflow", n.WorkflowID, "event_id", n.Event.ID)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("notify %s of %s: %w", n.WorkflowID, n.Event.ID, err)
	}
	a.logger(ctx).Info("event handed to a running workflow", "workflow", n.WorkflowID, "event_id", n.Event.ID, "type", n.Event.Type)
	return true, nil
}
