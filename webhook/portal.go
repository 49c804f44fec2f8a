package webhook

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/payflow/payflow/internal/portallink"
)

// PortalPath is where the billing portal links of dunning emails point
// (<PAYFLOW_PUBLIC_URL>/billing/portal/<token>); served only when Server.Portal
// is set.
const PortalPath = portallink.PathPrefix + ":token"

// DefaultPortalTimeout bounds the wait for Stripe while the customer's
// browser waits for the redirect.
const DefaultPortalTimeout = 10 * time.Second

// PortalSessions opens Stripe customer portal sessions. The receiver does
// not use Stripe's API client itself: cmd hands it one (activities.StripeAPI,
// configured as the rest of payflow's Stripe calls). An implementation
// wraps portallink.ErrUnknownCustomer when Stripe does not know the
// customer.
type PortalSessions interface {
	CreatePortalSession(ctx context.Context, customerID, returnURL, configuration string) (portallink.Session, error)
}

// Portal turns a signed link from an email into a Stripe customer portal
// session, created on the click: Stripe's sessions are short-lived and
// expire if not visited, so an email cannot carry one.
type Portal struct {
	Signer        *portallink.Signer
	Sessions      PortalSessions
	ReturnURL     string // STRIPE_BILLING_PORTAL_RETURN_URL
	Configuration string // STRIPE_BILLING_PORTAL_CONFIGURATION; "": the account's default
	Timeout       time.Duration
	Now           func() time.Time // for tests; nil: time.Now
}

// Outcomes of GET /billing/portal/:token, the outcome label of
// payflow_portal_links_total.
const (
	PortalRedirected        = "redirected"         // 303 to a new portal session
	PortalChecked           = "checked"            // HEAD of a valid link (a link scanner): no session opened
	PortalExpired           = "expired"            // 410: a genuine link past its lifetime
	PortalBadSignature      = "bad_signature"      // 404: not signed with PAYFLOW_LINK_SECRET (tampered, forged, or an old secret)
	PortalMalformed         = "malformed"          // 404: not a token at all
	PortalUnknownCustomer   = "unknown_customer"   // 410: Stripe no longer knows the customer
	PortalStripeUnavailable = "stripe_unavailable" // 503: Stripe unreachable, slow, or refusing the request
)

// The pages a customer sees when no portal opens: short, and saying
// nothing of why a link failed beyond what the customer can act on.
var (
	pageExpired = portalPageText{"This link has expired",
		"For your security, billing links work for a limited time. Please use the link in our most recent email, or contact us."}
	pageInvalid = portalPageText{"This link is not valid",
		"Please check that you opened the whole link from our email, or contact us."}
	pageGone = portalPageText{"This link is no longer valid",
		"Please contact us to update your billing details."}
	pageUnavailable = portalPageText{"The billing portal is not available right now",
		"Please try again in a few minutes."}
)

type portalPageText struct{ title, text string }

func (s *Server) countPortal(outcome string) {
	if s.Metrics != nil && s.Metrics.PortalLinks != nil {
		s.Metrics.PortalLinks.WithLabelValues(outcome).Inc()
	}
}

// portal serves GET (and HEAD) /billing/portal/:token. Nothing it logs or
// answers contains the token, the secret or the session URL.
func (s *Server) portal(c *fiber.Ctx) error {
	p := s.Portal
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	// The answer is for this click only: never cached, and the link (a
	// bearer credential until it expires) never sent on as a Referer.
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderXRobotsTag, "noindex")
	customerID, _, err := p.Signer.Verify(c.Params("token"), now())
	if err != nil {
		switch {
		case errors.Is(err, portallink.ErrExpired):
			s.countPortal(PortalExpired)
			s.log().Info("billing portal link refused", "reason", PortalExpired)
			return portalPage(c, fiber.StatusGone, pageExpired)
		case errors.Is(err, portallink.ErrSignature):
			s.countPortal(PortalBadSignature)
			s.log().Warn("billing portal link refused", "reason", PortalBadSignature)
		default:
			s.countPortal(PortalMalformed)
			s.log().Info("billing portal link refused", "reason", PortalMalformed)
		}
		return portalPage(c, fiber.StatusNotFound, pageInvalid)
	}
	log := s.log().With("customer_id", customerID)
	if c.Method() == fiber.MethodHead {
		// Mail scanners and link checkers probe links; a session is
		// opened for a real visit only.
		s.countPortal(PortalChecked)
		return c.SendStatus(fiber.StatusOK)
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultPortalTimeout
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), timeout)
	defer cancel()
	sess, err := p.Sessions.CreatePortalSession(ctx, customerID, p.ReturnURL, p.Configuration)
	if errors.Is(err, portallink.ErrUnknownCustomer) {
		s.countPortal(PortalUnknownCustomer)
		log.Warn("billing portal link for a customer Stripe does not know")
		return portalPage(c, fiber.StatusGone, pageGone)
	}
	if err == nil && !absoluteHTTP(sess.URL) {
		err = errors.New("stripe answered a portal session without an http(s) URL")
	}
	if err != nil {
		s.countPortal(PortalStripeUnavailable)
		log.Error("billing portal session not opened", "error", err)
		c.Set(fiber.HeaderRetryAfter, "30")
		return portalPage(c, fiber.StatusServiceUnavailable, pageUnavailable)
	}
	s.countPortal(PortalRedirected)
	log.Info("billing portal session opened", "session_id", sess.ID)
	return c.Redirect(sess.URL, fiber.StatusSeeOther)
}

func absoluteHTTP(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "https" || p.Scheme == "http") && p.Host != ""
}

// portalPage answers a short human page; its words are fixed (no input is
// echoed).
func portalPage(c *fiber.Ctx, status int, page portalPageText) error {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).SendString("<!doctype html>\n<html lang=\"en\">\n<meta charset=\"utf-8\">\n" +
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" + page.title + "</title>\n" +
		"<h1>" + page.title + "</h1>\n<p>" + page.text + "</p>\n</html>\n")
}
