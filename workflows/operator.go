package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
)

// opRequest is an operator update waiting for its run's loop: the loop is
// the only code that changes the state and runs commands, so an update
// never interleaves with an event's commands. The handler waits until the
// loop has applied it.
type opRequest struct {
	name   string
	in     routing.OperatorInput
	done   bool
	result string
	err    error
}

// operatorQueue hands validated updates to the loop.
type operatorQueue struct {
	ch workflow.Channel
}

func newOperatorQueue(ctx workflow.Context) *operatorQueue {
	return &operatorQueue{ch: workflow.NewBufferedChannel(ctx, 64)}
}

// register installs one update handler per name; validate says why an
// update cannot apply to the current state (nil: accepted).
func (q *operatorQueue) register(ctx workflow.Context, names []string, validate func(name string, in routing.OperatorInput) error) error {
	for _, name := range names {
		handler := func(ctx workflow.Context, in routing.OperatorInput) (string, error) {
			req := &opRequest{name: name, in: in}
			q.ch.Send(ctx, req)
			if err := workflow.Await(ctx, func() bool { return req.done }); err != nil {
				return "", err
			}
			return req.result, req.err
		}
		err := workflow.SetUpdateHandlerWithOptions(ctx, name, handler, workflow.UpdateHandlerOptions{
			Validator:   func(_ workflow.Context, in routing.OperatorInput) error { return validate(name, in) },
			Description: "operator action " + name + `: input {"by": "who (required)", "reason": "why", "invoice": "in_… (when several are open)", "extend": "72h (extend-grace)"}`,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// next returns a queued update without waiting.
func (q *operatorQueue) next() (*opRequest, bool) {
	var req *opRequest
	ok := q.ch.ReceiveAsync(&req)
	return req, ok
}

// subscriptionOperation turns an update into the core's operation.
func subscriptionOperation(name string, in routing.OperatorInput) (billing.Operation, error) {
	op := billing.Operation{InvoiceID: strings.TrimSpace(in.Invoice), By: strings.TrimSpace(in.By), Reason: strings.TrimSpace(in.Reason)}
	switch name {
	case routing.UpdateRetryNow:
		op.Action = billing.OpRetryNow
	case routing.UpdatePause:
		op.Action = billing.OpPause
	case routing.UpdateResume:
		op.Action = billing.OpResume
	case routing.UpdateExtendGrace:
		op.Action = billing.OpExtendGrace
		d, err := time.ParseDuration(strings.TrimSpace(in.Extend))
		if err != nil {
			return op, fmt.Errorf("extend: want a duration such as 72h, got %q", in.Extend)
		}
		op.Extend = d
	case routing.UpdateEndCampaign:
		op.Action = billing.OpEndCampaign
	case routing.UpdateGrantAccess:
		op.Action = billing.OpGrantAccess
	case routing.UpdateRevokeAccess:
		op.Action = billing.OpRevokeAccess
	case routing.UpdateClearAccess:
		op.Action = billing.OpClearOverride
	default:
		return op, fmt.Errorf("unknown operator update %q", name)
	}
	return op, nil
}
