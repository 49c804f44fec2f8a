package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/store"
	"github.com/payflow/payflow/webhook"
)

// `payflow quarantine`: the events the receiver (or reconcile) could not
// interpret, kept by the quarantine workflow (README, "Quarantine").

const quarantineUsage = `Usage: payflow quarantine <command> [flags]

  list [-reason R] [-pending] [-limit N] [-json]   events kept in quarantine, newest first
  show [-json] <evt_id>                            one event: what payflow knows and its payload
  replay <evt_id> | -all                           decode again with this binary and check it against this
                                                   configuration (STRIPE_LIVEMODE, STRIPE_ACCOUNTS); hand on
                                                   what now decodes and is accepted

Every command takes -database (default $DATABASE_URL). replay also reaches
Temporal (TEMPORAL_ADDRESS, …) to hand events on, exactly as reconcile does.
`

func runQuarantine(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, quarantineUsage)
		if len(args) == 0 {
			return errors.New("missing command: list, show or replay")
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "list":
		return runQuarantineList(ctx, args[1:], stdout)
	case "show":
		return runQuarantineShow(ctx, args[1:], stdout)
	case "replay":
		return runQuarantineReplay(ctx, args[1:], stdout)
	}
	fmt.Fprint(os.Stderr, quarantineUsage)
	return fmt.Errorf("unknown command %q: list, show or replay", args[0])
}

// quarantineJSON is one event as list -json and show -json print it.
type quarantineJSON struct {
	EventID      string          `json:"event_id"`
	Type         string          `json:"type"`
	APIVersion   string          `json:"api_version"`
	Livemode     bool            `json:"livemode"`
	Account      string          `json:"account"`
	Reason       string          `json:"reason"`
	Detail       string          `json:"detail"`
	PayloadBytes int             `json:"payload_bytes"`
	ReceivedAt   time.Time       `json:"received_at"`
	ReplayedAt   *time.Time      `json:"replayed_at"`
	ReplayResult string          `json:"replay_result"`
	Payload      json.RawMessage `json:"payload,omitempty"` // show -json only
}

func toQuarantineJSON(q payflow.QuarantinedEvent) quarantineJSON {
	return quarantineJSON{EventID: q.EventID, Type: q.Type, APIVersion: q.APIVersion, Livemode: q.Livemode, Account: q.Account,
		Reason: q.Reason, Detail: q.Detail, PayloadBytes: q.PayloadSize, ReceivedAt: q.ReceivedAt, ReplayedAt: q.ReplayedAt,
		ReplayResult: q.ReplayResult}
}

func runQuarantineList(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("quarantine list", "quarantine list [-reason R] [-pending] [-limit N] [-json] [-database URL]")
	database := databaseFlag(fs)
	reason := fs.String("reason", "", "only events quarantined for this reason (unknown_api_version, missing_fields, …)")
	pending := fs.Bool("pending", false, "only events not replayed yet")
	limit := fs.Int("limit", store.DefaultQuarantineLimit, "at most this many events, newest first")
	asJSON := fs.Bool("json", false, "print a JSON array")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	st, err := store.Open(ctx, databaseURLOrDefault(*database))
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.ListQuarantined(ctx, payflow.QuarantineFilter{Reason: *reason, Pending: *pending, Limit: *limit})
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]quarantineJSON, 0, len(list))
		for _, q := range list {
			out = append(out, toQuarantineJSON(q))
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(list) == 0 {
		_, err := fmt.Fprintln(stdout, "quarantine is empty")
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tTYPE\tAPI VERSION\tREASON\tRECEIVED\tREPLAYED")
	for _, q := range list {
		replayed := "-"
		if q.ReplayedAt != nil {
			replayed = q.ReplayedAt.Format(time.RFC3339) + " " + q.ReplayResult
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", q.EventID, q.Type, q.APIVersion, q.Reason, q.ReceivedAt.Format(time.RFC3339), replayed)
	}
	return tw.Flush()
}

func runQuarantineShow(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("quarantine show", "quarantine show [-json] [-database URL] <evt_id>")
	database := databaseFlag(fs)
	asJSON := fs.Bool("json", false, "print one JSON document, the payload under \"payload\"")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("want one event ID: payflow quarantine show <evt_id>")
	}
	st, err := store.Open(ctx, databaseURLOrDefault(*database))
	if err != nil {
		return err
	}
	defer st.Close()
	q, err := st.GetQuarantined(ctx, pos[0])
	if errors.Is(err, payflow.ErrNotFound) {
		return fmt.Errorf("no event %s in quarantine (%s)", pos[0], st)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		v := toQuarantineJSON(q)
		v.Payload = q.Payload
		if !json.Valid(q.Payload) { // kept byte for byte; JSON carries it as a string then
			v.Payload, _ = json.Marshal(string(q.Payload))
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	replayed := "not yet"
	if q.ReplayedAt != nil {
		replayed = q.ReplayedAt.Format(time.RFC3339) + ": " + q.ReplayResult
	}
	account := q.Account
	if account == "" {
		account = "(platform)"
	}
	for _, kv := range [][2]string{
		{"event", q.EventID}, {"type", q.Type}, {"api version", q.APIVersion}, {"livemode", fmt.Sprint(q.Livemode)},
		{"account", account}, {"reason", q.Reason}, {"detail", q.Detail},
		{"received", q.ReceivedAt.Format(time.RFC3339)}, {"replayed", replayed},
		{"payload", fmt.Sprintf("%d bytes", len(q.Payload))},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, q.Payload, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(q.Payload) // not JSON after all: as received
	}
	pretty.WriteByte('\n')
	_, err = stdout.Write(pretty.Bytes())
	return err
}

// Outcomes of replaying one quarantined event.
const (
	replayHandedOn        = "replayed"          // decoded and handed on (or nothing left to do): marked replayed
	replayUninterpretable = "uninterpretable"   // still: left in quarantine
	replayNotAccepted     = "not_accepted"      // decodes, but the configuration still refuses it: left in quarantine
	replayUndecodable     = "undecodable"       // this binary refuses it outright: left in quarantine
	replayFailed          = "failed"            // the hand-off failed (Temporal): left, try again
	replayAlready         = "already_replayed"  // marked replayed before: nothing done
	replayNotFound        = "not_in_quarantine" // no such event
)

// replayReport is what replaying one event did.
type replayReport struct {
	EventID string
	Outcome string
	Result  string // what was recorded (replayed), or why not
}

func (r replayReport) String() string { return r.EventID + ": " + r.Outcome + ": " + r.Result }

// replayQuarantined decodes one quarantined payload again with this
// binary's decoder. What now decodes is handed on exactly as reconcile
// hands an event on (handOff: the receiver's workflow IDs and signal, the
// event ledger checked first), so a replay of an event already applied,
// or replayed twice, dedupes; the row is then marked replayed with the
// result. What is still uninterpretable, or does not decode at all, is
// left as it is, and so is an event whose hand-off failed. An event that
// decodes is held against accept, the acceptance of the configuration in
// force now (STRIPE_LIVEMODE, STRIPE_ACCOUNTS), as the receiver would:
// one still not accepted (livemode_mismatch, account_not_accepted) is left
// too, with the reason. The error is the database's only.
func replayQuarantined(ctx context.Context, st payflow.Store, handoff webhook.Handoff, accept webhook.Acceptance, eventID string, now time.Time) (replayReport, error) {
	rep := replayReport{EventID: eventID}
	q, err := st.GetQuarantined(ctx, eventID)
	if errors.Is(err, payflow.ErrNotFound) {
		rep.Outcome, rep.Result = replayNotFound, "no such event in quarantine"
		return rep, nil
	}
	if err != nil {
		return rep, err
	}
	if q.ReplayedAt != nil {
		rep.Outcome, rep.Result = replayAlready, q.ReplayedAt.Format(time.RFC3339)+": "+q.ReplayResult
		return rep, nil
	}
	ev, err := webhook.Decode(q.Payload)
	if u := (*webhook.Uninterpretable)(nil); errors.As(err, &u) {
		rep.Outcome, rep.Result = replayUninterpretable, u.Error()
		return rep, nil
	}
	if err != nil {
		rep.Outcome, rep.Result = replayUndecodable, err.Error()
		return rep, nil
	}
	if ev.ID != q.EventID {
		// The row's payload names another event: never hand it on under
		// this one's name.
		rep.Outcome, rep.Result = replayUndecodable, fmt.Sprintf("payload is event %q, not %q", ev.ID, q.EventID)
		return rep, nil
	}
	if u := accept.Check(ev); u != nil {
		rep.Outcome, rep.Result = replayNotAccepted, u.Reason+": "+u.Detail
		return rep, nil
	}
	res, err := handOff(ctx, st, handoff, ev)
	if err != nil {
		return rep, err
	}
	switch res.Outcome {
	case handedFailed:
		rep.Outcome, rep.Result = replayFailed, "hand-off to "+res.WorkflowID+" failed: "+res.Why
		return rep, nil
	case handedNew:
		rep.Result = "delivered to " + res.WorkflowID
	case handedDuplicate:
		rep.Result = "duplicate: " + res.Why
		if res.WorkflowID != "" {
			rep.Result += " (" + res.WorkflowID + ")"
		}
	default: // unhandled: decoded, and nothing in payflow acts on it
		rep.Result = "nothing to do: " + res.Why
	}
	rep.Outcome = replayHandedOn
	if _, err := st.MarkQuarantineReplayed(ctx, q.EventID, rep.Result, now); err != nil {
		return rep, err
	}
	return rep, nil
}

func runQuarantineReplay(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("quarantine replay", "quarantine replay [-database URL] <evt_id> | -all   (needs Temporal to hand events on)")
	database := databaseFlag(fs)
	all := fs.Bool("all", false, "replay every event not replayed yet")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *all == (len(pos) == 1) || len(pos) > 1 {
		fs.Usage()
		return errors.New("want one event ID or -all: payflow quarantine replay <evt_id> | -all")
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	if *database != "" {
		cfg.DatabaseURL = *database
	}
	// Hand-offs write to Temporal: payloads encrypted as the receiver's
	// (dev's key beside payflow dev).
	if cfg = withDevPayloadKeys(cfg); cfg.RequirePayloadKeys() != nil {
		return cfg.RequirePayloadKeys()
	}
	log := cfg.Logger(os.Stderr, "text")
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	// Connected on first use: what is still uninterpretable needs no
	// Temporal.
	c, err := lazyTemporal(cfg, log, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	handoff := &webhook.TemporalHandoff{Client: c, TaskQueue: cfg.TaskQueue}

	ids := pos
	if *all {
		// The listing carries no payloads: every pending event at once,
		// oldest first, each read whole when its turn comes.
		pending, err := st.ListQuarantined(ctx, payflow.QuarantineFilter{Pending: true, Limit: math.MaxInt32})
		if err != nil {
			return err
		}
		ids = make([]string, 0, len(pending))
		for i := len(pending) - 1; i >= 0; i-- {
			ids = append(ids, pending[i].EventID)
		}
	}
	return replayAll(ctx, st, handoff, cfg.Acceptance(), ids, stdout, log)
}

// replayAll replays ids, prints one line per event and a summary, and
// fails when an event was not found or a hand-off failed.
func replayAll(ctx context.Context, st payflow.Store, handoff webhook.Handoff, accept webhook.Acceptance, ids []string, stdout io.Writer, log *slog.Logger) error {
	counts := map[string]int{}
	for _, id := range ids {
		rep, err := replayQuarantined(ctx, st, handoff, accept, id, time.Now())
		if err != nil {
			return err
		}
		counts[rep.Outcome]++
		fmt.Fprintln(stdout, rep)
		if rep.Outcome == replayFailed {
			log.Error("quarantine replay: hand-off failed", "event_id", id, "error", rep.Result)
		}
	}
	if len(ids) != 1 {
		fmt.Fprintf(stdout, "replayed %d, still uninterpretable %d, not accepted %d, undecodable %d, failed %d\n",
			counts[replayHandedOn], counts[replayUninterpretable], counts[replayNotAccepted], counts[replayUndecodable], counts[replayFailed])
	}
	switch {
	case counts[replayNotFound] > 0:
		return errors.New("event not in quarantine (payflow quarantine list)")
	case counts[replayFailed] > 0:
		return fmt.Errorf("%d hand-offs failed; run the replay again", counts[replayFailed])
	}
	return nil
}
