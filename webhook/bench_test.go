package webhook_test

// Micro-benchmarks of the receiver's hot path, run by make bench (and by
// `go test -run '^$' -bench . ./webhook/`). They time; they assert nothing
// about time.

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stripe/stripe-go/v76"
	stripewebhook "github.com/stripe/stripe-go/v76/webhook"
	"github.com/valyala/fasthttp"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/webhook"
)

const benchSecret = "whsec_bench_0123456789abcdef"

// benchEvent is one realistic signed payment_intent.succeeded delivery.
func benchEvent(b *testing.B) (payload []byte, header string) {
	b.Helper()
	payload, err := fixtures.Build("payment_intent.succeeded", fixtures.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return payload, fixtures.Sign(payload, []string{benchSecret}, time.Now())
}

// BenchmarkVerify: payflow's signature check (its own header parser, the
// timestamp window, one HMAC per secret compared with every v1), which
// allocates nothing once warm.
func BenchmarkVerify(b *testing.B) {
	payload, header := benchEvent(b)
	v := &webhook.Verifier{Secrets: []string{benchSecret}}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(payload, header); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRotating: two secrets configured, the event signed by the
// second (during a rotation every delivery checks both).
func BenchmarkVerifyRotating(b *testing.B) {
	payload, err := fixtures.Build("payment_intent.succeeded", fixtures.Options{})
	if err != nil {
		b.Fatal(err)
	}
	header := fixtures.Sign(payload, []string{benchSecret}, time.Now())
	v := &webhook.Verifier{Secrets: []string{"whsec_old_secret_being_rolled", benchSecret}}
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(payload, header); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStripeValidatePayload: stripe-go's signature check alone, no
// JSON decoding.
func BenchmarkStripeValidatePayload(b *testing.B) {
	payload, header := benchEvent(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := stripewebhook.ValidatePayload(payload, header, benchSecret); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStripeConstructEvent: the baseline's whole work, signature check
// plus decoding the entire event into stripe.Event.
func BenchmarkStripeConstructEvent(b *testing.B) {
	payload, header := benchEvent(b)
	b.ReportAllocs()
	for b.Loop() {
		ev, err := stripewebhook.ConstructEvent(payload, header, benchSecret)
		if err != nil || ev.Type != stripe.EventTypePaymentIntentSucceeded {
			b.Fatal(err, ev.Type)
		}
	}
}

// BenchmarkDecode: payflow's decoding of only the fields routing and the
// workflows need.
func BenchmarkDecode(b *testing.B) {
	payload, _ := benchEvent(b)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		ev, err := webhook.Decode(payload)
		if err != nil || ev.PaymentIntent == "" {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolve: the routing table look-up and workflow ID, one
// benchmark per kind of route.
func BenchmarkResolve(b *testing.B) {
	for _, typ := range []string{"payment_intent.succeeded", "checkout.session.completed", "invoice.paid", "customer.subscription.updated", "charge.dispute.created", "charge.refunded"} {
		payload, err := fixtures.Build(typ, fixtures.Options{})
		if err != nil {
			b.Fatal(err)
		}
		ev, err := webhook.Decode(payload)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(typ, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, ok := routing.Resolve(ev); !ok {
					b.Fatal("not routed")
				}
			}
		})
	}
}

// BenchmarkResolveUnhandled: an event type payflow does not handle.
func BenchmarkResolveUnhandled(b *testing.B) {
	ev := payflow.Event{ID: "evt_1", Type: "customer.created"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, ok := routing.Resolve(ev); ok {
			b.Fatal("routed")
		}
	}
}

// BenchmarkVerifyDecodeResolve: the receiver's work per delivery without
// HTTP: verify, decode, route.
func BenchmarkVerifyDecodeResolve(b *testing.B) {
	payload, header := benchEvent(b)
	v := &webhook.Verifier{Secrets: []string{benchSecret}}
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(payload, header); err != nil {
			b.Fatal(err)
		}
		ev, err := webhook.Decode(payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, id, _, ok := routing.Resolve(ev); !ok || id == "" {
			b.Fatal("not routed")
		}
	}
}

type benchNoopHandoff struct{}

func (benchNoopHandoff) Deliver(context.Context, routing.Route, string, payflow.Event) (bool, error) {
	return false, nil
}

// BenchmarkReceiveHandler: the whole Fiber handler (headers, body, verify,
// decode, route, metrics, JSON answer) on an in-memory request, the
// Temporal hand-off a no-op.
func BenchmarkReceiveHandler(b *testing.B) {
	payload, header := benchEvent(b)
	reg := prometheus.NewRegistry()
	srv := &webhook.Server{
		Verifier: &webhook.Verifier{Secrets: []string{benchSecret}},
		Handoff:  benchNoopHandoff{},
		Log:      slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Metrics:  webhook.NewMetrics(reg),
	}
	h := srv.App().Handler()
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod(fasthttp.MethodPost)
		ctx.Request.SetRequestURI(webhook.Path)
		ctx.Request.Header.SetContentType("application/json; charset=utf-8")
		ctx.Request.Header.Set("Stripe-Signature", header)
		ctx.Request.SetBodyRaw(payload)
		h(&ctx)
		if ctx.Response.StatusCode() != fasthttp.StatusOK {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}
