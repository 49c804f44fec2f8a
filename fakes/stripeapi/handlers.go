package stripeapi

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/payflow/payflow/fixtures"
)

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, ok := s.customers[s.key(id)]
	if !ok {
		s.missing(w, "customer", id)
		return
	}
	writeJSON(w, http.StatusOK, render("customer", fixtures.Options{CustomerID: id, Email: c.email, NoEmail: c.email == "", Created: c.created}, nil))
}

func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request) {
	if inv := s.invoice(w, r); inv != nil {
		writeJSON(w, http.StatusOK, renderInvoice(inv))
	}
}

// invoice looks up the path's invoice, writing the 404 when it is missing.
func (s *Server) invoice(w http.ResponseWriter, r *http.Request) *Invoice {
	id := r.PathValue("id")
	inv, ok := s.invoices[s.key(id)]
	if !ok {
		s.missing(w, "invoice", id)
		return nil
	}
	if p := unknownParam(r.Form, "expand"); r.Method == http.MethodGet && p != "" {
		s.invalid(w, p, "parameter_unknown", "Received unknown parameter: %s", p)
		return nil
	}
	return inv
}

func (s *Server) payInvoice(w http.ResponseWriter, r *http.Request) {
	inv := s.invoice(w, r)
	if inv == nil {
		return
	}
	if p := unknownParam(r.Form, "forgive", "mandate", "off_session", "paid_out_of_band", "payment_method", "source", "expand"); p != "" {
		s.invalid(w, p, "parameter_unknown", "Received unknown parameter: %s", p)
		return
	}
	outOfBand, ok := s.boolParam(w, r.Form, "paid_out_of_band")
	if !ok {
		return
	}
	switch inv.Status {
	case "paid":
		s.invalid(w, "", "", "Invoice is already paid")
		return
	case "void":
		s.invalid(w, "", "", "This invoice is void and can no longer be paid.")
		return
	case "draft": // paying a draft finalizes it first
		inv.Status = "open"
		def(&inv.PaymentIntentID, newID("pi_", 24))
	}
	now := s.now()
	if outOfBand {
		inv.Status, inv.PaidOutOfBand, inv.PaidAt = "paid", true, now
		writeJSON(w, http.StatusOK, renderInvoice(inv))
		return
	}

	k := s.key(inv.ID)
	s.payAttempts[k]++
	outcome := PaySucceeds
	if q := s.scripts[k]; len(q) > 0 {
		outcome, s.scripts[k] = q[0], q[1:]
	}
	def(&inv.PaymentIntentID, newID("pi_", 24))
	inv.ChargeID = newID("ch_", 24)
	if inv.AttemptCount == 0 { // manual attempts after the first do not count
		inv.AttemptCount = 1
	}
	if outcome.Fail {
		def(&outcome.DeclineCode, "insufficient_funds")
		code, msg := fixtures.DeclineMessage(outcome.DeclineCode)
		def(&outcome.Code, code)
		def(&outcome.Message, msg)
		inv.DeclineCode = outcome.DeclineCode
		s.fail(w, "", http.StatusPaymentRequired, apiError{Type: "card_error", Code: outcome.Code,
			DeclineCode: outcome.DeclineCode, Message: outcome.Message, Charge: inv.ChargeID})
		return
	}
	inv.Status, inv.PaidAt, inv.DeclineCode = "paid", now, ""
	if sub := s.subs[s.key(inv.SubscriptionID)]; sub != nil && slices.Contains([]string{"past_due", "unpaid", "incomplete"}, sub.Status) {
		sub.Status = "active" // paying the open invoice brings the subscription back
	}
	writeJSON(w, http.StatusOK, renderInvoice(inv))
}

func (s *Server) markUncollectible(w http.ResponseWriter, r *http.Request) {
	inv := s.invoice(w, r)
	if inv == nil {
		return
	}
	if p := unknownParam(r.Form, "expand"); p != "" {
		s.invalid(w, p, "parameter_unknown", "Received unknown parameter: %s", p)
		return
	}
	switch inv.Status {
	case "open":
		inv.Status, inv.MarkedUncollectibleAt = "uncollectible", s.now()
	case "uncollectible":
	default:
		s.invalid(w, "", "", "You can only mark an open invoice as uncollectible; this invoice is %s.", inv.Status)
		return
	}
	writeJSON(w, http.StatusOK, renderInvoice(inv))
}

func renderInvoice(inv *Invoice) fixtures.Map {
	m := render("invoice", fixtures.Options{
		InvoiceID: inv.ID, CustomerID: inv.CustomerID, Email: inv.CustomerEmail, NoEmail: inv.CustomerEmail == "",
		SubscriptionID: inv.SubscriptionID, PaymentIntentID: inv.PaymentIntentID, ChargeID: inv.ChargeID,
		ProductID: inv.ProductID, PriceID: inv.PriceID, Amount: inv.Amount, Currency: inv.Currency,
		Created: inv.Created, Status: inv.Status, AttemptCount: inv.AttemptCount, BillingReason: inv.BillingReason,
		CurrentPeriodEnd: inv.PeriodEnd,
	}, fixtures.Map{
		"subscription":     orNil(inv.SubscriptionID),
		"payment_intent":   orNil(inv.PaymentIntentID),
		"charge":           orNil(inv.ChargeID),
		"paid_out_of_band": inv.PaidOutOfBand,
	})
	if inv.HostedInvoiceURL != "" {
		m["hosted_invoice_url"] = inv.HostedInvoiceURL
	}
	if inv.SubscriptionID == "" {
		m["subscription_details"] = nil
	}
	st := m["status_transitions"].(fixtures.Map)
	if !inv.PaidAt.IsZero() {
		st["paid_at"] = inv.PaidAt.Unix()
	}
	if !inv.MarkedUncollectibleAt.IsZero() {
		st["marked_uncollectible_at"] = inv.MarkedUncollectibleAt.Unix()
	}
	renderCollection(m, inv)
	return m
}

func (s *Server) subscription(w http.ResponseWriter, r *http.Request) *Subscription {
	id := r.PathValue("id")
	sub, ok := s.subs[s.key(id)]
	if !ok {
		s.missing(w, "subscription", id)
	}
	return sub
}

func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request) {
	if sub := s.subscription(w, r); sub != nil {
		writeJSON(w, http.StatusOK, renderSubscription(sub))
	}
}

var feedbacks = []string{"customer_service", "low_quality", "missing_features", "other", "switched_service", "too_complex", "too_expensive", "unused"}

// cancellationDetails applies cancellation_details[comment|feedback].
func (s *Server) cancellationDetails(w http.ResponseWriter, form url.Values, sub *Subscription) bool {
	if f, ok := form["cancellation_details[feedback]"]; ok && f[0] != "" && !slices.Contains(feedbacks, f[0]) {
		s.invalid(w, "cancellation_details[feedback]", "", "Invalid cancellation_details[feedback]: must be one of %s", strings.Join(feedbacks, ", "))
		return false
	}
	if c, ok := form["cancellation_details[comment]"]; ok {
		sub.CancellationComment = c[0]
	}
	if f, ok := form["cancellation_details[feedback]"]; ok {
		sub.CancellationFeedback = f[0]
	}
	return true
}

func (s *Server) cancelSubscription(w http.ResponseWriter, r *http.Request) {
	sub := s.subscription(w, r)
	if sub == nil {
		return
	}
	if p := unknownParam(r.Form, "invoice_now", "prorate", "cancellation_details[comment]", "cancellation_details[feedback]", "expand"); p != "" {
		s.invalid(w, p, "parameter_unknown", "Received unknown parameter: %s", p)
		return
	}
	if sub.Status == "canceled" {
		if s.strictCancel {
			s.missing(w, "subscription", sub.ID) // Stripe treats a canceled subscription as gone
			return
		}
		writeJSON(w, http.StatusOK, renderSubscription(sub))
		return
	}
	if !s.cancellationDetails(w, r.Form, sub) {
		return
	}
	now := s.now()
	sub.Status, sub.CanceledAt, sub.EndedAt = "canceled", now, now
	sub.CancelAtPeriodEnd, sub.CancelAt = false, time.Time{}
	sub.CancellationReason = "cancellation_requested"
	writeJSON(w, http.StatusOK, renderSubscription(sub))
}

func (s *Server) updateSubscription(w http.ResponseWriter, r *http.Request) {
	sub := s.subscription(w, r)
	if sub == nil {
		return
	}
	form := r.Form
	if p := unknownParam(form, "cancel_at_period_end", "cancel_at", "metadata", "pause_collection",
		"pause_collection[behavior]", "pause_collection[resumes_at]", "cancellation_details[comment]",
		"cancellation_details[feedback]", "proration_behavior", "expand"); p != "" {
		s.invalid(w, p, "parameter_unknown", "Received unknown parameter: %s", p)
		return
	}
	if sub.Status == "canceled" {
		if p := unknownParam(form, "metadata", "cancellation_details[comment]", "cancellation_details[feedback]", "expand"); p != "" {
			s.invalid(w, p, "", "A canceled subscription can only update its cancellation_details and metadata.")
			return
		}
	}
	// Validate everything before changing anything.
	cancelAtPeriodEnd, ok := s.boolParam(w, form, "cancel_at_period_end")
	if !ok {
		return
	}
	var cancelAt time.Time
	if v := form.Get("cancel_at"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			s.invalid(w, "cancel_at", "parameter_invalid_integer", "Invalid integer: %s", v)
			return
		}
		cancelAt = time.Unix(n, 0)
	}
	if b := form.Get("pause_collection[behavior]"); b != "" && !slices.Contains([]string{"keep_as_draft", "mark_uncollectible", "void"}, b) {
		s.invalid(w, "pause_collection[behavior]", "", "Invalid pause_collection[behavior]: must be one of keep_as_draft, mark_uncollectible, or void")
		return
	}
	if pb := form.Get("proration_behavior"); pb != "" && !slices.Contains([]string{"always_invoice", "create_prorations", "none"}, pb) {
		s.invalid(w, "proration_behavior", "", "Invalid proration_behavior: must be one of always_invoice, create_prorations, or none")
		return
	}
	if !s.cancellationDetails(w, form, sub) {
		return
	}

	now := s.now()
	if form.Has("cancel_at_period_end") {
		sub.CancelAtPeriodEnd = cancelAtPeriodEnd
		if cancelAtPeriodEnd {
			sub.CancelAt, sub.CanceledAt, sub.CancellationReason = sub.CurrentPeriodEnd, now, "cancellation_requested"
		} else {
			sub.CancelAt, sub.CanceledAt, sub.CancellationReason = time.Time{}, time.Time{}, ""
		}
	}
	if form.Has("cancel_at") {
		if cancelAt.IsZero() {
			sub.CancelAt, sub.CanceledAt, sub.CancellationReason = time.Time{}, time.Time{}, ""
		} else {
			sub.CancelAt, sub.CanceledAt, sub.CancellationReason = cancelAt, now, "cancellation_requested"
		}
	}
	if form.Has("pause_collection") && form.Get("pause_collection") == "" {
		sub.PauseCollection = ""
	}
	if b := form.Get("pause_collection[behavior]"); b != "" {
		sub.PauseCollection = b
	}
	if form.Has("metadata") && form.Get("metadata") == "" {
		clear(sub.Metadata)
	}
	for k, v := range form {
		if name, ok := strings.CutPrefix(k, "metadata["); ok {
			name = strings.TrimSuffix(name, "]")
			if v[0] == "" {
				delete(sub.Metadata, name)
			} else {
				sub.Metadata[name] = v[0]
			}
		}
	}
	writeJSON(w, http.StatusOK, renderSubscription(sub))
}

func renderSubscription(sub *Subscription) fixtures.Map {
	meta := fixtures.Map{}
	for k, v := range sub.Metadata {
		meta[k] = v
	}
	var pause any
	if sub.PauseCollection != "" {
		pause = fixtures.Map{"behavior": sub.PauseCollection, "resumes_at": nil}
	}
	m := render("subscription", fixtures.Options{
		SubscriptionID: sub.ID, CustomerID: sub.CustomerID, InvoiceID: sub.LatestInvoiceID,
		ProductID: sub.ProductID, PriceID: sub.PriceID, Amount: sub.Amount, Currency: sub.Currency,
		Created: sub.Created, Status: sub.Status, CurrentPeriodEnd: sub.CurrentPeriodEnd,
		CancelAtPeriodEnd: sub.CancelAtPeriodEnd,
	}, fixtures.Map{
		"latest_invoice": orNil(sub.LatestInvoiceID),
		"cancel_at":      unixOrNil(sub.CancelAt),
		"canceled_at":    unixOrNil(sub.CanceledAt),
		"ended_at":       unixOrNil(sub.EndedAt),
		"cancellation_details": fixtures.Map{
			"comment":  orNil(sub.CancellationComment),
			"feedback": orNil(sub.CancellationFeedback),
			"reason":   orNil(sub.CancellationReason),
		},
		"metadata":         meta,
		"pause_collection": pause,
	})
	if !sub.TrialEnd.IsZero() {
		m["trial_end"] = sub.TrialEnd.Unix()
	}
	return m
}

// boolParam parses an optional boolean parameter, writing Stripe's error
// for a malformed one.
func (s *Server) boolParam(w http.ResponseWriter, form url.Values, name string) (value, ok bool) {
	v := form.Get(name)
	switch v {
	case "", "false":
		return false, true
	case "true":
		return true, true
	}
	s.invalid(w, name, "", "Invalid boolean: %s", v)
	return false, false
}

func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func unixOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}
