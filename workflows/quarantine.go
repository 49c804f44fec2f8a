package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
)

// QuarantineView is what the query `state` returns and the run's result.
type QuarantineView struct {
	EventID    string `json:"event_id"`
	Type       string `json:"type"`
	APIVersion string `json:"api_version,omitempty"`
	Reason     string `json:"reason"`
	Detail     string `json:"detail,omitempty"`
	// Stored: this run wrote the quarantine row (false: an earlier run had,
	// for a redelivery after Temporal's retention dropped that run).
	Stored bool           `json:"stored"`
	Steps  []routing.Step `json:"steps"`
}

// QuarantineWorkflow is quarantine/<evt>, short-lived: it keeps one event
// the receiver could not interpret (routing.QuarantineInput, the raw
// payload included) in the quarantine table (StoreQuarantined, which also
// counts payflow_events_quarantined_total{reason}), alerts ALERT_EMAIL
// through the email ledger under the key quarantine/<evt> (so once per
// event, whatever the runs), and ends. The event itself is never applied:
// `payflow quarantine replay` hands it to its owner once payflow can read
// it. Both steps retry until they succeed (a database down waits for the
// database); an alert the provider refuses for good is noted and the run
// ends without it, the row being what matters.
func QuarantineWorkflow(ctx workflow.Context, in routing.QuarantineInput) (QuarantineView, error) {
	view := QuarantineView{EventID: in.EventID, Type: in.Type, APIVersion: in.APIVersion, Reason: in.Reason, Detail: in.Detail}
	describe := func() string {
		return fmt.Sprintf("%s (%s, API %s) quarantined: %s", in.EventID, in.Type, in.APIVersion, in.Reason)
	}
	r := &runner{ctx: ctx, steps: &view.Steps, answer: func(any) []billing.Command { return nil }, describe: describe}
	if err := workflow.SetQueryHandler(ctx, routing.QueryState, func() (QuarantineView, error) { return view, nil }); err != nil {
		return view, err
	}
	workflow.SetCurrentDetails(ctx, describe())
	if err := r.task("StoreQuarantined "+in.EventID, &view.Stored, a.StoreQuarantined, in); err != nil {
		return view, fmt.Errorf("StoreQuarantined: %w", err)
	}
	// An input no retry can store (refused for good, which the runner
	// notes) still alerts the operator, and then fails the run: the event
	// is in its input, and a redelivery may start a new run.
	notStored := r.refused
	switch {
	case notStored != nil:
	case view.Stored:
		r.note(fmt.Sprintf("%s (%s) kept in quarantine: %s %s", in.EventID, in.Type, in.Reason, in.Detail))
	default:
		r.note(in.EventID + " was in quarantine already")
	}
	r.refused = nil
	alert := activities.QuarantineAlert(in)
	if err := r.task("SendEmail "+alert.Purpose, nil, a.SendEmail, alert); err != nil {
		return view, fmt.Errorf("SendEmail %s: %w", alert.Purpose, err)
	}
	if r.refused == nil {
		r.note("operator alerted (" + alert.DedupeKey + ")")
	}
	if notStored != nil {
		return view, fmt.Errorf("%s not stored in quarantine: %s", in.EventID, notStored.message)
	}
	return view, nil
}
