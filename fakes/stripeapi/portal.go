package stripeapi

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/payflow/payflow/fixtures"
)

// PortalSession is a customer portal session the fake opened
// (POST /v1/billing_portal/sessions), as recorded for tests.
type PortalSession struct {
	ID            string // bps_…
	CustomerID    string
	ReturnURL     string // as asked, or the configuration's default
	Configuration string // bpc_…: as asked, or the account's default configuration
	Locale        string
	FlowType      string // flow_data[type], if any
	URL           string // <fake base>/p/session/<id>
	Created       time.Time
	// Visits counts GET <URL>: the customer reaching the portal.
	Visits int
}

// portalState is the fake's customer portal: its configurations and the
// sessions it opened. The zero value is an account whose default
// configuration has no default return URL.
type portalState struct {
	defaultConfig string
	configs       map[string]string // bpc_… → default_return_url
	sessions      []*PortalSession
}

// portalSessionPath is where the fake's session URLs point: Stripe's own
// are https://billing.stripe.com/p/session/….
const portalSessionPath = "/p/session/"

// PutPortalConfiguration adds a portal configuration (bpc_…) that
// POST /v1/billing_portal/sessions accepts as configuration; a session
// with it and no return_url returns to defaultReturnURL (Stripe's
// default_return_url; "" for none).
func (s *Server) PutPortalConfiguration(id, defaultReturnURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.portal.configs == nil {
		s.portal.configs = map[string]string{}
	}
	s.portal.configs[id] = defaultReturnURL
}

// PortalSessions returns the portal sessions opened so far, oldest first.
func (s *Server) PortalSessions() []PortalSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PortalSession, len(s.portal.sessions))
	for i, p := range s.portal.sessions {
		out[i] = *p
	}
	return out
}

// createPortalSession is POST /v1/billing_portal/sessions: customer is
// required and must exist; return_url is required unless the configuration
// has a default one; configuration, when given, must exist.
func (s *Server) createPortalSession(w http.ResponseWriter, r *http.Request) {
	form := r.Form
	if p := unknownParam(form, "customer", "return_url", "configuration", "locale", "on_behalf_of", "flow_data", "expand"); p != "" {
		s.invalid(w, p, "parameter_unknown", "Received unknown parameter: %s", p)
		return
	}
	cus := form.Get("customer")
	if cus == "" {
		s.invalid(w, "customer", "parameter_missing", "Missing required param: customer.")
		return
	}
	if _, ok := s.customers[s.key(cus)]; !ok {
		// A missing object named by a parameter is a 400, not a 404.
		s.invalid(w, "customer", "resource_missing", "No such customer: '%s'", cus)
		return
	}
	if s.portal.defaultConfig == "" {
		s.portal.defaultConfig = newID("bpc_", 24)
	}
	config, defaultReturn := s.portal.defaultConfig, ""
	if c := form.Get("configuration"); c != "" {
		d, ok := s.portal.configs[c]
		if !ok {
			s.invalid(w, "configuration", "resource_missing", "No such configuration: '%s'", c)
			return
		}
		config, defaultReturn = c, d
	} else if d, ok := s.portal.configs[config]; ok {
		defaultReturn = d
	}
	ret := form.Get("return_url")
	if ret == "" {
		ret = defaultReturn
	}
	if ret == "" {
		s.invalid(w, "return_url", "parameter_missing",
			"You must provide a return_url, or set a default return URL (default_return_url) on the portal configuration.")
		return
	}
	if u, err := url.Parse(ret); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		s.invalid(w, "return_url", "url_invalid", "Not a valid URL")
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	id := newID("bps_", 24)
	p := &PortalSession{
		ID: id, CustomerID: cus, ReturnURL: ret, Configuration: config,
		Locale: form.Get("locale"), FlowType: form.Get("flow_data[type]"),
		URL:     scheme + "://" + r.Host + portalSessionPath + id,
		Created: s.now(),
	}
	s.portal.sessions = append(s.portal.sessions, p)
	writeJSON(w, http.StatusOK, renderPortalSession(p, form.Get("on_behalf_of")))
}

// renderPortalSession is Stripe's billing_portal.session object (API
// version 2023-10-16).
func renderPortalSession(p *PortalSession, onBehalfOf string) fixtures.Map {
	var flow any
	if p.FlowType != "" {
		flow = fixtures.Map{"type": p.FlowType}
	}
	return fixtures.Map{
		"id":            p.ID,
		"object":        "billing_portal.session",
		"configuration": p.Configuration,
		"created":       p.Created.Unix(),
		"customer":      p.CustomerID,
		"flow":          flow,
		"livemode":      false,
		"locale":        orNil(p.Locale),
		"on_behalf_of":  orNil(onBehalfOf),
		"return_url":    p.ReturnURL,
		"url":           p.URL,
	}
}

// portalPage stands in for Stripe's hosted portal at a session's URL: no
// API key (the customer's browser comes here), a small page naming the
// customer and the way back, and the visit counted.
func (s *Server) portalPage(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, portalSessionPath)
	s.mu.Lock()
	var found *PortalSession
	for _, p := range s.portal.sessions {
		if p.ID == id {
			found = p
		}
	}
	var body string
	if found != nil && r.Method == http.MethodGet {
		found.Visits++
		body = fmt.Sprintf("<!doctype html><title>Billing portal</title><h1>Billing portal (fake)</h1><p>Customer %s</p><p><a href=\"%s\">Return</a></p>\n",
			html.EscapeString(found.CustomerID), html.EscapeString(found.ReturnURL))
	}
	s.mu.Unlock()
	if found == nil || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(body))
}
