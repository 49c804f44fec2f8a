package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
)

// activityCtx gives every activity task the same durable retry policy: a
// database that is down or a provider that times out is retried with
// back-off until it answers; errors the activity marks non-retryable fail
// at once (and are recorded, see refusal). summary is shown by the UI.
func activityCtx(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
		},
		Summary: summary,
	})
}

// localRetryFor bounds a local activity's retries. A local activity needs an
// end (Temporal requires a schedule-to-close timeout); 30 days outlasts any
// database outage worth waiting for. Back-offs longer than a workflow task
// become a timer in the history.
const localRetryFor = 30 * 24 * time.Hour

// localActivityCtx runs a quick step inside the workflow task, with the
// same back-off as activityCtx. Each attempt may take 20 s (the provisioning
// POST gives up after 15 s).
func localActivityCtx(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: localRetryFor,
		StartToCloseTimeout:    20 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
		},
		Summary: summary,
	})
}

// upsertSearch sets the search attributes that differ from the workflow's
// current ones. Empty values are left alone (an order has no dunning
// stage; a guest payment no customer).
func upsertSearch(ctx workflow.Context, want billing.SearchAttributes) error {
	have := workflow.GetTypedSearchAttributes(ctx)
	var set []temporal.SearchAttributeUpdate
	for _, kv := range []struct {
		key   temporal.SearchAttributeKeyKeyword
		value string
	}{{routing.CustomerIDKey, want.CustomerID}, {routing.StatusKey, want.Status}, {routing.DunningStageKey, want.DunningStage}} {
		if v, ok := have.GetKeyword(kv.key); kv.value != "" && (!ok || v != kv.value) {
			set = append(set, kv.key.ValueSet(kv.value))
		}
	}
	if len(set) == 0 {
		return nil
	}
	return workflow.UpsertTypedSearchAttributes(ctx, set...)
}

// wait is one turn of a loop: the next event from the receiver, the next
// event forwarded by a dispute, or the timer (when timer is set; summary
// names it in the UI), whichever comes first.
type wait struct {
	ctx     workflow.Context
	events  workflow.ReceiveChannel // routing.SignalEvent: payflow.Event
	owner   workflow.ReceiveChannel // routing.SignalOwnerEvent: billing.Event
	ops     workflow.ReceiveChannel // operator updates (*opRequest); nil: none
	after   time.Duration
	summary string
	timer   bool
}

// outcome of a wait: exactly one is set.
type outcome struct {
	event   *payflow.Event
	forward *billing.Event
	op      *opRequest
	fired   bool
}

func (w wait) next() outcome {
	var out outcome
	tctx, cancel := workflow.WithCancel(w.ctx)
	defer cancel()
	sel := workflow.NewSelector(w.ctx)
	sel.AddReceive(w.events, func(c workflow.ReceiveChannel, _ bool) {
		var ev payflow.Event
		c.Receive(w.ctx, &ev)
		out.event = &ev
	})
	sel.AddReceive(w.owner, func(c workflow.ReceiveChannel, _ bool) {
		var ev billing.Event
		c.Receive(w.ctx, &ev)
		out.forward = &ev
	})
	if w.ops != nil {
		sel.AddReceive(w.ops, func(c workflow.ReceiveChannel, _ bool) {
			var req *opRequest
			c.Receive(w.ctx, &req)
			out.op = req
		})
	}
	if w.timer {
		sel.AddFuture(workflow.NewTimerWithOptions(tctx, max(w.after, 0), workflow.TimerOptions{Summary: w.summary}),
			func(workflow.Future) { out.fired = true })
	}
	sel.Select(w.ctx)
	return out
}

// pending returns a signal already delivered, without waiting: signals are
// drained before a run continues as new or ends, so none is dropped.
func pending(events, owner workflow.ReceiveChannel) (outcome, bool) {
	var ev payflow.Event
	if events.ReceiveAsync(&ev) {
		return outcome{event: &ev}, true
	}
	var fwd billing.Event
	if owner.ReceiveAsync(&fwd) {
		return outcome{forward: &fwd}, true
	}
	return outcome{}, false
}
