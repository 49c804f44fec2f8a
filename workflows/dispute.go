package workflows

import (
	"cmp"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
)

// DisputeView is what the query `state` returns and the run's result.
type DisputeView struct {
	Status  string          `json:"status"` // needs_response, under_review, won, lost
	Details string          `json:"details"`
	Dispute billing.Dispute `json:"dispute"`
	Timers  []billing.Timer `json:"timers,omitempty"`
	Steps   []routing.Step  `json:"steps"`
}

type disputeRun struct {
	ctx     workflow.Context
	policy  billing.DisputePolicy
	dispute billing.Dispute
	steps   []routing.Step
	cmds    *runner
	// received: an event from the receiver reached this run.
	received bool
	ops      *operatorQueue
}

// DisputeWorkflow follows one chargeback, dispute/<dispute>, from
// charge.dispute.created to its close: each event goes to
// billing.ApplyDispute, the evidence reminder to billing.FireDisputeTimer.
// The core alerts the operator and hands every event to the owner of the
// disputed payment (an order or a subscription, which changes its own
// access), asking who that is first when the event does not say.
func DisputeWorkflow(ctx workflow.Context, in routing.DisputeInput) (DisputeView, error) {
	policy := billing.DefaultDisputePolicy()
	policy.RemindBefore = cmp.Or(in.RemindBefore, policy.RemindBefore)
	wf := &disputeRun{ctx: ctx, policy: policy, dispute: billing.NewDispute(in.DisputeID)}
	wf.cmds = &runner{ctx: ctx, steps: &wf.steps, answer: wf.answer, describe: func() string { return wf.dispute.Describe() }}
	if err := workflow.SetQueryHandler(ctx, routing.QueryState, func() (DisputeView, error) { return wf.view(), nil }); err != nil {
		return wf.view(), err
	}
	wf.ops = newOperatorQueue(ctx)
	if err := wf.ops.register(ctx, []string{routing.UpdateEvidenceSubmitted}, func(_ string, in routing.OperatorInput) error {
		return billing.ValidateEvidenceSubmitted(wf.dispute, strings.TrimSpace(in.By))
	}); err != nil {
		return wf.view(), err
	}
	err := wf.run()
	return wf.view(), err
}

func (wf *disputeRun) view() DisputeView {
	d := wf.dispute
	return DisputeView{Status: d.Status(), Details: d.Describe(), Dispute: d, Timers: d.Timers(), Steps: wf.steps}
}

func (wf *disputeRun) run() error {
	ctx := wf.ctx
	w := wait{ctx: ctx, events: workflow.GetSignalChannel(ctx, routing.SignalEvent),
		owner: workflow.GetSignalChannel(ctx, routing.SignalOwnerEvent), ops: wf.ops.ch}
	for {
		got, ok := pending(w.events, w.owner)
		if !ok {
			got.op, ok = wf.ops.next()
		}
		if !ok {
			// Done: closed in Stripe and every event handed to its owner.
			// A run whose only event was applied by an earlier run (a late
			// duplicate) holds nothing and ends too.
			if wf.dispute.Done() || (wf.received && len(wf.dispute.Seen) == 0) {
				if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) || wf.ops.ch.Len() > 0 }); err != nil {
					return err
				}
				if wf.ops.ch.Len() > 0 {
					continue
				}
				return nil // signals drained: none is dropped
			}
			timers := wf.dispute.Timers()
			w.timer = len(timers) > 0
			if w.timer {
				w.after, w.summary = timers[0].At.Sub(workflow.Now(ctx)), "evidence reminder"
			}
			if got = w.next(); got.fired {
				d, cmds := billing.FireDisputeTimer(wf.dispute, timers[0], workflow.Now(ctx))
				if err := wf.apply(d, cmds); err != nil {
					return err
				}
				continue
			}
		}
		if err := wf.handle(got); err != nil {
			return err
		}
	}
}

func (wf *disputeRun) handle(got outcome) error {
	if req := got.op; req != nil {
		defer func() { req.done = true }()
		d, cmds, done, err := billing.ApplyEvidenceSubmitted(wf.dispute, strings.TrimSpace(req.in.By), strings.TrimSpace(req.in.Reason), workflow.Now(wf.ctx))
		if err != nil {
			req.err = err
			return nil
		}
		req.result = done
		return wf.apply(d, cmds)
	}
	if got.event == nil {
		return nil // disputes own no payment: nothing is forwarded to them
	}
	wf.received = true
	fresh, err := wf.cmds.firstTime(wf.dispute.Seen, *got.event)
	if err != nil || !fresh {
		return err
	}
	d, cmds := billing.ApplyDispute(wf.dispute, billing.FromPayflow(*got.event), wf.policy, workflow.Now(wf.ctx))
	return wf.apply(d, cmds)
}

// answer feeds the owner lookup back to the core, which forwards the
// events it held.
func (wf *disputeRun) answer(result any) []billing.Command {
	owner, ok := result.(billing.PaymentOwner)
	if !ok {
		return nil
	}
	d, cmds := billing.ApplyDisputeOwner(wf.dispute, owner, workflow.Now(wf.ctx))
	wf.dispute = d
	return cmds
}

func (wf *disputeRun) apply(d billing.Dispute, cmds []billing.Command) error {
	mh := workflow.GetMetricsHandler(wf.ctx)
	if d.StripeStatus != "" && wf.dispute.StripeStatus == "" {
		mh.Counter("payflow_disputes_opened").Inc(1)
	}
	if d.Closed() && !wf.dispute.Closed() {
		mh.WithTags(map[string]string{"outcome": d.Status()}).Counter("payflow_disputes_closed").Inc(1)
	}
	wf.dispute = d
	return wf.cmds.run(cmds)
}
