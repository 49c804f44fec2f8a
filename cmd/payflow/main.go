// Command payflow turns Stripe webhooks into durable Temporal workflows.
//
//	payflow dev        everything on one machine (Temporal dev server, worker, receiver)
//	payflow serve      the webhook receiver
//	payflow worker     the Temporal worker
//	payflow trigger    send a signed test event to a receiver
//	payflow migrate    apply database migrations, register search attributes
//	payflow inspect    read-only view of a customer for support staff
//	payflow reconcile  replay events from Stripe's Events API
//	payflow quarantine list, show and replay events payflow could not interpret
//	payflow config     print the effective configuration, secrets masked
//	payflow emails preview  render every email (HTML, text, template data) into files to open in a browser
//	payflow codec-server  the codec endpoints the Temporal Web UI and CLI decrypt payloads through
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout io.Writer) error
}

func commands() []command {
	return []command{
		{"dev", "run everything on this machine: Temporal dev server + UI, worker, receiver, SQLite", runDev},
		{"serve", "run the webhook receiver (POST /webhooks/stripe)", runServe},
		{"worker", "run the Temporal worker (workflows and activities)", runWorker},
		{"trigger", "send a realistic, signed Stripe event to a receiver", runTrigger},
		{"migrate", "apply database migrations and register Temporal search attributes", runMigrateAll},
		{"inspect", "show what the database knows about a customer", runInspect},
		{"reconcile", "fetch missed events from Stripe's Events API and process them", runReconcile},
		{"quarantine", "list, show and replay the events payflow could not interpret", runQuarantine},
		{"subscription", "steer a subscription's run: retry, pause, resume, extend, end, grant/revoke access", runSubscription},
		{"dispute", "steer a dispute's run: mark the evidence submitted", runDispute},
		{"config", "print the effective configuration with secrets masked", runConfig},
		{"emails", "preview every email payflow sends (HTML, text, SendGrid template data) in a browser", runEmails},
		{"codec-server", "serve the codec endpoints the Temporal Web UI and CLI decrypt payloads through", runCodecServer},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "payflow turns Stripe webhooks into durable Temporal workflows.")
	fmt.Fprintln(w, "\nUsage: payflow <command> [flags]   (payflow <command> -h for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nConfiguration comes from the environment: payflow config lists it.")
}

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		usage(os.Stdout)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, os.Args[2:], os.Stdout)
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "payflow %s: %v\n", name, err)
			os.Exit(1)
		}
		return
	}
	fmt.Fprintf(os.Stderr, "payflow: unknown command %q\n\n", name)
	usage(os.Stderr)
	os.Exit(2)
}

// newFlags makes a subcommand's flag set with a usage line.
func newFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: payflow %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseInterspersed parses flags that may stand before or after the
// positional arguments (`payflow trigger invoice.paid -customer cus_1`),
// which the flag package alone stops at.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
