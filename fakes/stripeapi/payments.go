package stripeapi

import (
	"net/http"
	"time"

	"github.com/payflow/payflow/fixtures"
)

// Charge is the seed and the state of one charge of a one-off payment (an
// invoice's charges need no seed: GET /v1/charges/{id} finds the charge an
// invoice records). Zero fields get defaults on PutCharge: status
// "succeeded", amount 2000, currency "usd", created now, a payment intent.
type Charge struct {
	Account                                    string // the connected account ("" the platform)
	ID, CustomerID, PaymentIntentID, InvoiceID string
	Amount, AmountRefunded                     int64
	Currency, Status                           string
	DeclineCode                                string // a failed charge's decline (outcome.reason)
	Created                                    time.Time
}

// PutCharge adds or replaces a charge, filling defaults.
func (s *Server) PutCharge(c Charge) {
	s.mu.Lock()
	defer s.mu.Unlock()
	def(&c.ID, newID("ch_", 24))
	def(&c.PaymentIntentID, newID("pi_", 24))
	def(&c.Status, "succeeded")
	def(&c.Currency, "usd")
	if c.Amount == 0 {
		c.Amount = 2000
	}
	if c.Created.IsZero() {
		c.Created = s.now()
	}
	if s.charges == nil {
		s.charges = map[string]*Charge{}
	}
	s.charges[scoped(c.Account, c.ID)] = &c
}

// findCharge returns the seeded charge, else the charge an invoice
// records (its last payment attempt: succeeded once the invoice is paid).
func (s *Server) findCharge(id string) (Charge, bool) {
	if c, ok := s.charges[s.key(id)]; ok {
		return *c, true
	}
	for _, inv := range s.invoices {
		if inv.ChargeID == id && inv.Account == s.curAccount {
			status := "failed"
			if inv.Status == "paid" {
				status = "succeeded"
			}
			return Charge{ID: id, CustomerID: inv.CustomerID, PaymentIntentID: inv.PaymentIntentID, InvoiceID: inv.ID,
				Amount: inv.Amount, Currency: inv.Currency, Status: status, Created: inv.Created, DeclineCode: inv.DeclineCode}, true
		}
	}
	return Charge{}, false
}

func (s *Server) getCharge(w http.ResponseWriter, r *http.Request) {
	if p := unknownParam(r.Form, "expand"); p != "" {
		s.invalid(w, p, "parameter_unknown", "Received unknown parameter: %s", p)
		return
	}
	id := r.PathValue("id")
	c, ok := s.findCharge(id)
	if !ok {
		s.missing(w, "charge", id)
		return
	}
	writeJSON(w, http.StatusOK, render("charge", fixtures.Options{ChargeID: c.ID, PaymentIntentID: c.PaymentIntentID,
		CustomerID: c.CustomerID, Guest: c.CustomerID == "", InvoiceID: c.InvoiceID, Amount: c.Amount,
		AmountRefunded: c.AmountRefunded, Currency: c.Currency, Status: c.Status, Created: c.Created, DeclineCode: c.DeclineCode},
		fixtures.Map{"invoice": orNil(c.InvoiceID), "payment_intent": orNil(c.PaymentIntentID)}))
}

// getPaymentIntent renders the payment intent of a seeded charge or of an
// invoice: succeeded when its charge succeeded (the invoice is paid), else
// waiting for a payment method, with the last attempt's decline (if known)
// in last_payment_error.
func (s *Server) getPaymentIntent(w http.ResponseWriter, r *http.Request) {
	if p := unknownParam(r.Form, "expand", "client_secret"); p != "" {
		s.invalid(w, p, "parameter_unknown", "Received unknown parameter: %s", p)
		return
	}
	id := r.PathValue("id")
	var c Charge
	found := false
	for _, ch := range s.charges {
		if ch.PaymentIntentID == id && ch.Account == s.curAccount {
			c, found = *ch, true
			break
		}
	}
	for _, inv := range s.invoices {
		if !found && inv.PaymentIntentID == id && inv.Account == s.curAccount {
			c, found = Charge{ID: inv.ChargeID, PaymentIntentID: id, CustomerID: inv.CustomerID, InvoiceID: inv.ID,
				Amount: inv.Amount, Currency: inv.Currency, Status: "failed", Created: inv.Created, DeclineCode: inv.DeclineCode}, true
			if inv.Status == "paid" {
				c.Status = "succeeded"
			}
		}
	}
	if !found {
		s.missing(w, "payment_intent", id)
		return
	}
	status := "succeeded"
	if c.Status != "succeeded" {
		status = "requires_payment_method"
	}
	writeJSON(w, http.StatusOK, render("payment_intent", fixtures.Options{PaymentIntentID: id, ChargeID: c.ID,
		CustomerID: c.CustomerID, Guest: c.CustomerID == "", InvoiceID: c.InvoiceID, Amount: c.Amount,
		Currency: c.Currency, Status: status, Created: c.Created, DeclineCode: c.DeclineCode},
		fixtures.Map{"invoice": orNil(c.InvoiceID), "latest_charge": orNil(c.ID)}))
}
