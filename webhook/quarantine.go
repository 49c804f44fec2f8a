package webhook

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/routing"
)

// Quarantiner hands an event the receiver could not interpret to
// quarantine/<evt> (routing.QuarantineInput, the raw payload included).
// duplicate is true when a run for the event exists already (running, or
// completed): the event is in quarantine.
type Quarantiner interface {
	Quarantine(ctx context.Context, in routing.QuarantineInput) (duplicate bool, err error)
}

// Quarantine starts quarantine/<evt> (acct_…/quarantine/<evt> for a
// connected account's event). The event ID is the dedupe key: a
// second start for it fails with WorkflowExecutionAlreadyStarted while a
// run is open or after one completed (routing.QuarantineReuse), which is a
// duplicate, not an error.
func (t *TemporalHandoff) Quarantine(ctx context.Context, in routing.QuarantineInput) (bool, error) {
	opts := client.StartWorkflowOptions{
		ID:                                       routing.WorkflowID(in.Account, routing.KindQuarantine, in.EventID),
		TaskQueue:                                t.TaskQueue,
		WorkflowIDReusePolicy:                    routing.QuarantineReuse,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}
	_, err := t.Client.ExecuteWorkflow(ctx, opts, routing.QuarantineWorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return true, nil
	}
	return false, err
}

// QuarantineInput is what quarantine/<evt> starts with for an event Decode
// returned as u, with the envelope's fields in ev: the receiver's and
// reconcile's. The payload is copied (or compressed, above
// routing.QuarantineInlineMax); routing.ErrQuarantineTooLarge when it
// cannot travel even so.
func QuarantineInput(payload []byte, ev payflow.Event, u *Uninterpretable, receivedAt time.Time) (routing.QuarantineInput, error) {
	data, encoding, err := routing.PackQuarantinePayload(payload)
	if err != nil {
		return routing.QuarantineInput{}, err
	}
	return routing.QuarantineInput{
		EventID: ev.ID, Type: ev.Type, APIVersion: ev.APIVersion, Livemode: ev.Livemode, Account: ev.Account,
		Reason: u.Reason, Detail: u.Detail, ReceivedAt: receivedAt.UTC(), Payload: data, PayloadEncoding: encoding,
	}, nil
}

// Quarantinable reports whether an uninterpretable event is quarantined:
// it is of a type payflow handles (routing.Routes). Any other type is
// ignored as unhandled, whatever its version, since payflow would do
// nothing with it even if it could read it.
func Quarantinable(ev payflow.Event) bool {
	_, handled := routing.Routes[ev.Type]
	return handled
}

// quarantiner is Quarantine, else the Handoff when it can quarantine.
func (s *Server) quarantiner() Quarantiner {
	if s.Quarantine != nil {
		return s.Quarantine
	}
	q, _ := s.Handoff.(Quarantiner)
	return q
}

// quarantine answers a verified, well-formed event payflow cannot
// interpret, or one this deployment does not accept (u: Acceptance.Check):
// it is handed to Temporal with its raw payload and the
// answer is 200 {"received":true,"quarantined":"<reason>"} once Temporal
// has it — Stripe stops retrying, payflow owns the event — or 503 when
// Temporal is unavailable, so Stripe retries and nothing is lost. Never a
// silent 200, never a 400 that Stripe would retry for days and then drop.
func (s *Server) quarantine(c *fiber.Ctx, payload []byte, ev payflow.Event, u *Uninterpretable) error {
	log := s.log().With("event_id", ev.ID, "type", ev.Type, "api_version", ev.APIVersion, "reason", u.Reason)
	rctx := c.UserContext() // the request's span: its IDs go on every line
	if !Quarantinable(ev) {
		// payflow does nothing with this type in any version (the
		// envelope's type reads the same in all): ignored as always, not
		// an operator's matter.
		s.countReq(c, ev.Type, "unhandled")
		log.InfoContext(rctx, "event type not handled", "detail", u.Detail)
		return c.JSON(okBody{Received: true, Ignored: "unhandled event type"})
	}
	if ev.ID == "" {
		// The decoder names every event it quarantines; without an ID the
		// event could not be deduplicated.
		return s.reject(c, fiber.StatusBadRequest, ev.Type, "malformed", errors.New("event not interpretable and without an id"))
	}
	id := routing.WorkflowID(ev.Account, routing.KindQuarantine, ev.ID)
	trace.SpanFromContext(rctx).SetAttributes(AttrWorkflowID.String(id))
	in, err := QuarantineInput(payload, ev, u, time.Now())
	if err != nil {
		// Only a WEBHOOK_MAX_BODY far above the default gets here. The
		// event stays in Stripe (its Events API keeps 30 days).
		s.countReq(c, ev.Type, "rejected_too_large")
		log.ErrorContext(rctx, "event not interpretable and too large to quarantine", "detail", u.Detail, "error", err)
		return c.Status(fiber.StatusRequestEntityTooLarge).JSON(errorBody{Error: "event not interpretable and too large to keep: " + err.Error()})
	}
	q := s.quarantiner()
	if q == nil {
		s.countReq(c, ev.Type, "unavailable")
		log.ErrorContext(rctx, "event not interpretable and no quarantine configured: answered 503, Stripe retries it", "detail", u.Detail)
		c.Set(fiber.HeaderRetryAfter, "10")
		return c.Status(fiber.StatusServiceUnavailable).JSON(errorBody{Error: "event not accepted: quarantine unavailable, retry later"})
	}
	timeout := s.HandoffTimeout
	if timeout <= 0 {
		timeout = DefaultHandoffTimeout
	}
	ctx, cancel := context.WithTimeout(rctx, timeout)
	defer cancel()
	dup, err := q.Quarantine(ctx, in)
	switch {
	case err != nil && permanent(err):
		s.countReq(c, ev.Type, "rejected_invalid_argument")
		log.ErrorContext(rctx, "temporal refused the quarantined event", "workflow_id", id, "detail", u.Detail, "error", err)
		return c.Status(fiber.StatusBadRequest).JSON(errorBody{Error: "event not accepted: the workflow service refused it as invalid"})
	case err != nil:
		s.countReq(c, ev.Type, "unavailable")
		log.ErrorContext(rctx, "temporal hand-off of a quarantined event failed", "workflow_id", id, "detail", u.Detail, "error", err)
		c.Set(fiber.HeaderRetryAfter, "10")
		return c.Status(fiber.StatusServiceUnavailable).JSON(errorBody{Error: "event not accepted: workflow service unavailable, retry later"})
	case dup:
		s.countReq(c, ev.Type, "duplicate")
		log.InfoContext(rctx, "event already in quarantine: duplicate delivery", "workflow_id", id)
		return c.JSON(okBody{Received: true, Duplicate: true, Quarantined: u.Reason})
	}
	s.countReq(c, ev.Type, "quarantined")
	log.ErrorContext(rctx, "event quarantined (payflow quarantine show / replay)", "workflow_id", id,
		"detail", u.Detail, "livemode", ev.Livemode, "account", ev.Account, "payload_bytes", len(payload))
	return c.JSON(okBody{Received: true, Quarantined: u.Reason})
}
