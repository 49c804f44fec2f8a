package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/store"
)

// databaseFlag adds the store commands' -database flag. Its default is
// resolved by databaseURLOrDefault after parsing rather than shown in the
// usage text, which would print a password in DATABASE_URL.
func databaseFlag(fs *flag.FlagSet) *string {
	return fs.String("database", "",
		"database: a SQLite path or a postgres:// URL (default $DATABASE_URL, else "+store.DefaultDatabaseURL+")")
}

// databaseURLOrDefault returns the -database value, else DATABASE_URL, else
// the SQLite file `payflow dev` uses.
func databaseURLOrDefault(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return store.DefaultDatabaseURL
}

// redactDatabaseURL hides a PostgreSQL password before a URL is printed.
func redactDatabaseURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}

// runMigrate applies the database migrations (the database half of
// `payflow migrate`).
func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	database := databaseFlag(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: payflow migrate [-database URL]

Applies the schema migrations built into this binary to the database, creating
a SQLite file (and its directory) if needed. Running it again is harmless. A
database migrated by a newer payflow is refused and left untouched.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}

	databaseURL := databaseURLOrDefault(*database)
	applied, err := store.Migrate(ctx, databaseURL)
	if err != nil {
		return err
	}
	// Migrate succeeds only once the schema is at the latest version.
	fmt.Fprintf(stdout, "database %s: applied %d migration(s); schema version %d\n",
		redactDatabaseURL(databaseURL), applied, store.LatestSchemaVersion())
	return nil
}

// runInspect prints what the database knows about a customer. It only
// reads.
func runInspect(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	database := databaseFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	withTemporal := fs.Bool("temporal", true, "ask each subscription's workflow for its dunning timeline (Temporal from the environment, as the worker)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: payflow inspect [-database URL] [-json] [-temporal=false] customer <customer ID>

Shows a customer's access (per product: the effective status and every
source it is folded from), orders, subscriptions, invoices, refunds,
disputes and emails, oldest first, then each subscription's dunning as its
workflow tells it: the stage, each campaign's past steps and what comes
next, with dates in UTC (skipped with -temporal=false). -json prints the
same as one document with snake_case keys (README, "Inspecting a
customer"). Read-only.

`)
		fs.PrintDefaults()
	}
	// Flags may come before or after the positional arguments
	// (`inspect customer cus_123 -json`); the flag package stops at the
	// first non-flag, so parse again after each one.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}

	switch {
	case len(positional) == 0:
		fs.Usage()
		return errors.New("missing what to inspect: payflow inspect customer <customer ID>")
	case positional[0] != "customer":
		fs.Usage()
		return fmt.Errorf("unknown subcommand %q: payflow inspect customer <customer ID>", positional[0])
	case len(positional) == 1:
		fs.Usage()
		return errors.New("missing customer ID: payflow inspect customer <customer ID> (a Stripe ID, cus_…)")
	case len(positional) > 2:
		fs.Usage()
		return fmt.Errorf("unexpected arguments after the customer ID: %s", strings.Join(positional[2:], " "))
	}
	customerID := positional[1]

	st, err := store.Open(ctx, databaseURLOrDefault(*database))
	if err != nil {
		return err
	}
	defer st.Close()
	summary, err := st.CustomerSummary(ctx, customerID)
	if errors.Is(err, payflow.ErrNotFound) {
		return fmt.Errorf("no customer %s in %s", customerID, st)
	}
	if err != nil {
		return err
	}
	view := store.View(summary)
	var timelines []DunningTimeline
	where := ""
	if *withTemporal && len(view.Subscriptions) > 0 {
		var subs []string
		accounts := map[string]string{} // a connected account's subscription: acct_…/subscription/<id>
		for _, sub := range view.Subscriptions {
			subs = append(subs, sub.ID)
			accounts[sub.ID] = sub.AccountID
		}
		query, closer, at, err := temporalQuery(ctx, accounts)
		where = at
		if err != nil {
			for _, id := range subs {
				timelines = append(timelines, DunningTimeline{SubscriptionID: id, Error: "Temporal " + at + ": " + err.Error()})
			}
		} else {
			timelines = queryTimelines(ctx, subs, query)
			closer.Close()
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			store.CustomerView
			Dunning []DunningTimeline `json:"dunning,omitempty"`
		}{view, timelines})
	}
	if err := store.WriteSummary(stdout, summary); err != nil {
		return err
	}
	if timelines != nil {
		writeTimelines(stdout, where, timelines)
	}
	return nil
}
