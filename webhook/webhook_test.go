package webhook_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/api/serviceerror"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
	"github.com/payflow/payflow/webhook"
)

const (
	secretOld = "whsec_old_0123456789abcdef"
	secretNew = "whsec_new_fedcba9876543210"
	secretBad = "whsec_other_0000000000000"
)

// recorder is a Handoff that remembers deliveries and can fail.
type recorder struct {
	mu        sync.Mutex
	delivered []string // workflow IDs
	events    []payflow.Event
	err       error
	duplicate bool
	delay     time.Duration
}

func (r *recorder) Deliver(ctx context.Context, route routing.Route, id string, ev payflow.Event) (bool, error) {
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return false, r.err
	}
	r.delivered = append(r.delivered, id)
	r.events = append(r.events, ev)
	return r.duplicate, nil
}

func newServer(h webhook.Handoff, secrets ...string) *webhook.Server {
	return &webhook.Server{Verifier: &webhook.Verifier{Secrets: secrets}, Handoff: h, HandoffTimeout: 200 * time.Millisecond,
		BodyLimit: 64 << 10, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

type response struct {
	status int
	body   map[string]any
	header http.Header
}

func post(t *testing.T, s *webhook.Server, method string, body []byte, sig string) response {
	t.Helper()
	req := httptest.NewRequest(method, webhook.Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	resp, err := s.App().Test(req, 5000)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("response is not JSON: %q", raw)
		}
	}
	return out
}

func event(t *testing.T, typ string, o fixtures.Options) []byte {
	t.Helper()
	b, err := fixtures.Build(typ, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(b []byte, secrets ...string) string { return fixtures.Sign(b, secrets, time.Now()) }

func TestReceiverTable(t *testing.T) {
	good := event(t, "payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_table"})
	tampered := bytes.Replace(good, []byte(`"pi_table"`), []byte(`"pi_evil1"`), 1)
	notEvent := []byte(`{"hello":"world"}`)
	badJSON := []byte(`{"id":"evt_1","type":`)
	noKey := []byte(`{"id":"evt_nokey","object":"event","type":"customer.subscription.updated","created":1700000000,"data":{"object":{"object":"subscription","status":"active"}}}`)
	unhandled := event(t, "payment_intent.succeeded", fixtures.Options{})
	unhandled = bytes.Replace(unhandled, []byte(`"type": "payment_intent.succeeded"`), []byte(`"type": "payment_intent.created"`), 1)
	unhandled = bytes.Replace(unhandled, []byte(`"type":"payment_intent.succeeded"`), []byte(`"type":"payment_intent.created"`), 1)
	old := fixtures.Sign(good, []string{secretOld}, time.Now().Add(-10*time.Minute))
	future := fixtures.Sign(good, []string{secretOld}, time.Now().Add(10*time.Minute))
	skew := fixtures.Sign(good, []string{secretOld}, time.Now().Add(10*time.Second))

	cases := []struct {
		name      string
		method    string
		body      []byte
		sig       string
		handoff   *recorder
		status    int
		errSubstr string
		delivered int
		check     func(t *testing.T, r response)
	}{
		{name: "valid event", body: good, sig: sign(good, secretOld), status: 200, delivered: 1,
			check: func(t *testing.T, r response) {
				if r.body["received"] != true {
					t.Errorf("want received:true, got %v", r.body)
				}
			}},
		{name: "missing header", body: good, status: 400, errSubstr: "missing Stripe-Signature"},
		{name: "malformed header", body: good, sig: "garbage", status: 400, errSubstr: "malformed"},
		{name: "header without v1", body: good, sig: "t=12345", status: 400, errSubstr: "malformed"},
		{name: "header with bad t", body: good, sig: "t=abc,v1=00", status: 400, errSubstr: "malformed"},
		{name: "tampered body", body: tampered, sig: sign(good, secretOld), status: 400, errSubstr: "matches no"},
		{name: "wrong secret", body: good, sig: sign(good, secretBad), status: 400, errSubstr: "matches no"},
		{name: "expired timestamp", body: good, sig: old, status: 400, errSubstr: "too old"},
		{name: "future timestamp", body: good, sig: future, status: 400, errSubstr: "future"},
		{name: "small clock skew accepted", body: good, sig: skew, status: 200, delivered: 1},
		{name: "v0 and unknown schemes ignored", body: good, sig: sign(good, secretOld) + ",v0=deadbeef,v9=zz", status: 200, delivered: 1},
		{name: "not a Stripe event", body: notEvent, sig: sign(notEvent, secretOld), status: 400, errSubstr: "not a Stripe event"},
		{name: "bad JSON", body: badJSON, sig: sign(badJSON, secretOld), status: 400, errSubstr: "not a Stripe event"},
		{name: "handled type without key", body: noKey, sig: sign(noKey, secretOld), status: 200, delivered: 0,
			check: func(t *testing.T, r response) {
				if !strings.Contains(r.body["ignored"].(string), "no subscription") {
					t.Errorf("want ignored reason, got %v", r.body)
				}
			}},
		{name: "unhandled type", body: unhandled, sig: sign(unhandled, secretOld), status: 200, delivered: 0,
			check: func(t *testing.T, r response) {
				if r.body["ignored"] != "unhandled event type" {
					t.Errorf("want unhandled, got %v", r.body)
				}
			}},
		{name: "GET is 405", method: http.MethodGet, body: nil, status: 405},
		{name: "temporal unreachable", body: good, sig: sign(good, secretOld), handoff: &recorder{err: errors.New("connection refused")}, status: 503,
			check: func(t *testing.T, r response) {
				if r.header.Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
			}},
		{name: "temporal too slow", body: good, sig: sign(good, secretOld), handoff: &recorder{delay: 2 * time.Second}, status: 503},
		{name: "completed workflow: duplicate", body: good, sig: sign(good, secretOld), handoff: &recorder{duplicate: true}, status: 200, delivered: 1,
			check: func(t *testing.T, r response) {
				if r.body["duplicate"] != true {
					t.Errorf("want duplicate:true, got %v", r.body)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.handoff
			if h == nil {
				h = &recorder{}
			}
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			r := post(t, newServer(h, secretOld), method, tc.body, tc.sig)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (body %v)", r.status, tc.status, r.body)
			}
			if tc.status >= 400 {
				msg, _ := r.body["error"].(string)
				if msg == "" {
					t.Fatalf("error answer without JSON error: %v", r.body)
				}
				if tc.errSubstr != "" && !strings.Contains(msg, tc.errSubstr) {
					t.Errorf("error %q does not mention %q", msg, tc.errSubstr)
				}
				for _, s := range []string{secretOld, "whsec_"} {
					if strings.Contains(msg, s) {
						t.Errorf("error body leaks a secret: %q", msg)
					}
				}
			}
			if got := len(h.delivered); got != tc.delivered {
				t.Errorf("delivered %d, want %d", got, tc.delivered)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestSecretRotation(t *testing.T) {
	body := event(t, "invoice.paid", fixtures.Options{SubscriptionID: "sub_rot"})
	cases := []struct {
		name   string
		signed []string
		status int
	}{
		{"old secret", []string{secretOld}, 200},
		{"new secret", []string{secretNew}, 200},
		{"both while rolling", []string{secretOld, secretNew}, 200},
		{"unknown plus new", []string{secretBad, secretNew}, 200},
		{"third secret", []string{secretBad}, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &recorder{}
			r := post(t, newServer(h, secretOld, secretNew), http.MethodPost, body, sign(body, tc.signed...))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d", r.status, tc.status)
			}
			if tc.status == 200 && (len(h.delivered) != 1 || h.delivered[0] != "subscription/sub_rot") {
				t.Fatalf("delivered %v", h.delivered)
			}
		})
	}
}

// Every handled type decodes from a realistic event and reaches the
// workflow the routing table names.
func TestEveryHandledTypeRoutes(t *testing.T) {
	for _, typ := range routing.HandledTypes() {
		t.Run(typ, func(t *testing.T) {
			o := fixtures.Options{PaymentIntentID: "pi_r", SubscriptionID: "sub_r", DisputeID: "dp_r", CustomerID: "cus_r", CheckoutSessionID: "cs_test_r"}
			if strings.HasPrefix(typ, "checkout.session.") {
				o.Mode = "payment"
			}
			body := event(t, typ, o)
			h := &recorder{}
			r := post(t, newServer(h, secretOld), http.MethodPost, body, sign(body, secretOld))
			if r.status != 200 || len(h.delivered) != 1 {
				t.Fatalf("status %d delivered %v body %v", r.status, h.delivered, r.body)
			}
			want := map[string]string{"payment_intent": "order/pi_r", "checkout": "order/pi_r", "charge.refunded": "order/pi_r",
				"invoice": "subscription/sub_r", "customer.subscription": "subscription/sub_r", "charge.dispute": "dispute/dp_r",
				"customer.updated": "customer/cus_r", "payment_method": "customer/cus_r", "setup_intent": "customer/cus_r"}
			matched := false
			for prefix, id := range want {
				if strings.HasPrefix(typ, prefix) && (prefix != "charge.refunded" || typ == prefix) {
					matched = true
					if prefix == "checkout" && h.delivered[0] == "order/cs_test_r" {
						continue // expired sessions may carry no payment intent
					}
					if h.delivered[0] != id {
						t.Errorf("routed to %s, want %s", h.delivered[0], id)
					}
				}
			}
			if !matched {
				t.Fatalf("test table lacks %s", typ)
			}
			ev := h.events[0]
			if ev.ID == "" || ev.Type != typ || ev.Created == 0 {
				t.Errorf("decoded event incomplete: %+v", ev)
			}
			if ev.CustomerID != "cus_r" && ev.ObjectType != "dispute" { // disputes carry no customer
				t.Errorf("customer %q, want cus_r", ev.CustomerID)
			}
		})
	}
}

func TestDecodeReadsWhatWorkflowsNeed(t *testing.T) {
	cases := []struct {
		typ   string
		o     fixtures.Options
		check func(t *testing.T, ev payflow.Event)
	}{
		{"payment_intent.succeeded", fixtures.Options{Email: "a@example.com", Amount: 4200}, func(t *testing.T, ev payflow.Event) {
			if ev.Email != "a@example.com" || ev.Amount != 4200 || ev.ChargeID == "" {
				t.Errorf("%+v", ev)
			}
		}},
		{"checkout.session.completed", fixtures.Options{Email: "b@example.com", Mode: "payment", PaymentStatus: "unpaid"}, func(t *testing.T, ev payflow.Event) {
			if ev.Email != "b@example.com" || ev.PaymentStatus != "unpaid" || ev.PaymentIntent == "" || ev.CheckoutID == "" {
				t.Errorf("%+v", ev)
			}
		}},
		{"invoice.payment_failed", fixtures.Options{Email: "c@example.com", SubscriptionID: "sub_d"}, func(t *testing.T, ev payflow.Event) {
			if ev.Email != "c@example.com" || ev.SubscriptionID != "sub_d" || ev.HostedInvoiceURL == "" || ev.InvoiceID == "" || ev.PaymentIntent != "" {
				t.Errorf("%+v", ev)
			}
		}},
		{"customer.subscription.updated", fixtures.Options{SubscriptionID: "sub_e", CancelAtPeriodEnd: true}, func(t *testing.T, ev payflow.Event) {
			if ev.SubscriptionID != "sub_e" || !ev.CancelAtPeriodEnd || ev.CurrentPeriodEnd == 0 || ev.ProductID == "" {
				t.Errorf("%+v", ev)
			}
		}},
		{"charge.refunded", fixtures.Options{Amount: 1000, AmountRefunded: 1000}, func(t *testing.T, ev payflow.Event) {
			if ev.AmountRefunded != 1000 || ev.PaymentIntent == "" || ev.ChargeID == "" {
				t.Errorf("%+v", ev)
			}
		}},
		{"charge.dispute.created", fixtures.Options{}, func(t *testing.T, ev payflow.Event) {
			if ev.DisputeID == "" || ev.EvidenceDueBy == 0 || ev.DisputeReason == "" || ev.ChargeID == "" {
				t.Errorf("%+v", ev)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.typ, func(t *testing.T) {
			ev, err := webhook.Decode(event(t, tc.typ, tc.o))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, ev)
		})
	}
}

// An event of an API version payflow does not know is never read with
// the wrong field paths: it is quarantined (200, quarantined, and no
// workflow but quarantine/<evt> sees it; quarantine_test.go). One of a
// known version whose field changed type is refused.
func TestAPIVersionMismatch(t *testing.T) {
	body := event(t, "payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_v"})
	newer := bytes.Replace(body, []byte("2023-10-16"), []byte("2099-01-01.future"), 1)
	h := &recorder{}
	if r := post(t, newServer(h, secretOld), http.MethodPost, newer, sign(newer, secretOld)); r.status != 200 ||
		r.body["quarantined"] != webhook.ReasonUnknownAPIVersion || len(h.delivered) != 1 || !strings.HasPrefix(h.delivered[0], "quarantine/") {
		t.Fatalf("newer API version: status %d %v, delivered %v; want quarantined", r.status, r.body, h.delivered)
	}
	changed := []byte(`{"id":"evt_x","object":"event","api_version":"2023-10-16","type":"payment_intent.succeeded","created":1,"data":{"object":{"id":"pi_x","object":"payment_intent","amount":"twelve"}}}`)
	if r := post(t, newServer(h, secretOld), http.MethodPost, changed, sign(changed, secretOld)); r.status != 400 {
		t.Fatalf("field of a changed type: status %d, want 400", r.status)
	}
}

func TestHealthEndpoints(t *testing.T) {
	s := newServer(&recorder{})
	s.Ready = func(context.Context) error { return errors.New("temporal: unavailable") }
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503} {
		resp, err := s.App().Test(httptest.NewRequest(http.MethodGet, path, nil))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestParseSecrets(t *testing.T) {
	got := webhook.ParseSecrets(" whsec_a, ,whsec_b ")
	if len(got) != 2 || got[0] != "whsec_a" || got[1] != "whsec_b" {
		t.Fatalf("%v", got)
	}
}

// The body limit is enforced by the HTTP server before the handler runs, so
// this goes through a real listener.
func TestBodyTooLarge(t *testing.T) {
	h := &recorder{}
	app := newServer(h, secretOld).App()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	defer app.Shutdown()
	// A raw connection announces a body over the limit and sends only its
	// first bytes: the receiver must answer 413 from the Content-Length alone,
	// without reading the rest. (An http.Client that keeps writing the whole
	// body races the server closing the connection and can see a reset.)
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	head := `{"id":"evt_big","type":"x","pad":"aaaa`
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: payflow\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", webhook.Path, 70<<10, head)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body["error"], "larger than") {
		t.Fatalf("status %d body %v, want 413 with an error", resp.StatusCode, body)
	}
	if len(h.delivered) != 0 {
		t.Fatal("oversized body was delivered")
	}
}

// IDs Stripe never sends can never be handed to Temporal (size
// limits of workflow IDs and search attributes), so retrying cannot help:
// they are refused as malformed (400, rejected_malformed), never answered
// 503 (Stripe would retry for three days).
func TestImpossibleIDsAreMalformed(t *testing.T) {
	long := func(prefix string, n int) string { return prefix + strings.Repeat("x", n-len(prefix)) }
	cases := []struct {
		name   string
		typ    string
		o      fixtures.Options
		raw    func([]byte) []byte // edits the signed JSON
		status int
	}{
		{name: "payment intent of 5,009 characters", typ: "payment_intent.succeeded", o: fixtures.Options{PaymentIntentID: long("pi_", 5009)}, status: 400},
		{name: "customer over the search attribute limit", typ: "payment_intent.succeeded", o: fixtures.Options{CustomerID: long("cus_", 3000)}, status: 400},
		{name: "customer of 256 characters", typ: "payment_intent.succeeded", o: fixtures.Options{CustomerID: long("cus_", 256)}, status: 400},
		{name: "customer of 255 characters", typ: "payment_intent.succeeded", o: fixtures.Options{CustomerID: long("cus_", 255)}, status: 200},
		{name: "subscription with a slash", typ: "invoice.paid", o: fixtures.Options{SubscriptionID: "sub_a/b"}, status: 400},
		{name: "dispute with a space", typ: "charge.dispute.created", o: fixtures.Options{DisputeID: "dp_a b"}, status: 400},
		{name: "checkout session with a newline", typ: "checkout.session.completed", o: fixtures.Options{CheckoutSessionID: "cs_a\nb", Mode: "payment"}, status: 400},
		{name: "invalid UTF-8 in the payment intent", typ: "payment_intent.succeeded", o: fixtures.Options{PaymentIntentID: "pi_utf8"},
			raw: func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(`"pi_utf8"`), []byte("\"pi_\xff\xfe\"")) }, status: 400},
		{name: "lone surrogate in the customer", typ: "payment_intent.succeeded", o: fixtures.Options{CustomerID: "cus_sur"},
			raw: func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(`"cus_sur"`), []byte(`"cus_\ud800"`)) }, status: 400},
		{name: "non-ASCII event ID", typ: "payment_intent.succeeded", o: fixtures.Options{},
			raw: func(b []byte) []byte { return bytes.Replace(b, []byte(`"id": "evt_`), []byte(`"id": "évt_`), 1) }, status: 400},
		{name: "event type of 300 characters", typ: "payment_intent.succeeded", o: fixtures.Options{},
			raw: func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"type": "payment_intent.succeeded"`), []byte(`"type": "`+strings.Repeat("a.", 150)+`"`), 1)
			}, status: 400},
		{name: "product from metadata with spaces: merchant text", typ: "payment_intent.succeeded", o: fixtures.Options{ProductID: "Pro plan (yearly)"}, status: 200},
		{name: "product from metadata of 1,000 characters", typ: "payment_intent.succeeded", o: fixtures.Options{ProductID: long("prod_", 1000)}, status: 400},
		{name: "product with a control character", typ: "payment_intent.succeeded", o: fixtures.Options{ProductID: "prod_\x01"}, status: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := event(t, tc.typ, tc.o)
			if tc.raw != nil {
				edited := tc.raw(body)
				if bytes.Equal(edited, body) {
					t.Fatal("fixture layout changed: the edit did nothing")
				}
				body = edited
			}
			h := &recorder{}
			s := newServer(h, secretOld)
			reg := prometheus.NewRegistry()
			s.Metrics = webhook.NewMetrics(reg)
			r := post(t, s, http.MethodPost, body, sign(body, secretOld))
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (%v)", r.status, tc.status, r.body)
			}
			if tc.status == 400 {
				if len(h.delivered) != 0 {
					t.Error("delivered")
				}
				if got := deliveries(reg, "other", "rejected_malformed"); got != 1 {
					t.Errorf("rejected_malformed counted %v, want 1", got)
				}
				if msg, _ := r.body["error"].(string); !strings.Contains(msg, "invalid ID") || len(msg) > 200 {
					t.Errorf("error %q: want a short invalid-ID reason", msg)
				}
			}
		})
	}
}

// Temporal's InvalidArgument (e.g. a search attribute over its size limit)
// is permanent: 400, counted rejected_invalid_argument, logged at error
// level with the event ID. Only unavailability or slowness is a 503.
func TestTemporalInvalidArgumentIsNotUnavailable(t *testing.T) {
	body := event(t, "payment_intent.succeeded", fixtures.Options{PaymentIntentID: "pi_invalid"})
	for name, err := range map[string]error{
		"InvalidArgument":         serviceerror.NewInvalidArgument("search attribute StripeCustomerID exceeds size limit"),
		"wrapped InvalidArgument": fmt.Errorf("signal with start: %w", serviceerror.NewInvalidArgument("workflow id too long")),
	} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			s := newServer(&recorder{err: err}, secretOld)
			s.Log = slog.New(slog.NewJSONHandler(&logs, nil))
			reg := prometheus.NewRegistry()
			s.Metrics = webhook.NewMetrics(reg)
			r := post(t, s, http.MethodPost, body, sign(body, secretOld))
			if r.status != 400 || r.header.Get("Retry-After") != "" {
				t.Fatalf("status %d Retry-After %q, want 400 without Retry-After", r.status, r.header.Get("Retry-After"))
			}
			if got := deliveries(reg, "payment_intent.succeeded", "rejected_invalid_argument"); got != 1 {
				t.Errorf("rejected_invalid_argument counted %v", got)
			}
			var line map[string]any
			for _, l := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
				_ = json.Unmarshal(l, &line)
				if line["level"] == "ERROR" {
					break
				}
			}
			if line["level"] != "ERROR" || line["event_id"] == nil || line["event_id"] == "" || line["workflow_id"] != "order/pi_invalid" {
				t.Errorf("want an error line with the event and workflow IDs, got %s", logs.String())
			}
		})
	}
	// Unavailable stays 503.
	r := post(t, newServer(&recorder{err: serviceerror.NewUnavailable("connection refused")}, secretOld), http.MethodPost, body, sign(body, secretOld))
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("Unavailable: status %d, want 503 with Retry-After", r.status)
	}
}

// /metrics is not on the public port; OpsHandler (its own
// listener) serves it with /healthz and /readyz.
func TestMetricsOnlyOnTheOpsHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newServer(&recorder{}, secretOld)
	s.Metrics = webhook.NewMetrics(reg)
	s.Gatherer = reg
	s.Ready = func(context.Context) error { return errors.New("temporal: unavailable") }
	body := event(t, "payment_intent.succeeded", fixtures.Options{})
	if r := post(t, s, http.MethodPost, body, sign(body, secretOld)); r.status != 200 {
		t.Fatalf("delivery: %d", r.status)
	}
	resp, err := s.App().Test(httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("public /metrics answered %d, want 404", resp.StatusCode)
	}
	ops := httptest.NewServer(s.OpsHandler())
	defer ops.Close()
	for path, want := range map[string]int{"/metrics": 200, "/healthz": 200, "/readyz": 503} {
		resp, err := http.Get(ops.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("ops %s: %d, want %d", path, resp.StatusCode, want)
		}
		if path == "/metrics" && !strings.Contains(string(raw), `payflow_webhook_deliveries_total{outcome="accepted",type="payment_intent.succeeded"} 1`) {
			t.Errorf("ops /metrics lacks the delivery:\n%s", raw)
		}
		if path == "/readyz" && !strings.Contains(string(raw), "temporal: unavailable") {
			t.Errorf("ops /readyz gives no reason: %s", raw)
		}
	}
}
