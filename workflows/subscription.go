package workflows

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
)

const (
	defaultMaxEventsPerRun = 500
	defaultLinger          = 7 * 24 * time.Hour
)

// SubscriptionView is what the query `state` returns and the run's result.
type SubscriptionView struct {
	Status       string               `json:"status"` // Stripe's
	DunningStage string               `json:"dunning_stage"`
	Details      string               `json:"details"`
	Subscription billing.Subscription `json:"subscription"`
	Timers       []billing.Timer      `json:"timers,omitempty"`
	Steps        []routing.Step       `json:"steps"`
	Runs         int                  `json:"runs"`
}

type subscriptionRun struct {
	ctx   workflow.Context
	in    routing.SubscriptionInput
	sub   billing.Subscription
	steps []routing.Step
	cmds  *runner
	// skip is a timer that fired without the core moving on: it is not
	// waited for again until something else happens (a guard; the core
	// promises progress).
	skip *billing.Timer
	ops  *operatorQueue
}

// SubscriptionWorkflow mirrors one Stripe subscription for its whole life,
// subscription/<subscription>: each event goes to billing.ApplySubscription,
// each due timer (a dunning retry, the end of grace, the final action) to
// billing.FireSubscriptionTimer, and the commands they return run in order.
// The whole state continues as new when the history grows.
func SubscriptionWorkflow(ctx workflow.Context, in routing.SubscriptionInput) (SubscriptionView, error) {
	wf := &subscriptionRun{ctx: ctx, in: in, sub: in.State, steps: in.Timeline}
	wf.cmds = &runner{ctx: ctx, steps: &wf.steps, answer: wf.answer, describe: func() string { return wf.sub.Describe() }}
	if err := workflow.SetQueryHandler(ctx, routing.QueryState, func() (SubscriptionView, error) { return wf.view(), nil }); err != nil {
		return wf.view(), err
	}
	wf.ops = newOperatorQueue(ctx)
	if err := wf.ops.register(ctx, routing.SubscriptionUpdates, func(name string, in routing.OperatorInput) error {
		op, err := subscriptionOperation(name, in)
		if err != nil {
			return err
		}
		return billing.ValidateOperation(wf.sub, op)
	}); err != nil {
		return wf.view(), err
	}
	err := wf.run()
	return wf.view(), err
}

func (wf *subscriptionRun) view() SubscriptionView {
	s := wf.sub
	return SubscriptionView{Status: s.Status, DunningStage: s.DunningStage(), Details: s.Describe(), Subscription: s,
		Timers: s.Timers(), Steps: wf.steps, Runs: wf.in.Runs}
}

func (wf *subscriptionRun) run() error {
	ctx := wf.ctx
	if err := upsertSearch(ctx, wf.sub.Search); err != nil {
		return err
	}
	workflow.SetCurrentDetails(ctx, wf.sub.Describe())
	maxEvents := cmp.Or(wf.in.MaxEventsPerRun, defaultMaxEventsPerRun)
	linger := cmp.Or(wf.in.Linger, defaultLinger)
	w := wait{ctx: ctx, events: workflow.GetSignalChannel(ctx, routing.SignalEvent),
		owner: workflow.GetSignalChannel(ctx, routing.SignalOwnerEvent), ops: wf.ops.ch}
	handled, lingered := 0, false
	for {
		got, ok := pending(w.events, w.owner)
		if !ok {
			got.op, ok = wf.ops.next()
		}
		if !ok {
			// Every accepted operator update has been applied; let their
			// handlers return before the run ends or continues as new.
			// (A handler accepted but not yet queued wakes the loop too.)
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) || wf.ops.ch.Len() > 0 }); err != nil {
				return err
			}
			if wf.ops.ch.Len() > 0 {
				continue
			}
			switch {
			case handled >= maxEvents || workflow.GetInfo(ctx).GetContinueAsNewSuggested():
				return workflow.NewContinueAsNewError(ctx, routing.SubscriptionWorkflowName, routing.SubscriptionInput{
					State: wf.sub, Timeline: wf.steps, Runs: wf.in.Runs + 1, MaxEventsPerRun: wf.in.MaxEventsPerRun, Linger: wf.in.Linger})
			case lingered:
				return nil // signals drained: none is dropped
			}
			due := wf.nextTimer(linger, &w)
			got = w.next()
			if got.fired && due == nil {
				wf.cmds.note(fmt.Sprintf("nothing more to wait for after %s: run ends", linger))
				lingered = true
				continue
			}
			if got.fired {
				handled++
				if err := wf.fire(*due); err != nil {
					return err
				}
				continue
			}
		}
		handled++
		wf.skip, lingered = nil, false
		if got.op != nil {
			if err := wf.operate(got.op); err != nil {
				return err
			}
			continue
		}
		if err := wf.handle(got); err != nil {
			return err
		}
	}
}

// operate applies an operator update: the core re-validates it against the
// state now (an event may have changed it since the validator ran).
func (wf *subscriptionRun) operate(req *opRequest) error {
	defer func() { req.done = true }()
	op, err := subscriptionOperation(req.name, req.in)
	if err != nil {
		req.err = err
		return nil
	}
	sub, cmds, done, err := billing.ApplyOperation(wf.sub, op, workflow.Now(wf.ctx))
	if err != nil {
		req.err = err
		wf.cmds.note(fmt.Sprintf("operator %s: %s refused: %v", op.By, req.name, err))
		return nil
	}
	req.result = done
	return wf.apply(sub, cmds)
}

// nextTimer sets what the loop waits for besides signals: the earliest of
// the core's timers or, when the subscription ended (or never had a
// snapshot) and nothing is scheduled, the linger period after which the run
// ends. It returns the core's timer, nil for the linger.
func (wf *subscriptionRun) nextTimer(linger time.Duration, w *wait) *billing.Timer {
	now := workflow.Now(wf.ctx)
	for _, t := range wf.sub.Timers() {
		if s := wf.skip; s != nil && s.Campaign == t.Campaign && s.Kind == t.Kind && s.At.Equal(t.At) {
			continue
		}
		w.timer, w.after, w.summary = true, t.At.Sub(now), t.Kind+" "+t.Campaign
		return &t
	}
	w.timer = wf.sub.Terminal() || wf.sub.Status == ""
	w.after, w.summary = linger, "linger"
	return nil
}

func (wf *subscriptionRun) fire(t billing.Timer) error {
	sub, cmds := billing.FireSubscriptionTimer(wf.sub, t, workflow.Now(wf.ctx))
	if len(cmds) == 0 {
		wf.skip = &t
	}
	return wf.apply(sub, cmds)
}

func (wf *subscriptionRun) handle(got outcome) error {
	ev := got.forward
	if got.event != nil {
		fresh, err := wf.cmds.firstTime(wf.sub.Seen, *got.event)
		if err != nil || !fresh {
			return err
		}
		e := billing.FromPayflow(*got.event)
		ev = &e
	}
	// The policy in force now: a campaign this event starts keeps it.
	var policy billing.Policy
	if err := wf.cmds.task("GetDunningPolicy", &policy, a.GetDunningPolicy); err != nil {
		return err
	}
	sub, cmds := billing.ApplySubscription(wf.sub, *ev, policy, workflow.Now(wf.ctx))
	return wf.apply(sub, cmds)
}

// answer feeds the result of a Stripe call back to the core.
func (wf *subscriptionRun) answer(result any) []billing.Command {
	var sub billing.Subscription
	var cmds []billing.Command
	now := workflow.Now(wf.ctx)
	switch r := result.(type) {
	case billing.ChargeResult:
		sub, cmds = billing.ApplyChargeResult(wf.sub, r, now)
	case billing.RecheckResult:
		sub, cmds = billing.ApplyRecheck(wf.sub, r, now)
	case billing.TakeoverResult:
		sub, cmds = billing.ApplyTakeover(wf.sub, r, now)
	case billing.DeclineResult:
		sub, cmds = billing.ApplyDecline(wf.sub, r, now)
	default:
		return nil
	}
	wf.count(sub)
	wf.sub = sub
	return cmds
}

func (wf *subscriptionRun) apply(sub billing.Subscription, cmds []billing.Command) error {
	wf.count(sub)
	wf.sub = sub
	return wf.cmds.run(cmds)
}

// count reports campaigns started, recovered and ended unrecovered as
// worker metrics: recovered ones tagged with their decline category and
// the failed attempts before recovery, with the amount recovered (per
// currency, minor units) and the time to recover (per category);
// unrecovered ones tagged with their category. Metrics are emitted from
// workflow code: the SDK's handler drops them during replay.
func (wf *subscriptionRun) count(next billing.Subscription) {
	mh := workflow.GetMetricsHandler(wf.ctx)
	started, ended := campaignsApart(next.Campaigns, wf.sub.Campaigns), campaignsApart(wf.sub.Campaigns, next.Campaigns)
	if len(started) > 0 {
		mh.Counter("payflow_dunning_campaigns_started").Inc(int64(len(started)))
	}
	// Which ended campaign was recovered: its invoice is paid now.
	// Which were counted unrecovered: those that reached their final step
	// now, or ended unpaid before it.
	var paid, unpaid []billing.Campaign
	for _, c := range ended {
		switch {
		case invoiceStatus(next, c.InvoiceID) == billing.InvoicePaid:
			paid = append(paid, c)
		case !c.Final:
			unpaid = append(unpaid, c)
		}
	}
	for _, c := range next.Campaigns {
		if i := slices.IndexFunc(wf.sub.Campaigns, func(o billing.Campaign) bool { return o.InvoiceID == c.InvoiceID }); c.Final && (i < 0 || !wf.sub.Campaigns[i].Final) {
			unpaid = append(unpaid, c)
		}
	}
	now := workflow.Now(wf.ctx)
	if d := next.Recovered - wf.sub.Recovered; d > 0 {
		for i := range d {
			tags := map[string]string{"category": "unknown", "attempt": "unknown"}
			if i < len(paid) {
				r := billing.RecoveryOf(paid[i], next)
				tags = map[string]string{"category": r.Category, "attempt": r.Attempt}
				if r.Amount > 0 {
					mh.WithTags(map[string]string{"currency": r.Currency}).Counter("payflow_dunning_recovered_amount").Inc(r.Amount)
				}
				mh.WithTags(map[string]string{"category": r.Category}).Timer("payflow_dunning_time_to_recover").Record(now.Sub(paid[i].FailedAt))
			}
			mh.WithTags(tags).Counter("payflow_dunning_campaigns_recovered").Inc(1)
		}
	}
	if d := next.Unrecovered - wf.sub.Unrecovered; d > 0 {
		for i := range d {
			category := "unknown"
			if i < len(unpaid) {
				category = unpaid[i].DeclineCategory()
			}
			mh.WithTags(map[string]string{"category": category}).Counter("payflow_dunning_campaigns_unrecovered").Inc(1)
		}
	}
}

// invoiceStatus is the status of s's invoice id ("" when not kept).
func invoiceStatus(s billing.Subscription, id string) string {
	for _, inv := range s.Invoices {
		if inv.ID == id {
			return inv.Status
		}
	}
	return ""
}

// campaignsApart lists the campaigns of a that b does not have.
func campaignsApart(a, b []billing.Campaign) []billing.Campaign {
	var out []billing.Campaign
	for _, c := range a {
		if !slices.ContainsFunc(b, func(o billing.Campaign) bool { return o.InvoiceID == c.InvoiceID }) {
			out = append(out, c)
		}
	}
	return out
}
