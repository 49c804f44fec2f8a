// Package stripeapi is an in-memory fake of the parts of Stripe's REST API
// payflow calls through stripe-go v76 (customers, charges, payment intents,
// invoices, subscriptions, events, billing portal sessions). Point
// stripe-go at it by overriding the backend URL:
//
//	url, stop := stripeapi.New("sk_test_123").Start()
//	defer stop()
//	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{URL: stripe.String(url)})
//	sc := client.New("sk_test_123", &stripe.Backends{API: backend, Connect: backend, Uploads: backend})
//
// Responses are shaped as Stripe's (API version 2023-10-16; objects are
// rendered by package fixtures), errors carry Stripe's error object, POSTs
// honour Idempotency-Key, and lists follow Stripe's pagination. Invoices
// carry auto_advance (POST /v1/invoices/{id}) and next_payment_attempt;
// RunSmartRetries plays Stripe's own automatic retries (collection.go).
//
// Stripe Connect: a request with a Stripe-Account header acts on that
// connected account's objects, as Stripe's does. Objects are seeded for an
// account with their Account field (PutCustomerIn for customers) and are
// found only with that header (an invoice put for acct_A is a 404 with
// Stripe-Account acct_B, and without the header); the same ID may exist in
// several accounts. Idempotency keys are kept per account, events are
// listed per account (an event's "account" field; none: the platform's),
// and every request records its header (RecordedRequest.StripeAccount).
package stripeapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/payflow/payflow/fixtures"
)

// Server is the fake. It is safe for concurrent use; requests are served
// one at a time.
type Server struct {
	apiKey string

	mu           sync.Mutex
	now          func() time.Time
	strictCancel bool
	customers    map[string]*customer
	invoices     map[string]*Invoice
	subs         map[string]*Subscription
	charges      map[string]*Charge
	events       []storedEvent
	scripts      map[string][]PayOutcome
	payAttempts  map[string]int
	smartRetries map[string]int
	idempotency  map[string]*idemEntry
	requests     []RecordedRequest
	curRequest   string    // the ID of the request being served
	curAccount   string    // its Stripe-Account header: whose objects it sees
	refusals     []refusal // Refuse
	portal       portalState
}

// Invoice is the seed and the state of one invoice. Zero fields get
// defaults on PutInvoice: status "open", amount 2000, currency "usd",
// billing reason "subscription_cycle" (or "manual" without a subscription),
// created now, a payment intent for finalized invoices, product and price
// IDs.
type Invoice struct {
	// Account is the connected account the invoice belongs to (""
	// the platform): only requests with that Stripe-Account see it.
	Account                                       string
	ID, CustomerID, CustomerEmail, SubscriptionID string
	Amount                                        int64 // amount_due
	Currency, Status, BillingReason               string
	AttemptCount                                  int64
	PaymentIntentID, ChargeID, HostedInvoiceURL   string
	ProductID, PriceID                            string
	// DeclineCode is the issuer's decline of the invoice's last failed
	// attempt (seeded, ScriptDecline, or set by a declined pay): its
	// payment intent's last_payment_error and its charge's outcome carry
	// it, as Stripe's do; the invoice itself does not (2023-10-16).
	DeclineCode        string
	PeriodEnd, Created time.Time

	// Set by the fake as the invoice moves.
	PaidOutOfBand                 bool
	PaidAt, MarkedUncollectibleAt time.Time

	// ManualCollection is auto_advance=false (seeded, or set by
	// POST /v1/invoices/{id}): Stripe makes no automatic attempt, so
	// next_payment_attempt is null. NextPaymentAttempt overrides Stripe's
	// schedule for an open invoice collected automatically (zero: the
	// schedule by attempt count); RunSmartRetries charges it when due.
	ManualCollection   bool
	NextPaymentAttempt time.Time
}

// Subscription is the seed and the state of one subscription. Zero fields
// get defaults on PutSubscription: status "active", amount 2000, currency
// "usd", created now, current period ending a month after created, product
// and price IDs.
type Subscription struct {
	// Account is the connected account the subscription belongs to (""
	// the platform): only requests with that Stripe-Account see it.
	Account                                       string
	ID, CustomerID, Status                        string
	CurrentPeriodEnd                              time.Time
	CancelAtPeriodEnd                             bool
	CancelAt, CanceledAt, EndedAt, TrialEnd       time.Time
	LatestInvoiceID, ProductID, PriceID, Currency string
	Amount                                        int64
	Created                                       time.Time
	Metadata                                      map[string]string

	// cancellation_details and pause_collection.behavior, as last set.
	CancellationReason, CancellationComment, CancellationFeedback string
	PauseCollection                                               string
}

// PayOutcome is the scripted result of one charge attempt made by
// POST /v1/invoices/{id}/pay.
type PayOutcome struct {
	Fail        bool
	DeclineCode string // default "insufficient_funds"
	Code        string // default from the decline code, e.g. "card_declined"
	Message     string // default Stripe's message for the decline code
}

// PaySucceeds is a successful charge attempt.
var PaySucceeds = PayOutcome{}

// PayDeclined is a charge attempt the card issuer declines with declineCode
// ("insufficient_funds", "generic_decline", "expired_card", ...).
func PayDeclined(declineCode string) PayOutcome {
	return PayOutcome{Fail: true, DeclineCode: declineCode}
}

// RecordedRequest is one request the fake received.
type RecordedRequest struct {
	Method, Path   string
	IdempotencyKey string
	StripeAccount  string              // the Stripe-Account header; "" for the platform
	Form           map[string][]string // query and form body
	Status         int
	Replayed       bool // answered from the idempotency store
}

type customer struct {
	email   string
	created time.Time
}

// scoped is the key of an object (or script, or idempotency key) of
// account: the ID itself for the platform's, acct_…/<id> for a connected
// account's.
func scoped(account, id string) string {
	if account == "" {
		return id
	}
	return account + "/" + id
}

// key scopes id to the account of the request being served.
func (s *Server) key(id string) string { return scoped(s.curAccount, id) }

type storedEvent struct {
	id, typ string
	account string // the event's connected account; "" the platform
	created int64
	pending int
	seq     int
	raw     json.RawMessage
}

// New returns a fake that accepts apiKey.
func New(apiKey string) *Server {
	return &Server{
		apiKey:       apiKey,
		now:          time.Now,
		customers:    map[string]*customer{},
		invoices:     map[string]*Invoice{},
		subs:         map[string]*Subscription{},
		scripts:      map[string][]PayOutcome{},
		payAttempts:  map[string]int{},
		smartRetries: map[string]int{},
		idempotency:  map[string]*idemEntry{},
	}
}

// Start serves the fake on a loopback port; it returns the base URL and a
// function that stops the server.
func (s *Server) Start() (url string, stop func()) {
	ts := httptest.NewServer(s.Handler())
	return ts.URL, ts.Close
}

// SetClock replaces the clock used for timestamps the fake sets (paid_at,
// canceled_at, ...).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetStrictCancel makes DELETE /v1/subscriptions/{id} answer as Stripe does
// for a subscription that is already canceled: 404 resource_missing ("No
// such subscription"). By default a repeated cancel returns the canceled
// subscription.
func (s *Server) SetStrictCancel(strict bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.strictCancel = strict
}

// PutCustomer adds or replaces a customer; an empty email renders as null.
func (s *Server) PutCustomer(id, email string) { s.PutCustomerIn("", id, email) }

// PutCustomerIn adds or replaces a customer of a connected account ("":
// the platform).
func (s *Server) PutCustomerIn(account, id, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &customer{email: email, created: s.now()}
	if old, ok := s.customers[scoped(account, id)]; ok {
		c.created = old.created
	}
	s.customers[scoped(account, id)] = c
}

// PutInvoice adds or replaces an invoice, filling defaults.
func (s *Server) PutInvoice(inv Invoice) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inv.ID == "" {
		inv.ID = newID("in_", 24)
	}
	if inv.CustomerID == "" {
		inv.CustomerID = newID("cus_", 14)
	}
	def(&inv.Status, "open")
	def(&inv.Currency, "usd")
	if inv.SubscriptionID == "" {
		def(&inv.BillingReason, "manual")
	}
	def(&inv.BillingReason, "subscription_cycle")
	if inv.Status != "draft" {
		def(&inv.PaymentIntentID, newID("pi_", 24))
	}
	def(&inv.ProductID, newID("prod_", 14))
	def(&inv.PriceID, newID("price_", 24))
	if inv.Amount == 0 {
		inv.Amount = 2000
	}
	if inv.Created.IsZero() {
		inv.Created = s.now()
	}
	if inv.PeriodEnd.IsZero() {
		inv.PeriodEnd = inv.Created.AddDate(0, 1, 0)
	}
	s.invoices[scoped(inv.Account, inv.ID)] = &inv
}

// PutSubscription adds or replaces a subscription, filling defaults.
func (s *Server) PutSubscription(sub Subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub.ID == "" {
		sub.ID = newID("sub_", 24)
	}
	if sub.CustomerID == "" {
		sub.CustomerID = newID("cus_", 14)
	}
	def(&sub.Status, "active")
	def(&sub.Currency, "usd")
	def(&sub.ProductID, newID("prod_", 14))
	def(&sub.PriceID, newID("price_", 24))
	if sub.Amount == 0 {
		sub.Amount = 2000
	}
	if sub.Created.IsZero() {
		sub.Created = s.now()
	}
	if sub.CurrentPeriodEnd.IsZero() {
		sub.CurrentPeriodEnd = sub.Created.AddDate(0, 1, 0)
	}
	if sub.Status == "canceled" {
		if sub.CanceledAt.IsZero() {
			sub.CanceledAt = sub.Created
		}
		if sub.EndedAt.IsZero() {
			sub.EndedAt = sub.CanceledAt
		}
	}
	if sub.CancelAtPeriodEnd {
		if sub.CancelAt.IsZero() {
			sub.CancelAt = sub.CurrentPeriodEnd
		}
		if sub.CanceledAt.IsZero() {
			sub.CanceledAt = sub.Created
		}
	}
	if sub.Status == "canceled" || sub.CancelAtPeriodEnd {
		def(&sub.CancellationReason, "cancellation_requested")
	}
	sub.Metadata = copyMap(sub.Metadata)
	s.subs[scoped(sub.Account, sub.ID)] = &sub
}

// GetInvoice returns the invoice's current state.
func (s *Server) GetInvoice(id string) (Invoice, bool) { return s.GetInvoiceIn("", id) }

// GetInvoiceIn returns the current state of a connected account's invoice.
func (s *Server) GetInvoiceIn(account, id string) (Invoice, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.invoices[scoped(account, id)]
	if !ok {
		return Invoice{}, false
	}
	return *inv, true
}

// GetSubscription returns the subscription's current state.
func (s *Server) GetSubscription(id string) (Subscription, bool) { return s.GetSubscriptionIn("", id) }

// GetSubscriptionIn returns the current state of a connected account's
// subscription.
func (s *Server) GetSubscriptionIn(account, id string) (Subscription, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[scoped(account, id)]
	if !ok {
		return Subscription{}, false
	}
	c := *sub
	c.Metadata = copyMap(sub.Metadata)
	return c, true
}

// ScriptPay queues the outcomes of the next charge attempts on the invoice,
// consumed one per attempt; once they run out, attempts succeed.
func (s *Server) ScriptPay(invoiceID string, outcomes ...PayOutcome) {
	s.ScriptPayIn("", invoiceID, outcomes...)
}

// ScriptPayIn is ScriptPay for a connected account's invoice.
func (s *Server) ScriptPayIn(account, invoiceID string, outcomes ...PayOutcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := scoped(account, invoiceID)
	s.scripts[k] = append(s.scripts[k], outcomes...)
}

// ScriptDecline records that the invoice's last payment attempt was
// declined with code (stolen_card, insufficient_funds, …), as when Stripe's
// own attempt failed before the invoice.payment_failed event: GET
// /v1/payment_intents/{id} and /v1/charges/{id} then report it. The
// invoice gets a payment intent and a charge if it has none; their IDs
// are returned for the event's fixture.
func (s *Server) ScriptDecline(invoiceID, code string) (paymentIntentID, chargeID string) {
	return s.ScriptDeclineIn("", invoiceID, code)
}

// ScriptDeclineIn is ScriptDecline for a connected account's invoice.
func (s *Server) ScriptDeclineIn(account, invoiceID, code string) (paymentIntentID, chargeID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv := s.invoices[scoped(account, invoiceID)]
	if inv == nil {
		return "", ""
	}
	def(&inv.PaymentIntentID, newID("pi_", 24))
	def(&inv.ChargeID, newID("ch_", 24))
	inv.DeclineCode = code
	if inv.AttemptCount == 0 {
		inv.AttemptCount = 1
	}
	return inv.PaymentIntentID, inv.ChargeID
}

// PayAttempts returns how many charge attempts were made on the invoice;
// idempotent replays and out-of-band payments are not attempts.
func (s *Server) PayAttempts(invoiceID string) int { return s.PayAttemptsIn("", invoiceID) }

// PayAttemptsIn is PayAttempts for a connected account's invoice.
func (s *Server) PayAttemptsIn(account, invoiceID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.payAttempts[scoped(account, invoiceID)]
}

// AddEvent stores a raw Stripe event (for example one built by
// fixtures.Build) for GET /v1/events.
func (s *Server) AddEvent(raw []byte) error {
	var ev struct {
		ID              string `json:"id"`
		Object          string `json:"object"`
		Type            string `json:"type"`
		Created         int64  `json:"created"`
		PendingWebhooks int    `json:"pending_webhooks"`
		Account         string `json:"account"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return fmt.Errorf("stripeapi: event: %w", err)
	}
	if ev.ID == "" || ev.Object != "event" || ev.Type == "" || ev.Created == 0 {
		return fmt.Errorf("stripeapi: not a Stripe event (id %q, object %q, type %q, created %d)", ev.ID, ev.Object, ev.Type, ev.Created)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		if e.id == ev.ID {
			return fmt.Errorf("stripeapi: event %s already added", ev.ID)
		}
	}
	s.events = append(s.events, storedEvent{
		id: ev.ID, typ: ev.Type, account: ev.Account, created: ev.Created, pending: ev.PendingWebhooks,
		seq: len(s.events), raw: append(json.RawMessage(nil), raw...),
	})
	return nil
}

// Requests returns the requests received so far, oldest first.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RecordedRequest(nil), s.requests...)
}

// Handler returns the fake's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/customers/{id}", s.getCustomer)
	mux.HandleFunc("GET /v1/invoices/{id}", s.getInvoice)
	mux.HandleFunc("POST /v1/invoices/{id}", s.updateInvoice)
	mux.HandleFunc("POST /v1/invoices/{id}/pay", s.payInvoice)
	mux.HandleFunc("POST /v1/invoices/{id}/mark_uncollectible", s.markUncollectible)
	mux.HandleFunc("GET /v1/charges/{id}", s.getCharge)
	mux.HandleFunc("GET /v1/payment_intents/{id}", s.getPaymentIntent)
	mux.HandleFunc("GET /v1/subscriptions/{id}", s.getSubscription)
	mux.HandleFunc("POST /v1/subscriptions/{id}", s.updateSubscription)
	mux.HandleFunc("DELETE /v1/subscriptions/{id}", s.cancelSubscription)
	mux.HandleFunc("GET /v1/events", s.listEvents)
	mux.HandleFunc("GET /v1/events/{id}", s.getEvent)
	mux.HandleFunc("POST /v1/billing_portal/sessions", s.createPortalSession)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, "", http.StatusNotFound, apiError{Type: "invalid_request_error",
			Message: fmt.Sprintf("Unrecognized request URL (%s: %s). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.", r.Method, r.URL.Path)})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, portalSessionPath) {
			s.portalPage(w, r) // the customer's browser, not the API
			return
		}
		s.serve(w, r, mux)
	})
}

func def(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func copyMap(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// render turns a fixtures object into the response body.
func render(object string, o fixtures.Options, override fixtures.Map) fixtures.Map {
	m, err := fixtures.Object(object, o)
	if err != nil {
		panic(err) // object kinds are fixed in this package
	}
	for k, v := range override {
		m[k] = v
	}
	return m
}
