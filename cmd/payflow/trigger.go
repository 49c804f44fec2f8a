package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/webhook"
)

// triggerSynopsis is the usage header of payflow trigger: the event types
// and the API versions it renders.
func triggerSynopsis() string {
	var b strings.Builder
	b.WriteString("trigger [flags] <event type>\n\nEvent types:\n  ")
	b.WriteString(strings.Join(fixtures.Types(), "\n  "))
	b.WriteString("\n\nAPI versions (-api-version; default " + fixtures.APIVersion + "):\n")
	for _, v := range fixtures.KnownAPIVersions() {
		shapes := fixtures.APIVersion + " shapes"
		if s, _ := fixtures.ShapesOf(v); s == fixtures.APIVersionBasil {
			shapes = "basil shapes"
		}
		fmt.Fprintf(&b, "  %-19s %s\n", v, shapes)
	}
	b.WriteString(`  Any later version of these releases (e.g. 2026-07-29.dahlia) or of a newer one
  (YYYY-MM-DD.release, dated from 2025-03-31 on) is rendered in the basil shapes:
  invoice.parent, invoice lines' pricing and parent, the billing period on
  subscription items, payment intents and charges that name no invoice.`)
	return b.String()
}

func runTrigger(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("trigger", triggerSynopsis())
	url := fs.String("url", "", "receiver URL (default http://localhost$PAYFLOW_ADDR/webhooks/stripe)")
	secret := fs.String("secret", "", "signing secret (default $STRIPE_WEBHOOK_SECRET, else .payflow/webhook_secret from payflow dev)")
	var o fixtures.Options
	fs.StringVar(&o.APIVersion, "api-version", "", "Stripe API version the event is rendered for: its api_version and its objects' shapes (default "+fixtures.APIVersion+"; the versions are listed above)")
	fs.StringVar(&o.EventID, "event-id", "", "event ID (default: new evt_…)")
	fs.StringVar(&o.CustomerID, "customer", "", "customer ID (default: new cus_…)")
	fs.StringVar(&o.Email, "email", "", "customer email")
	fs.StringVar(&o.PaymentIntentID, "payment-intent", "", "payment intent ID")
	fs.StringVar(&o.CheckoutSessionID, "checkout-session", "", "checkout session ID")
	fs.StringVar(&o.SubscriptionID, "subscription", "", "subscription ID")
	fs.StringVar(&o.InvoiceID, "invoice", "", "invoice ID")
	fs.StringVar(&o.ChargeID, "charge", "", "charge ID")
	fs.StringVar(&o.DisputeID, "dispute", "", "dispute ID")
	fs.StringVar(&o.ProductID, "product", "", "product ID")
	fs.Int64Var(&o.Amount, "amount", 0, "amount in minor units (default 2000)")
	fs.StringVar(&o.Status, "status", "", "object status override")
	fs.StringVar(&o.PaymentStatus, "payment-status", "", "checkout session payment_status (paid, unpaid, no_payment_required)")
	fs.StringVar(&o.Mode, "mode", "", "checkout session mode (payment, subscription)")
	fs.StringVar(&o.DeclineCode, "decline-code", "", "decline code for failed payments")
	fs.BoolVar(&o.Guest, "guest", false, "a payment without a Stripe customer (guest checkout)")
	fs.Func("items", "subscription items as product[:quantity],… (e.g. prod_basic,prod_seats:5)", func(v string) (err error) {
		o.Items, err = fixtures.ParseItems(v)
		return err
	})
	fs.Func("previous-items", "items before the change (customer.subscription.updated: an upgrade; invoice with -billing-reason subscription_update: the prorated items)", func(v string) (err error) {
		o.PreviousItems, err = fixtures.ParseItems(v)
		return err
	})
	fs.StringVar(&o.BillingReason, "billing-reason", "", "invoice billing_reason (subscription_create, subscription_cycle, subscription_update, manual)")
	fs.StringVar(&o.CollectionMethod, "collection-method", "", "invoice and subscription collection_method (charge_automatically, send_invoice)")
	fs.Int64Var(&o.AttemptCount, "attempt-count", 0, "invoice attempt_count")
	fs.Int64Var(&o.AmountRefunded, "amount-refunded", 0, "charge amount_refunded (charge.refunded; default: the whole amount)")
	fs.BoolVar(&o.Trial, "trial", false, "a subscription in its free trial (trialing; the $0 trial invoice)")
	fs.StringVar(&o.PauseCollection, "pause-collection", "", "subscription pause_collection.behavior (keep_as_draft, mark_uncollectible, void)")
	fs.BoolVar(&o.InvoicePayment, "invoice-payment", false, "the payment intent or charge paid -invoice (e.g. charge.refunded of a subscription invoice)")
	fs.BoolVar(&o.NoProductMetadata, "no-product-metadata", false, "leave product out of the payment's metadata")
	fs.StringVar(&o.Account, "account", "", "Stripe Connect: the connected account acct_… the event happened on (default: the platform's own event)")
	fs.BoolVar(&o.Livemode, "livemode", false, "a live-mode event (default: test mode)")
	print := fs.Bool("print", false, "print the event JSON instead of sending it")
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		fs.Usage()
		return fmt.Errorf("want exactly one event type")
	}
	if _, err := fixtures.ShapesOf(o.APIVersion); err != nil {
		return fmt.Errorf("-api-version: %w", err)
	}
	payload, err := fixtures.Build(positional[0], o)
	if err != nil {
		return err
	}
	if *print {
		_, err := stdout.Write(append(payload, '\n'))
		return err
	}
	if *secret == "" {
		*secret = os.Getenv("STRIPE_WEBHOOK_SECRET")
	}
	if *secret == "" {
		b, err := os.ReadFile(filepath.Join(".payflow", "webhook_secret"))
		if err != nil {
			return fmt.Errorf("no signing secret: set STRIPE_WEBHOOK_SECRET or -secret, or run payflow dev in this folder first")
		}
		*secret = strings.TrimSpace(string(b))
	}
	if *url == "" {
		addr := os.Getenv("PAYFLOW_ADDR")
		if addr == "" {
			addr = ":4242"
		}
		if strings.HasPrefix(addr, ":") {
			addr = "localhost" + addr
		}
		*url = "http://" + addr + webhook.Path
	}
	secrets := webhook.ParseSecrets(*secret)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *url, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", fixtures.Sign(payload, secrets[:1], time.Now()))
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", *url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	ev, _ := webhook.Decode(payload)
	fmt.Fprintf(stdout, "%s %s -> %s\n%s\n", ev.Type, ev.ID, resp.Status, strings.TrimSpace(string(body)))
	if ev.PaymentIntent != "" || ev.SubscriptionID != "" || ev.DisputeID != "" || ev.CheckoutID != "" {
		fmt.Fprintf(stdout, "object %s  customer %s\n", ev.ObjectID, ev.CustomerID)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
}
