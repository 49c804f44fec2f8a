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
	Found, New, Duplicate, Unhandled, Failed int
}

// eventLister is the part of Stripe's API reconcile reads.
type eventLister interface {
	ListEvents(ctx context.Context, since time.Time, types []string, each func(raw []byte) error) error
}

// reconcile feeds every listed event through the receiver's routing. An
// event the database already applied is a duplicate and is not sent again;
// one that is in flight is deduplicated by its workflow.
func reconcile(ctx context.Context, lister eventLister, st payflow.Store, handoff webhook.Handoff, since time.Time, types []string, log *slog.Logger) (ReconcileSummary, error) {
	var sum ReconcileSummary
	err := lister.ListEvents(ctx, since, types, func(raw []byte) error {
		sum.Found++
		ev, err := webhook.Decode(raw)
		if err != nil {
			sum.Failed++
			log.Warn("reconcile: undecodable event", "error", err)
			return nil
		}
		route, id, skip, ok := routing.Resolve(ev)
		if !ok || skip != "" {
			sum.Unhandled++
			return nil
		}
		applied, err := st.EventApplied(ctx, ev.ID)
		if err != nil {
			return fmt.Errorf("check event %s: %w", ev.ID, err)
		}
		if applied {
			sum.Duplicate++
			return nil
		}
		dup, err := handoff.Deliver(ctx, route, id, ev)
		switch {
		case err != nil:
			sum.Failed++
			log.Error("reconcile: hand-off failed", "event_id", ev.ID, "workflow_id", id, "error", err)
		case dup:
			sum.Duplicate++
		default:
			sum.New++
			log.Info("reconcile: event delivered", "event_id", ev.ID, "type", ev.Type, "workflow_id", id)
		}
		return nil
	})
	return sum, err
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
		&webhook.TemporalHandoff{Client: c, TaskQueue: cfg.TaskQueue}, time.Now().Add(-*since), types, log)
	fmt.Fprintf(stdout, "found %d, new %d, duplicate %d, unhandled %d, failed %d\n", sum.Found, sum.New, sum.Duplicate, sum.Unhandled, sum.Failed)
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d events failed; run again to retry them", sum.Failed)
	}
	return nil
}
