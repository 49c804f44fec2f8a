package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

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
func (a *Activities) NotifyOwner(ctx context.Context, n billing.NotifyOwner) error {
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
