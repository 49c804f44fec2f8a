package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
)

// a is only used for method references: activities run on the worker,
// never inside workflow code.
var a *activities.Activities

// MaxSeen bounds the event IDs a workflow remembers for deduplication. Stripe
// retries a delivery for up to three days; a subscription sees a handful of
// events a month, so 1,000 covers years. Older duplicates are still caught
// by the database's event ledger (Activities.RecordEvent).
const MaxSeen = 1000

// Dedupe is the set of Stripe event IDs a workflow has applied, oldest first.
// It travels with the state through continue-as-new.
type Dedupe struct {
	Seen []string `json:"seen"`
}

// Saw reports whether id was applied before, and remembers it otherwise.
func (d *Dedupe) Saw(id string) bool {
	for _, s := range d.Seen {
		if s == id {
			return true
		}
	}
	d.Seen = append(d.Seen, id)
	if len(d.Seen) > MaxSeen {
		d.Seen = append([]string(nil), d.Seen[len(d.Seen)-MaxSeen:]...)
	}
	return false
}

// Step is one line of a workflow's own timeline, for the state query.
type Step struct {
	At   time.Time `json:"at"`
	What string    `json:"what"`
}

// MaxSteps bounds the timeline kept in state.
const MaxSteps = 100

func addStep(steps []Step, at time.Time, what string) []Step {
	steps = append(steps, Step{At: at, What: what})
	if len(steps) > MaxSteps {
		steps = append([]Step(nil), steps[len(steps)-MaxSteps:]...)
	}
	return steps
}

// activityCtx gives every activity the same durable retry policy: a database
// that is down or a provider that times out is retried with back-off until
// it answers; errors the activity marks non-retryable fail at once.
func activityCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
		},
	})
}

// localRetryFor bounds a local activity's retries. A local activity needs an
// end (Temporal requires a schedule-to-close timeout); 30 days outlasts any
// database outage worth waiting for, as the activity tasks' unbounded retries
// do. Back-offs longer than a workflow task become a timer in the history.
const localRetryFor = 30 * 24 * time.Hour

// localActivityCtx runs a short step inside the workflow task, with the
// same back-off as activityCtx. Each attempt may take 20 s (the provisioning
// POST gives up after 15 s); the worker keeps the workflow task alive
// meanwhile. summary is shown by the Temporal UI.
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

// drain applies every signal already delivered, so none is lost when a run
// continues-as-new or ends (Temporal refuses to close a run with signals it
// has not seen, but one it has buffered must be handled by us).
func drain(ch workflow.ReceiveChannel, handle func(payflow.Event) error) error {
	for {
		var ev payflow.Event
		if !ch.ReceiveAsync(&ev) {
			return nil
		}
		if err := handle(ev); err != nil {
			return err
		}
	}
}

// firstTime checks the workflow's own seen set, then the database's event
// ledger, which outlives Temporal's retention of closed runs.
func firstTime(ctx workflow.Context, d *Dedupe, ev payflow.Event) (bool, error) {
	if d.Saw(ev.ID) {
		return false, nil
	}
	var fresh bool
	err := workflow.ExecuteActivity(activityCtx(ctx), a.RecordEvent, ev).Get(ctx, &fresh)
	return fresh, err
}

func upsertStatus(ctx workflow.Context, status string) error {
	return workflow.UpsertTypedSearchAttributes(ctx, StatusKey.ValueSet(status))
}

func upsertCustomer(ctx workflow.Context, customerID string) error {
	if customerID == "" {
		return nil
	}
	return workflow.UpsertTypedSearchAttributes(ctx, CustomerIDKey.ValueSet(customerID))
}

// sendEmail sends one email through the ledger. An email the provider
// refuses for good (a malformed address, say) is marked failed in the ledger
// and counted; it does not fail the workflow, whose payment, access and
// records are still right. The refusal stays visible as the activity's
// failure in the history.
func sendEmail(ctx workflow.Context, req activities.EmailRequest) error {
	err := workflow.ExecuteActivity(activityCtx(ctx), a.SendEmail, req).Get(ctx, nil)
	return emailOutcome(ctx, req, err)
}

// emailOutcome turns a refusal for good into a logged, recorded outcome.
func emailOutcome(ctx workflow.Context, req activities.EmailRequest, err error) error {
	var refused *temporal.ApplicationError
	if errors.As(err, &refused) && refused.Type() == activities.EmailRefusedType &&
		workflow.GetVersion(ctx, "email-refusal-not-fatal", workflow.DefaultVersion, 1) >= 1 {
		workflow.GetLogger(ctx).Warn("email refused by the provider, marked failed", "dedupe_key", req.DedupeKey, "error", err)
		return nil
	}
	return err
}

func setAccess(ctx workflow.Context, ch activities.AccessChange) error {
	return workflow.ExecuteActivity(activityCtx(ctx), a.SetAccess, ch).Get(ctx, nil)
}

func fmtDate(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }
