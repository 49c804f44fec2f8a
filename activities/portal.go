package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/stripe/stripe-go/v76"

	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/internal/portallink"
)

// portalPurposes are the emails that ask the customer to act on a failed
// payment: they carry a billing portal link (portal_url) when PortalLinks
// is configured, and billing.Render shows it.
var portalPurposes = map[string]bool{
	billing.PurposeDunningFirst:       true,
	billing.PurposeDunningReminder:    true,
	billing.PurposeDunningHardDecline: true,
	billing.PurposeActionRequired:     true,
	billing.PurposeSuspended:          true,
	billing.PurposeDunningFinal:       true,
}

// PortalLinkPurposes lists the email purposes that carry a billing portal
// link (for tests and documentation).
func PortalLinkPurposes() []string {
	out := make([]string, 0, len(portalPurposes))
	for _, p := range billing.Purposes() {
		if portalPurposes[p] {
			out = append(out, p)
		}
	}
	return out
}

// withPortalLink returns the email's vars with portal_url, a fresh signed
// link to the customer's billing portal, when links are configured and the
// email is a dunning email to a customer. The link is made here, in the
// activity, so it is never in the workflow's state or history; the
// rendered body (in the email ledger) has it. A customer ID no link can
// name goes out without one: the email matters more than the link.
func (a *Activities) withPortalLink(ctx context.Context, req billing.SendEmail) map[string]string {
	if a.PortalLinks == nil || req.ToOperator || req.CustomerID == "" || !portalPurposes[req.Purpose] {
		return req.Vars
	}
	if acct := AccountOf(ctx); acct != "" {
		// A link names the customer only, and the receiver opens the
		// session on the platform with the platform's portal
		// configuration: a connected account's customer is unknown there.
		// The hosted invoice link, the account's own, stays.
		a.logger(ctx).Debug("no billing portal link in a connected account's email", "dedupe_key", req.DedupeKey, "account", acct)
		return req.Vars
	}
	link, err := a.PortalLinks.URL(req.CustomerID, a.now())
	if err != nil {
		a.logger(ctx).Warn("email goes out without a billing portal link", "dedupe_key", req.DedupeKey, "error", err)
		return req.Vars
	}
	vars := make(map[string]string, len(req.Vars)+1)
	for k, v := range req.Vars {
		vars[k] = v
	}
	vars["portal_url"] = link
	return vars
}

// CreatePortalSession opens a Stripe customer portal session
// (POST /v1/billing_portal/sessions) for the receiver's
// GET /billing/portal/<token>: the customer is sent to its URL at once, as
// Stripe asks (sessions are short-lived). configuration "" uses the
// account's default portal configuration. A customer Stripe does not know
// is portallink.ErrUnknownCustomer.
func (s *StripeAPI) CreatePortalSession(ctx context.Context, customerID, returnURL, configuration string) (portallink.Session, error) {
	p := &stripe.BillingPortalSessionParams{Customer: stripe.String(customerID), ReturnURL: stripe.String(returnURL)}
	if configuration != "" {
		p.Configuration = stripe.String(configuration)
	}
	prepare(ctx, &p.Params, "")
	sess, err := s.api.BillingPortalSessions.New(p)
	if err != nil {
		var se *stripe.Error
		if errors.As(err, &se) && se.Code == stripe.ErrorCodeResourceMissing && se.Param == "customer" {
			return portallink.Session{}, fmt.Errorf("%w: %s", portallink.ErrUnknownCustomer, customerID)
		}
		return portallink.Session{}, fmt.Errorf("stripe create billing portal session for %s: %w", customerID, err)
	}
	return portallink.Session{ID: sess.ID, URL: sess.URL}, nil
}
