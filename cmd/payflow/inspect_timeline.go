package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/config"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/workflows"
)

// DunningTimeline is what a subscription's workflow says of its dunning:
// the stage, the UI details line (each campaign's past steps and what
// comes next, dates in UTC) and the pending wake-ups.
type DunningTimeline struct {
	SubscriptionID string          `json:"subscription_id"`
	Stage          string          `json:"dunning_stage"`
	Details        string          `json:"details"`
	Next           []billing.Timer `json:"next,omitempty"`
	Error          string          `json:"error,omitempty"`
}

// queryTimelines asks each subscription's workflow (subscription/<id>, or
// acct_…/subscription/<id> for a connected account's)
// for its state. A subscription the workflow service does not know, or
// that no worker answers for in time, gets an Error, not a failure of the
// whole command: inspect is for support staff during incidents too.
func queryTimelines(ctx context.Context, subs []string, query func(context.Context, string) (workflows.SubscriptionView, error)) []DunningTimeline {
	var out []DunningTimeline
	for _, id := range subs {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := query(qctx, id)
		cancel()
		tl := DunningTimeline{SubscriptionID: id}
		if err != nil {
			tl.Error = err.Error()
		} else {
			tl.Stage, tl.Details, tl.Next = v.DunningStage, v.Details, v.Timers
		}
		out = append(out, tl)
	}
	return out
}

// temporalQuery dials the Temporal service the worker uses (payflow's
// configuration and Temporal's own environment) and returns a query of
// subscription workflows, and the client to close. accounts names the
// connected account of each subscription that has one (its workflow is
// that account's, routing.WorkflowID).
func temporalQuery(ctx context.Context, accounts map[string]string) (func(context.Context, string) (workflows.SubscriptionView, error), io.Closer, string, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, nil, "", err
	}
	cfg = withDevPayloadKeys(cfg) // the workflows' state is encrypted with the workers' keys
	c, where, err := dialAsCLI(ctx, cfg, "", 3*time.Second)
	if err != nil {
		return nil, nil, where, err
	}
	q := func(ctx context.Context, sub string) (workflows.SubscriptionView, error) {
		var v workflows.SubscriptionView
		res, err := c.QueryWorkflow(ctx, routing.WorkflowID(accounts[sub], routing.KindSubscription, sub), "", routing.QueryState)
		if err == nil {
			err = res.Get(&v)
		}
		return v, err
	}
	return q, closerFunc(c.Close), where, nil
}

// dialAsCLI connects a command-line tool to the Temporal service the
// workers use (payflow's configuration and Temporal's environment), with
// cfg's payload keys; identity, when set, is the client identity Temporal
// records with what the tool does. It returns where it connected.
func dialAsCLI(ctx context.Context, cfg config.Config, identity string, timeout time.Duration) (client.Client, string, error) {
	opts, err := temporalOptions(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		return nil, "", err
	}
	if identity != "" {
		opts.Identity = identity
	}
	where := opts.HostPort + " namespace " + opts.Namespace
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := client.DialContext(dctx, opts)
	if err != nil {
		return nil, where, err
	}
	return c, where, nil
}

type closerFunc func()

func (f closerFunc) Close() error { f(); return nil }

// writeTimelines prints the Dunning section of `payflow inspect`.
func writeTimelines(w io.Writer, where string, tls []DunningTimeline) {
	fmt.Fprintf(w, "\nDUNNING (%d, from the subscription workflows at %s)\n", len(tls), where)
	for _, tl := range tls {
		if tl.Error != "" {
			fmt.Fprintf(w, "  %s  not available: %s\n", tl.SubscriptionID, tl.Error)
			continue
		}
		stage := tl.Stage
		if stage == "" {
			stage = billing.StageNone
		}
		fmt.Fprintf(w, "  %s  %s\n", tl.SubscriptionID, stage)
		if tl.Details != "" {
			for _, part := range strings.Split(tl.Details, "; ") {
				fmt.Fprintf(w, "    %s\n", part)
			}
		}
		for _, t := range tl.Next {
			fmt.Fprintf(w, "    next: %s for invoice %s at %s\n", t.Kind, t.Campaign, billing.FormatDate(t.At)+" UTC")
		}
	}
}
