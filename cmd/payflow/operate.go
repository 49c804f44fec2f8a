package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/payflow/payflow/routing"
)

// subscriptionActions maps `payflow subscription <action>` to the
// subscription workflow's operator updates.
var subscriptionActions = []struct{ action, update, summary string }{
	{"retry", routing.UpdateRetryNow, "charge the open invoice now (payflow mode)"},
	{"pause", routing.UpdatePause, "pause the campaign: no retry, suspension or final action until resumed"},
	{"resume", routing.UpdateResume, "resume it; its pending steps move later by the pause"},
	{"extend", routing.UpdateExtendGrace, "suspend access later: -extend 72h"},
	{"end", routing.UpdateEndCampaign, "end the campaign without further action (the invoice stays open in Stripe)"},
	{"grant-access", routing.UpdateGrantAccess, "grant access by hand, whatever the subscription says, until cleared"},
	{"revoke-access", routing.UpdateRevokeAccess, "revoke access by hand, until cleared"},
	{"clear-access", routing.UpdateClearAccess, "drop the manual access decision"},
}

func runSubscription(ctx context.Context, args []string, stdout io.Writer) error {
	var lines []string
	for _, a := range subscriptionActions {
		lines = append(lines, fmt.Sprintf("  %-14s %s", a.action, a.summary))
	}
	return operate(ctx, "subscription", "sub_…", args, stdout, strings.Join(lines, "\n"), func(action string) (string, string, bool) {
		for _, a := range subscriptionActions {
			if a.action == action {
				return a.update, routing.SubscriptionID(""), true
			}
		}
		return "", "", false
	})
}

func runDispute(ctx context.Context, args []string, stdout io.Writer) error {
	return operate(ctx, "dispute", "dp_…", args, stdout, "  evidence-submitted  the evidence went to Stripe: no more reminders",
		func(action string) (string, string, bool) {
			if action == "evidence-submitted" {
				return routing.UpdateEvidenceSubmitted, routing.DisputeID(""), true
			}
			return "", "", false
		})
}

// operate sends one operator update and prints its answer. A rejected
// update (validator) comes back as an error with the workflow's reason.
func operate(ctx context.Context, kind, idForm string, args []string, stdout io.Writer, actions string,
	lookup func(action string) (update, prefix string, ok bool)) error {
	fs := newFlags(kind, kind+" <action> <"+idForm+"> [flags]")
	by := fs.String("by", defaultOperator(), "who is acting (recorded in the run's timeline)")
	reason := fs.String("reason", "", "why (recorded in the run's timeline)")
	invoice := fs.String("invoice", "", "the campaign's invoice, when the subscription has several")
	extend := fs.String("extend", "", "how much later the grace ends, e.g. 72h (extend)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the workflow's answer")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: payflow %s <action> <%s> [flags]\n\nActions (each a Temporal Update of %s/<id>, also available in the Web UI):\n%s\n\n",
			kind, idForm, kind, actions)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		fs.Usage()
		return fmt.Errorf("want an action and a %s ID", kind)
	}
	update, prefix, ok := lookup(pos[0])
	if !ok {
		fs.Usage()
		return fmt.Errorf("unknown action %q", pos[0])
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	// The update's input (who, why) is a payload like any other: encrypted
	// with the workers' keys (dev's key beside payflow dev), and the answer
	// can only be read with them.
	if cfg = withDevPayloadKeys(cfg); cfg.RequirePayloadKeys() != nil {
		return cfg.RequirePayloadKeys()
	}
	c, where, err := dialAsCLI(ctx, cfg, "payflow-cli "+*by, 10*time.Second)
	if err != nil {
		return fmt.Errorf("connect to Temporal (%s): %w", where, err)
	}
	defer c.Close()
	uctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	id := prefix + pos[1]
	h, err := c.UpdateWorkflow(uctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: update, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{routing.OperatorInput{Invoice: *invoice, Extend: *extend, By: *by, Reason: *reason}},
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", update, id, err)
	}
	var done string
	if err := h.Get(uctx, &done); err != nil {
		return fmt.Errorf("%s %s: %w", update, id, err)
	}
	fmt.Fprintf(stdout, "%s: %s\n", id, done)
	return nil
}

// defaultOperator is user@host, for the timeline.
func defaultOperator() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	switch {
	case name == "" && host == "":
		return ""
	case host == "":
		return name
	}
	return name + "@" + host
}
