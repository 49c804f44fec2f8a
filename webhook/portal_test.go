package webhook_test

import (
	"github.com/payflow/payflow/internal/syncbuf"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/internal/portallink"
	"github.com/payflow/payflow/webhook"
)

const (
	portalStripeKey = "sk_test_51PayflowPortalReceiver"
	portalSecret    = "receiver-test-link-secret-0123456789abcdef"
	portalReturn    = "https://app.example.com/account"
)

type portalRig struct {
	*live
	stripe *stripeapi.Server
	signer *portallink.Signer
	logs   *syncbuf.Buffer
}

// startPortal runs the receiver, with billing portal links on, on a real
// listener, in front of the Stripe fake on another (stripeBase overrides
// where the receiver reaches Stripe).
func startPortal(t *testing.T, stripeBase string) *portalRig {
	t.Helper()
	fake := stripeapi.New(portalStripeKey)
	fakeURL, stop := fake.Start()
	t.Cleanup(stop)
	if stripeBase == "" {
		stripeBase = fakeURL
	}
	fake.PutCustomer("cus_Jenny", "jenny@example.com")
	fake.PutPortalConfiguration("bpc_payflow", "")
	signer, err := portallink.NewSigner(portalSecret)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	l := startLive(t, func(s *webhook.Server) {
		s.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s.Portal = &webhook.Portal{
			Signer:        signer,
			Sessions:      activities.NewStripeAPI(portalStripeKey, stripeBase),
			ReturnURL:     portalReturn,
			Configuration: "bpc_payflow",
			Timeout:       3 * time.Second,
		}
	})
	return &portalRig{live: l, stripe: fake, signer: signer, logs: logs}
}

// noRedirects sees the receiver's own answer.
var noRedirects = &http.Client{
	Timeout:       15 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (r *portalRig) link(t *testing.T, customer string, expires time.Time) (link, token string) {
	t.Helper()
	token, err := r.signer.Token(customer, expires)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + r.addr + portallink.PathPrefix + token, token
}

func visit(t *testing.T, method, link string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, link, nil)
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func portalOutcome(reg prometheus.Gatherer, outcome string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "payflow_portal_links_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "outcome" && lp.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// A click on a valid link opens a new portal session in Stripe for the
// link's customer, with the configured return URL and configuration, and
// answers 303 to the session's URL; every click opens its own.
func TestPortalLinkRedirectsToNewSession(t *testing.T) {
	r := startPortal(t, "")
	link, token := r.link(t, "cus_Jenny", time.Now().Add(720*time.Hour))

	res, body := visit(t, http.MethodGet, link)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d, want 303; body %q", res.StatusCode, body)
	}
	sessions := r.stripe.PortalSessions()
	if len(sessions) != 1 {
		t.Fatalf("Stripe opened %d sessions, want 1", len(sessions))
	}
	s := sessions[0]
	if s.CustomerID != "cus_Jenny" || s.ReturnURL != portalReturn || s.Configuration != "bpc_payflow" {
		t.Errorf("session %+v", s)
	}
	if loc := res.Header.Get("Location"); loc != s.URL || !strings.HasPrefix(loc, "http://127.0.0.1:") {
		t.Errorf("Location %q, want the session's URL %q", loc, s.URL)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	if rp := res.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy %q", rp)
	}
	reqs := r.stripe.Requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/v1/billing_portal/sessions" ||
		url.Values(reqs[0].Form).Get("customer") != "cus_Jenny" || url.Values(reqs[0].Form).Get("return_url") != portalReturn {
		t.Errorf("Stripe saw %+v", reqs)
	}

	// A browser follows to the portal (here the fake's page).
	page, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != 200 || page.Request.URL.String() != r.stripe.PortalSessions()[1].URL {
		t.Errorf("followed to %s (%d)", page.Request.URL, page.StatusCode)
	}
	if got := r.stripe.PortalSessions(); len(got) != 2 || got[1].Visits != 1 || got[0].ID == got[1].ID {
		t.Errorf("second click: sessions %+v", got)
	}
	if n := portalOutcome(r.reg, webhook.PortalRedirected); n != 2 {
		t.Errorf("redirected = %v, want 2", n)
	}
	logs := r.logs.String()
	if !strings.Contains(logs, "billing portal session opened") || !strings.Contains(logs, "cus_Jenny") {
		t.Errorf("log lacks the opened session:\n%s", logs)
	}
	for _, secret := range []string{token, portalSecret, s.URL} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
}

// Expired, tampered, forged and malformed links get a short page, never a
// session; Stripe is not asked.
func TestPortalLinkRefused(t *testing.T) {
	r := startPortal(t, "")
	_, expired := r.link(t, "cus_Jenny", time.Now().Add(-time.Minute))
	_, good := r.link(t, "cus_Jenny", time.Now().Add(time.Hour))
	tampered := []byte(good)
	if tampered[5] == 'A' {
		tampered[5] = 'B'
	} else {
		tampered[5] = 'A'
	}
	other, _ := portallink.NewSigner("another-secret-entirely-0123456789abcdef")
	forged, _ := other.Token("cus_Jenny", time.Now().Add(time.Hour))

	cases := []struct {
		name, token string
		status      int
		outcome     string
		words       string
	}{
		{"expired", expired, http.StatusGone, webhook.PortalExpired, "expired"},
		{"tampered", string(tampered), http.StatusNotFound, webhook.PortalBadSignature, "not valid"},
		{"another secret", forged, http.StatusNotFound, webhook.PortalBadSignature, "not valid"},
		{"malformed", "not-a-token", http.StatusNotFound, webhook.PortalMalformed, "not valid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := portalOutcome(r.reg, tc.outcome)
			res, body := visit(t, http.MethodGet, "http://"+r.addr+portallink.PathPrefix+tc.token)
			if res.StatusCode != tc.status {
				t.Errorf("status %d, want %d", res.StatusCode, tc.status)
			}
			if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, tc.words) ||
				strings.Contains(body, tc.token) || strings.Contains(body, "cus_Jenny") || len(body) > 1024 {
				t.Errorf("page %q (%s)", body, res.Header.Get("Content-Type"))
			}
			if res.Header.Get("Location") != "" {
				t.Errorf("redirects to %q", res.Header.Get("Location"))
			}
			if got := portalOutcome(r.reg, tc.outcome); got != before+1 {
				t.Errorf("%s = %v, want %v", tc.outcome, got, before+1)
			}
		})
	}
	if reqs, sessions := r.stripe.Requests(), r.stripe.PortalSessions(); len(reqs) != 0 || len(sessions) != 0 {
		t.Errorf("Stripe was asked: requests %+v, sessions %+v", reqs, sessions)
	}
	logs := r.logs.String()
	for _, tc := range cases {
		if strings.Contains(logs, tc.token) {
			t.Errorf("log contains the %s token:\n%s", tc.name, logs)
		}
	}
}

// A customer Stripe no longer knows: 410, no session. Stripe unreachable,
// or refusing the request: 503 with Retry-After. A HEAD (a link scanner)
// opens no session.
func TestPortalLinkStripeFailures(t *testing.T) {
	t.Run("unknown customer", func(t *testing.T) {
		r := startPortal(t, "")
		link, _ := r.link(t, "cus_Deleted", time.Now().Add(time.Hour))
		res, body := visit(t, http.MethodGet, link)
		if res.StatusCode != http.StatusGone || !strings.Contains(body, "no longer valid") {
			t.Errorf("%d %q", res.StatusCode, body)
		}
		if n := len(r.stripe.PortalSessions()); n != 0 || portalOutcome(r.reg, webhook.PortalUnknownCustomer) != 1 {
			t.Errorf("sessions %d, unknown_customer %v", n, portalOutcome(r.reg, webhook.PortalUnknownCustomer))
		}
	})
	t.Run("stripe unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String()
		ln.Close()
		r := startPortal(t, dead)
		link, _ := r.link(t, "cus_Jenny", time.Now().Add(time.Hour))
		res, body := visit(t, http.MethodGet, link)
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(body, "try again") {
			t.Errorf("%d %q (Retry-After %q)", res.StatusCode, body, res.Header.Get("Retry-After"))
		}
		if got := portalOutcome(r.reg, webhook.PortalStripeUnavailable); got != 1 {
			t.Errorf("stripe_unavailable = %v", got)
		}
	})
	t.Run("stripe refuses", func(t *testing.T) {
		r := startPortal(t, "")
		r.stripe.Refuse("POST", "/v1/billing_portal/sessions", http.StatusForbidden, "The provided key does not have the required permissions")
		link, _ := r.link(t, "cus_Jenny", time.Now().Add(time.Hour))
		res, _ := visit(t, http.MethodGet, link)
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", res.StatusCode)
		}
		if !strings.Contains(r.logs.String(), "billing portal session not opened") {
			t.Errorf("no error logged:\n%s", r.logs.String())
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		r := startPortal(t, "")
		link, _ := r.link(t, "cus_Jenny", time.Now().Add(time.Hour))
		res, _ := visit(t, http.MethodHead, link)
		if res.StatusCode != http.StatusOK {
			t.Errorf("HEAD status %d", res.StatusCode)
		}
		if n := len(r.stripe.Requests()); n != 0 {
			t.Errorf("HEAD asked Stripe %d times", n)
		}
	})
}

// Without the configuration the path is not served.
func TestPortalLinkNotServedWhenOff(t *testing.T) {
	l := startLive(t, nil)
	signer, _ := portallink.NewSigner(portalSecret)
	token, _ := signer.Token("cus_Jenny", time.Now().Add(time.Hour))
	res, _ := visit(t, http.MethodGet, "http://"+l.addr+portallink.PathPrefix+token)
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("status %d, want 404", res.StatusCode)
	}
}
