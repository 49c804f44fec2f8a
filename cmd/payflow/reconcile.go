package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/store"
	"github.com/payflow/payflow/webhook"
)

// ReconcileSummary counts what one reconcile run saw.
type ReconcileSummary struct {
	Found, New, Duplicate, Unhandled, Failed, Quarantined int
}

// Outcomes of handing one decoded event on (handOff).
const (
	handedNew       = "new"       // delivered to its workflow
	handedDuplicate = "duplicate" // applied before, or its workflow completed
	handedUnhandled = "unhandled" // a type payflow does not handle, or an object no workflow owns
	handedFailed    = "failed"    // Temporal did not take it: try again
)

// handedOff is what handOff did with one event.
type handedOff struct {
	Outcome    string
	WorkflowID string
	Why        string // unhandled: the reason; failed: the error
}

// handOff feeds one decoded event through the receiver's routing, for
// reconcile and `payflow quarantine replay`: the same workflow IDs and
// signal as the receiver, so an event in flight is deduplicated by its
// workflow. An event the database applied already is a duplicate and is
// not sent again. The error is the database's only; a hand-off Temporal
// refuses is the outcome handedFailed.
func handOff(ctx context.Context, st payflow.Store, handoff webhook.Handoff, ev payflow.Event) (handedOff, error) {
	route, id, skip, ok := routing.Resolve(ev)
	switch {
	case !ok:
		return handedOff{Outcome: handedUnhandled, Why: "event type " + ev.Type + " not handled"}, nil
	case skip != "":
		return handedOff{Outcome: handedUnhandled, Why: skip}, nil
	}
	applied, err := st.EventApplied(ctx, ev.ID)
	if err != nil {
		return handedOff{}, fmt.Errorf("check event %s: %w", ev.ID, err)
	}
	if applied {
		return handedOff{Outcome: handedDuplicate, WorkflowID: id, Why: "applied before"}, nil
	}
	dup, err := handoff.Deliver(ctx, route, id, ev)
	switch {
	case err != nil:
		return handedOff{Outcome: handedFailed, WorkflowID: id, Why: err.Error()}, nil
	case dup:
		return handedOff{Outcome: handedDuplicate, WorkflowID: id, Why: "its workflow completed"}, nil
	}
	return handedOff{Outcome: handedNew, WorkflowID: id}, nil
}

// eventLister is the part of Stripe's API reconcile reads.
type eventLister interface {
	ListEvents(ctx context.Context, since time.Time, types []string, each func(raw []byte) error) error
}

// reconcile feeds every listed event through the receiver's routing
// (handOff). An event payflow cannot interpret, or one the deployment does
// not accept (accept: a livemode other than the deployment's), is
// quarantined as the receiver does (quarantine/<evt>, a duplicate when it
// is there already). The lister reads Stripe's Events API without
// Stripe-Account: the platform's own events only, never a connected
// account's (their webhooks, and a replay, bring those).
func reconcile(ctx context.Context, lister eventLister, st payflow.Store, handoff webhook.Handoff, accept webhook.Acceptance, since time.Time, types []string, log *slog.Logger) (ReconcileSummary, error) {
	var sum ReconcileSummary
	err := lister.ListEvents(ctx, since, types, func(raw []byte) error {
		sum.Found++
		ev, err := webhook.Decode(raw)
		if u := (*webhook.Uninterpretable)(nil); errors.As(err, &u) {
			return reconcileQuarantine(ctx, &sum, handoff, raw, ev, u, log)
		}
		if err != nil {
			sum.Failed++
			log.Warn("reconcile: undecodable event", "error", err)
			return nil
		}
		if u := accept.Check(ev); u != nil {
			return reconcileQuarantine(ctx, &sum, handoff, raw, ev, u, log)
		}
		res, err := handOff(ctx, st, handoff, ev)
		if err != nil {
			return err
		}
		switch res.Outcome {
		case handedUnhandled:
			sum.Unhandled++
		case handedDuplicate:
			sum.Duplicate++
		case handedFailed:
			sum.Failed++
			log.Error("reconcile: hand-off failed", "event_id", ev.ID, "workflow_id", res.WorkflowID, "error", res.Why)
		default:
			sum.New++
			log.Info("reconcile: event delivered", "event_id", ev.ID, "type", ev.Type, "workflow_id", res.WorkflowID)
		}
		return nil
	})
	return sum, err
}

// reconcileQuarantine hands an event payflow cannot interpret to
// quarantine/<evt>; one quarantined before counts as a duplicate.
func reconcileQuarantine(ctx context.Context, sum *ReconcileSummary, handoff webhook.Handoff, raw []byte, ev payflow.Event, u *webhook.Uninterpretable, log *slog.Logger) error {
	if !webhook.Quarantinable(ev) {
		sum.Unhandled++
		return nil
	}
	log = log.With("event_id", ev.ID, "type", ev.Type, "api_version", ev.APIVersion, "reason", u.Reason)
	q, ok := handoff.(webhook.Quarantiner)
	if !ok {
		sum.Failed++
		log.Error("reconcile: event not interpretable and no quarantine to keep it", "detail", u.Detail)
		return nil
	}
	in, err := webhook.QuarantineInput(raw, ev, u, time.Now())
	var dup bool
	if err == nil {
		dup, err = q.Quarantine(ctx, in)
	}
	switch {
	case err != nil:
		sum.Failed++
		log.Error("reconcile: quarantine failed", "detail", u.Detail, "error", err)
	case dup:
		sum.Duplicate++
	default:
		sum.Quarantined++
		log.Error("reconcile: event quarantined (payflow quarantine show / replay)", "detail", u.Detail)
	}
	return nil
}

func runReconcile(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("reconcile", "reconcile [-since 72h] [-types a,b]   (needs STRIPE_API_KEY, DATABASE_URL, Temporal)")
	since := fs.Duration("since", 72*time.Hour, "how far back to list events (Stripe keeps 30 days)")
	typesFlag := fs.String("types", "", "comma-separated event types (default: every handled type)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *since <= 0 || *since > 30*24*time.Hour {
		return errors.New("-since must be between 0 and 720h (Stripe's Events API keeps 30 days)")
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	if cfg.StripeAPIKey == "" {
		return errors.New("STRIPE_API_KEY is not set: reconcile reads Stripe's Events API")
	}
	types := routing.HandledTypes()
	if *typesFlag != "" {
		types = nil
		for _, t := range strings.Split(*typesFlag, ",") {
			if t = strings.TrimSpace(t); t != "" {
				types = append(types, t)
			}
		}
	}
	// It starts workflows and signals them: payloads encrypted as the
	// receiver's (dev's key beside payflow dev).
	if cfg = withDevPayloadKeys(cfg); cfg.RequirePayloadKeys() != nil {
		return cfg.RequirePayloadKeys()
	}
	log := cfg.Logger(os.Stderr, "text")
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := dialTemporal(ctx, cfg, log, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	sum, err := reconcile(ctx, activities.NewStripeAPI(cfg.StripeAPIKey, cfg.StripeAPIBase), st,
		&webhook.TemporalHandoff{Client: c, TaskQueue: cfg.TaskQueue}, cfg.Acceptance(), time.Now().Add(-*since), types, log)
	fmt.Fprintf(stdout, "found %d, new %d, duplicate %d, unhandled %d, failed %d, quarantined %d\n",
		sum.Found, sum.New, sum.Duplicate, sum.Unhandled, sum.Failed, sum.Quarantined)
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d events failed; run again to retry them", sum.Failed)
	}
	return nil
}
