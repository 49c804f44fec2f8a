package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
)

// CustomerView is what the query `state` returns and the run's result.
type CustomerView struct {
	CustomerID string         `json:"customer_id"`
	Events     int            `json:"events"`   // events received by this run
	Notified   []string       `json:"notified"` // workflow IDs signalled, in order
	Seen       []string       `json:"seen"`     // event IDs handled by this run
	Steps      []routing.Step `json:"steps"`
}

// CustomerWorkflow is customer/<cus>, a short-lived fan-out: an event about
// the customer (a change of payment method: billing.IsPaymentMethodUpdate)
// is recorded in the event ledger once, then handed (signal owner-event)
// to each of the customer's subscriptions the database shows in dunning
// whose workflow is running (activities SubscriptionsInDunning,
// NotifyRunning); each applies it to its own campaigns
// (billing/cardupdate.go) and dedupes it by its seen event IDs. The run
// keeps no billing state and ends as soon as no signal is left, so the
// receiver's next event starts a new run (reuse allowed).
func CustomerWorkflow(ctx workflow.Context, in routing.CustomerInput) (CustomerView, error) {
	view := CustomerView{CustomerID: in.CustomerID}
	r := &runner{ctx: ctx, steps: &view.Steps, answer: func(any) []billing.Command { return nil },
		describe: func() string { return "customer " + in.CustomerID }}
	if err := workflow.SetQueryHandler(ctx, routing.QueryState, func() (CustomerView, error) { return view, nil }); err != nil {
		return view, err
	}
	events := workflow.GetSignalChannel(ctx, routing.SignalEvent)
	first := true
	for {
		var ev payflow.Event
		if first {
			events.Receive(ctx, &ev) // the receiver's signal that started the run
			first = false
		} else if !events.ReceiveAsync(&ev) {
			return view, nil // signals drained: none is dropped
		}
		view.Events++
		if err := fanOut(r, &view, in.CustomerID, ev); err != nil {
			return view, err
		}
	}
}

func fanOut(r *runner, view *CustomerView, customerID string, ev payflow.Event) error {
	fresh, err := r.firstTime(view.Seen, ev)
	if err != nil || !fresh {
		return err
	}
	view.Seen = append(view.Seen, ev.ID)
	bev := billing.FromPayflow(ev)
	if !billing.IsPaymentMethodUpdate(bev) {
		r.note(fmt.Sprintf("%s (%s): not a change of payment method, nothing to hand over", ev.ID, ev.Type))
		return nil
	}
	var subs []string
	if err := r.task("SubscriptionsInDunning "+customerID, &subs, a.SubscriptionsInDunning, customerID); err != nil {
		return err
	}
	if len(subs) == 0 {
		r.note(fmt.Sprintf("payment method %s: no subscription of %s in dunning", bev.PaymentMethod, customerID))
		return nil
	}
	for _, id := range subs {
		var running bool
		if err := r.task("NotifyRunning "+id, &running, a.NotifyRunning, billing.NotifyOwner{WorkflowID: id, Event: bev}); err != nil {
			return err
		}
		if running {
			view.Notified = append(view.Notified, id)
			r.note(fmt.Sprintf("payment method %s (%s) handed to %s", bev.PaymentMethod, ev.ID, id))
		} else {
			r.note(fmt.Sprintf("%s is not running: nothing to retry there", id))
		}
	}
	return nil
}
