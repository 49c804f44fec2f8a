package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
)

// defaultOrderIdle ends a run that waits for a payment this long.
const defaultOrderIdle = 30 * 24 * time.Hour

// OrderView is what the query `state` returns and the run's result.
type OrderView struct {
	Status  string         `json:"status"` // billing.Order.Status()
	Details string         `json:"details"`
	Order   billing.Order  `json:"order"`
	Steps   []routing.Step `json:"steps"`
}

type orderRun struct {
	ctx   workflow.Context
	in    routing.OrderInput
	order billing.Order
	steps []routing.Step
	cmds  *runner
	// seeded: an earlier run stored the order. received: an event from
	// the receiver reached this run.
	seeded, received bool
}

// OrderWorkflow is one one-off payment, order/<payment_intent>: each Stripe
// event about it goes to billing.ApplyOrder, whose commands (record the
// order, grant access, send the receipt, …) run in order. The run ends once
// the order is paid or closed unpaid; a refund or dispute weeks later starts
// a new run, which begins from the stored order. A refund of a payment that
// paid an invoice is not an order's: the core asks who owns the invoice
// (LookupPaymentOwner, answered through billing.ApplyOrderOwner), hands the
// event to that subscription, and the run ends.
func OrderWorkflow(ctx workflow.Context, in routing.OrderInput) (OrderView, error) {
	wf := &orderRun{ctx: ctx, in: in, order: billing.NewOrder(in.OrderID)}
	wf.cmds = &runner{ctx: ctx, local: true, steps: &wf.steps, describe: func() string { return wf.order.Describe() },
		answer: wf.answer}
	if err := workflow.SetQueryHandler(ctx, routing.QueryState, func() (OrderView, error) { return wf.view(), nil }); err != nil {
		return wf.view(), err
	}
	err := wf.run()
	return wf.view(), err
}

func (wf *orderRun) view() OrderView {
	return OrderView{Status: wf.order.Status(), Details: wf.order.Describe(), Order: wf.order, Steps: wf.steps}
}

func (wf *orderRun) run() error {
	ctx := wf.ctx
	if err := wf.seed(); err != nil {
		return err
	}
	idle := wf.in.IdleTimeout
	if idle <= 0 {
		idle = defaultOrderIdle
	}
	w := wait{ctx: ctx, events: workflow.GetSignalChannel(ctx, routing.SignalEvent),
		owner: workflow.GetSignalChannel(ctx, routing.SignalOwnerEvent), after: idle, summary: "idle"}
	gaveUp := false
	for {
		got, ok := pending(w.events, w.owner)
		switch {
		case ok:
		case wf.settled() || gaveUp || wf.heldNothing():
			return nil // signals drained: none is dropped
		default:
			// Only an unpaid order gives up waiting; a paid one under
			// dispute waits for the outcome, which must find the access it
			// suspended.
			w.timer = !wf.order.Paid
			if got = w.next(); got.fired {
				wf.cmds.note("no event for " + idle.String() + " while " + wf.order.Status() + ": run ends (a later event starts a new one)")
				gaveUp = true
				continue
			}
		}
		if err := wf.handle(got); err != nil {
			return err
		}
	}
}

// settled: paid and handled, or closed unpaid, with nothing the core still
// holds suspended (an open dispute).
func (wf *orderRun) settled() bool {
	if !wf.order.Done() {
		return false
	}
	for _, g := range wf.order.Access {
		if g.Status == billing.AccessSuspended {
			return false
		}
	}
	return true
}

// heldNothing: every event this run received was applied by an earlier
// run (a late duplicate) and no order is stored, as for a payment that
// paid an invoice: there is nothing to wait for.
func (wf *orderRun) heldNothing() bool {
	return wf.received && !wf.seeded && len(wf.order.Seen) == 0
}

// seed starts the run from the stored order, if an earlier run stored one.
func (wf *orderRun) seed() error {
	var stored *payflow.Order
	if err := wf.cmds.step("LoadOrder "+wf.in.OrderID, &stored, a.LoadOrder, wf.in.OrderID); err != nil {
		return err
	}
	if stored != nil {
		wf.seeded = true
		wf.order = billing.OrderFromRecord(*stored)
		wf.cmds.note("stored order loaded: " + wf.order.Status())
	}
	return upsertSearch(wf.ctx, wf.order.Search)
}

func (wf *orderRun) handle(got outcome) error {
	ev := got.forward
	if got.event != nil {
		wf.received = true
		fresh, err := wf.cmds.firstTime(wf.order.Seen, *got.event)
		if err != nil || !fresh {
			return err
		}
		e := billing.FromPayflow(*got.event)
		ev = &e
	}
	order, cmds := billing.ApplyOrder(wf.order, *ev, workflow.Now(wf.ctx))
	wf.order = order
	return wf.cmds.run(cmds)
}

// answer feeds the owner of an invoice's payment back to the core, which
// forwards the events it held.
func (wf *orderRun) answer(result any) []billing.Command {
	owner, ok := result.(billing.PaymentOwner)
	if !ok {
		return nil
	}
	o, cmds := billing.ApplyOrderOwner(wf.order, owner, workflow.Now(wf.ctx))
	wf.order = o
	return cmds
}
