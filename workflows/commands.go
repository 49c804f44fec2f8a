package workflows

import (
	"errors"
	"fmt"
	"slices"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
)

// a is only used for method references: activities run on the worker,
// never inside workflow code.
var a *activities.Activities

// MaxSteps bounds the timeline kept in a workflow's state.
const MaxSteps = 100

// runner carries out the core's commands for one workflow.
type runner struct {
	ctx workflow.Context
	// local runs the quick database steps (records, access, the event
	// ledger) as local activities: an order then takes a few workflow
	// tasks. SendEmail is always an activity task: it records the
	// provider's acceptance in a heartbeat that its retry reads.
	local bool
	steps *[]routing.Step
	// answer hands the result of a command the core asked for (RetryCharge,
	// RecheckInvoice, FetchDecline, LookupPaymentOwner) back to the core and returns what
	// the core wants next.
	answer func(result any) []billing.Command
	// describe is the one line the Temporal UI shows for the workflow.
	describe func() string
	// refused is the refusal of the command being run, if any (refusal).
	refused *refusedStep
}

// refusedStep is a side effect refused for good.
type refusedStep struct {
	what, errType, message string
}

// run executes cmds in order. Commands that follow from an answer run after
// the rest of the batch, so effects (search attributes above all) are
// applied in the order the core decided them.
func (r *runner) run(cmds []billing.Command) error {
	for len(cmds) > 0 {
		c := cmds[0]
		cmds = cmds[1:]
		r.refused = nil
		more, err := r.do(c)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Name(), err)
		}
		if f := r.refused; f != nil {
			if err := r.alertRefused(c, *f); err != nil {
				return fmt.Errorf("%s refused: %w", c.Name(), err)
			}
		}
		cmds = append(cmds, more...)
	}
	workflow.SetCurrentDetails(r.ctx, r.describe())
	return nil
}

func (r *runner) do(c billing.Command) ([]billing.Command, error) {
	switch c := c.(type) {
	case billing.RecordSubscription:
		return nil, r.step("RecordSubscription "+c.Status+" "+c.DunningStage, nil, a.RecordSubscription, c)
	case billing.RecordInvoice:
		return nil, r.step("RecordInvoice "+c.ID+" "+c.Status, nil, a.RecordInvoice, c)
	case billing.RecordOrder:
		return nil, r.step("RecordOrder "+c.Status, nil, a.RecordOrder, c)
	case billing.RecordRefund:
		return nil, r.step("RecordRefund "+c.ChargeID, nil, a.RecordRefund, c)
	case billing.RecordDispute:
		return nil, r.step("RecordDispute "+c.Status, nil, a.RecordDispute, c)
	case billing.SetAccess:
		return nil, r.step("SetAccess "+c.Status+" "+c.ProductID, nil, a.SetAccess, c)
	case billing.SendEmail:
		return nil, r.task("SendEmail "+c.Purpose, nil, a.SendEmail, c)
	case billing.CancelSubscription:
		return nil, r.task("CancelSubscription "+c.SubscriptionID, nil, a.CancelSubscription, c)
	case billing.TakeOverInvoice:
		// Zero (a refusal the runner recorded) is not taken over: the core
		// falls the campaign back to stripe mode.
		res := billing.TakeoverResult{InvoiceID: c.InvoiceID}
		if !r.collectionControl() {
			res.Skipped = true // a run from before takeovers: as without a Stripe key
			return r.answer(res), nil
		}
		if err := r.task("TakeOverInvoice "+c.InvoiceID, &res, a.TakeOverInvoice, c); err != nil {
			return nil, err
		}
		res.InvoiceID = c.InvoiceID
		return r.answer(res), nil
	case billing.HandBackInvoice:
		if !r.collectionControl() {
			return nil, nil
		}
		return nil, r.task("HandBackInvoice "+c.InvoiceID, nil, a.HandBackInvoice, c)
	case billing.MarkInvoiceUncollectible:
		if !r.collectionControl() {
			return nil, nil
		}
		return nil, r.task("MarkInvoiceUncollectible "+c.InvoiceID, nil, a.MarkInvoiceUncollectible, c)
	case billing.PauseCollection:
		if !r.collectionControl() {
			return nil, nil
		}
		return nil, r.task("PauseCollection "+c.SubscriptionID+" "+c.Behavior, nil, a.PauseCollection, c)
	case billing.ResumeCollection:
		if !r.collectionControl() {
			return nil, nil
		}
		return nil, r.task("ResumeCollection "+c.SubscriptionID, nil, a.ResumeCollection, c)
	case billing.NotifyOwner:
		return nil, r.task("NotifyOwner "+c.WorkflowID, nil, a.NotifyOwner, c)
	case billing.RetryCharge:
		// A charge Stripe refuses for good counts as a failed attempt.
		res := billing.ChargeResult{InvoiceID: c.InvoiceID, Attempt: c.Attempt}
		if err := r.task(fmt.Sprintf("RetryCharge %s #%d", c.InvoiceID, c.Attempt), &res, a.RetryCharge, c); err != nil {
			return nil, err
		}
		res.InvoiceID, res.Attempt = c.InvoiceID, c.Attempt
		return r.answer(res), nil
	case billing.FetchDecline:
		// Skipped (no Stripe key, a refusal, a run recorded before the
		// fetch existed) is treated as a soft decline by the core.
		if workflow.GetVersion(r.ctx, "fetch-invoice-decline", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
			return r.answer(billing.DeclineResult{InvoiceID: c.InvoiceID, Skipped: true}), nil
		}
		var res billing.DeclineResult
		if err := r.task("FetchDecline "+c.InvoiceID, &res, a.FetchDecline, c); err != nil {
			return nil, err
		}
		res.InvoiceID, res.Skipped = c.InvoiceID, res.Skipped || r.refused != nil
		return r.answer(res), nil
	case billing.RecheckInvoice:
		// A re-read Stripe refuses for good proceeds on what payflow knows,
		// as without STRIPE_API_KEY.
		res := billing.RecheckResult{InvoiceID: c.InvoiceID, Step: c.Step, InvoiceStatus: billing.InvoiceOpen}
		if err := r.task("RecheckInvoice "+c.InvoiceID+" before "+c.Step, &res, a.RecheckInvoice, c); err != nil {
			return nil, err
		}
		res.InvoiceID, res.Step = c.InvoiceID, c.Step
		return r.answer(res), nil
	case billing.LookupPaymentOwner:
		var owner billing.PaymentOwner // refused: nothing payflow sells
		if err := r.task("LookupPaymentOwner "+c.ChargeID, &owner, a.LookupPaymentOwner, c); err != nil {
			return nil, err
		}
		return r.answer(owner), nil
	case billing.UpsertSearchAttributes:
		return nil, upsertSearch(r.ctx, billing.SearchAttributes(c))
	case billing.ScheduleTimer, billing.CancelTimers:
		// The loop waits for the earliest of the state's Timers(), which
		// already reflect these.
		return nil, nil
	case billing.Note:
		r.note(c.What)
		return nil, nil
	}
	return nil, fmt.Errorf("unknown command %T", c)
}

// collectionControl reports whether the run carries out the commands that
// control Stripe's collection (TakeOverInvoice, HandBackInvoice,
// MarkInvoiceUncollectible, PauseCollection, ResumeCollection): they are
// new activities, patched in so a history recorded without them replays.
func (r *runner) collectionControl() bool {
	return workflow.GetVersion(r.ctx, "invoice-collection-control", workflow.DefaultVersion, 1) != workflow.DefaultVersion
}

func (r *runner) note(what string) {
	steps := append(*r.steps, routing.Step{At: workflow.Now(r.ctx).UTC(), What: what})
	if len(steps) > MaxSteps {
		steps = append([]routing.Step(nil), steps[len(steps)-MaxSteps:]...)
	}
	*r.steps = steps
}

// step runs a quick database step: a local activity for orders, an
// activity task otherwise.
func (r *runner) step(summary string, result, activity any, args ...any) error {
	if !r.local {
		return r.task(summary, result, activity, args...)
	}
	err := workflow.ExecuteLocalActivity(localActivityCtx(r.ctx, summary), activity, args...).Get(r.ctx, result)
	return r.refusal(summary, err)
}

// task runs an activity task.
func (r *runner) task(summary string, result, activity any, args ...any) error {
	err := workflow.ExecuteActivity(activityCtx(r.ctx, summary), activity, args...).Get(r.ctx, result)
	return r.refusal(summary, err)
}

// refusal turns a permanent refusal (a non-retryable application error:
// an email the provider refuses for good, a provisioning 4xx, an input
// Stripe rejects) into a line of the timeline and a warning: the payment,
// the access and the records are still right, so the workflow goes on.
// Anything else (cancellation, a local activity out of time) fails it.
func (r *runner) refusal(summary string, err error) error {
	var refused *temporal.ApplicationError
	if err == nil || !errors.As(err, &refused) || !refused.NonRetryable() {
		return err
	}
	r.note(fmt.Sprintf("%s refused (%s): %s", summary, refused.Type(), refused.Message()))
	r.refused = &refusedStep{what: summary, errType: refused.Type(), message: refused.Message()}
	workflow.GetLogger(r.ctx).Warn("refused for good, workflow goes on", "step", summary,
		"email_refused", refused.Type() == activities.EmailRefusedType, "error", err)
	return nil
}

// alertRefused counts a command refused for good
// (payflow_side_effects_refused_total{effect}) and alerts ALERT_EMAIL
// through the ledger (billing.RefusedEffect: once per refused effect).
// The alert is a new activity after the refused one, so it is patched in:
// a run whose history has a refusal without it replays as before.
func (r *runner) alertRefused(c billing.Command, f refusedStep) error {
	workflow.GetMetricsHandler(r.ctx).WithTags(map[string]string{"effect": c.Name()}).
		Counter("payflow_side_effects_refused").Inc(1)
	alert := billing.RefusedEffect(workflow.GetInfo(r.ctx).WorkflowExecution.ID, c, f.what, f.errType, f.message)
	if alert == nil || workflow.GetVersion(r.ctx, "alert-refused-effects", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	r.note("operator alerted: " + f.what + " refused")
	return r.task("SendEmail "+alert.Purpose, nil, a.SendEmail, *alert)
}

// firstTime checks the Stripe event against the database's ledger, which
// outlives Temporal's retention of closed runs: false means another run
// applied it (a late duplicate). The state's own list of seen IDs is
// checked first, without an activity.
func (r *runner) firstTime(seen []string, ev payflow.Event) (bool, error) {
	if slices.Contains(seen, ev.ID) {
		return false, nil
	}
	var fresh bool
	if err := r.step("RecordEvent "+ev.ID+" "+ev.Type, &fresh, a.RecordEvent, ev); err != nil {
		return false, err
	}
	if !fresh {
		r.note("event " + ev.ID + " (" + ev.Type + ") already applied by an earlier run")
	}
	return fresh, nil
}
