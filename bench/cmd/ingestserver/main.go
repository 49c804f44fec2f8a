// Command ingestserver is a receiver under test for make bench's ingest
// benchmark, run as its own process so its CPU time and peak RSS can be read
// from /proc:
//
//	-mode payflow               payflow's real receiver (webhook.Server: verify,
//	                            decode, route, metrics, logging) with the Temporal
//	                            hand-off replaced by an in-process no-op
//	-mode fiber-constructevent  the plain baseline: a minimal Fiber handler that
//	                            calls stripe-go's webhook.ConstructEvent, then
//	                            switches on the type
//
// The signing secret comes from $STRIPE_WEBHOOK_SECRET. It prints "listening"
// once it accepts connections, and stops on SIGTERM or SIGINT (writing the
// -cpuprofile, if asked for).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stripe/stripe-go/v76"
	stripewebhook "github.com/stripe/stripe-go/v76/webhook"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/webhook"
)

// noopHandoff stands in for TemporalHandoff: everything up to the hand-off
// runs for real (the receiver has verified, decoded and resolved the route
// before calling it); it builds the workflow's start argument as
// TemporalHandoff does and reports success without a network call.
type noopHandoff struct{}

func (noopHandoff) Deliver(ctx context.Context, r routing.Route, id string, ev payflow.Event) (bool, error) {
	if id == "" || r.Workflow == "" || r.Input(id, ev) == nil {
		return false, fmt.Errorf("no workflow for %s", ev.ID)
	}
	return false, nil
}

func payflowApp(secret string) *fiber.App {
	reg := prometheus.NewRegistry()
	srv := &webhook.Server{
		Verifier: &webhook.Verifier{Secrets: webhook.ParseSecrets(secret)},
		Handoff:  noopHandoff{},
		// As payflow serve logs in production: JSON at info level.
		Log:      slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Metrics:  webhook.NewMetrics(reg),
		Gatherer: reg,
	}
	return srv.App()
}

// constructEventApp is the baseline a Go developer would write from
// Stripe's docs: read the body, ConstructEvent, switch on the type.
func constructEventApp(secret string) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post(webhook.Path, func(c *fiber.Ctx) error {
		event, err := stripewebhook.ConstructEvent(c.Body(), c.Get("Stripe-Signature"), secret)
		if err != nil {
			return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": err.Error()})
		}
		switch event.Type {
		case stripe.EventTypePaymentIntentSucceeded:
			// The handler would fulfil the order here.
		case stripe.EventTypeInvoicePaid:
		default:
			slog.Info("unhandled event type", "type", event.Type)
		}
		return c.JSON(fiber.Map{"received": true})
	})
	return app
}

func main() {
	mode := flag.String("mode", "payflow", "payflow | fiber-constructevent")
	addr := flag.String("addr", "127.0.0.1:0", "listen address (127.0.0.1 only)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ingestserver:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "ingestserver:", err)
			os.Exit(1)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	secret := os.Getenv("STRIPE_WEBHOOK_SECRET")
	if secret == "" {
		fmt.Fprintln(os.Stderr, "ingestserver: STRIPE_WEBHOOK_SECRET is not set")
		os.Exit(2)
	}
	var app *fiber.App
	switch *mode {
	case "payflow":
		app = payflowApp(secret)
	case "fiber-constructevent":
		app = constructEventApp(secret)
	default:
		fmt.Fprintf(os.Stderr, "ingestserver: unknown -mode %q\n", *mode)
		os.Exit(2)
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || host != "127.0.0.1" {
		fmt.Fprintf(os.Stderr, "ingestserver: -addr must be 127.0.0.1:<port>, got %q\n", *addr)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp4", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingestserver:", err)
		os.Exit(1)
	}
	fmt.Printf("listening %s %s\n", *mode, ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = app.Shutdown()
	}()
	if err := app.Listener(ln); err != nil {
		fmt.Fprintln(os.Stderr, "ingestserver:", err)
	}
}
