package billing

import (
	"cmp"
	"fmt"
	"slices"
)

// Invoice statuses (docs.stripe.com/invoicing/integration/workflow-transitions):
// draft → open → paid | void | uncollectible; uncollectible → paid | void.
const (
	InvoiceDraft         = "draft"
	InvoiceOpen          = "open"
	InvoicePaid          = "paid"
	InvoiceVoid          = "void"
	InvoiceUncollectible = "uncollectible"
)

// Invoice is one invoice of the subscription, with its own state.
type Invoice struct {
	ID               string      `json:"id"`
	Status           string      `json:"status"`
	AmountDue        int64       `json:"amount_due"`
	AmountPaid       int64       `json:"amount_paid"`
	AmountRefunded   int64       `json:"amount_refunded,omitempty"`
	FullyRefunded    bool        `json:"fully_refunded,omitempty"`
	Currency         string      `json:"currency,omitempty"`
	AttemptCount     int64       `json:"attempt_count,omitempty"`
	BillingReason    string      `json:"billing_reason,omitempty"`
	CollectionMethod string      `json:"collection_method,omitempty"`
	HostedURL        string      `json:"hosted_invoice_url,omitempty"`
	InvoicePDF       string      `json:"invoice_pdf,omitempty"`
	PeriodEnd        int64       `json:"period_end,omitempty"`
	ChargeID         string      `json:"charge,omitempty"`
	StripeCreated    int64       `json:"stripe_created"` // newest event applied to it
	Dispute          *DisputeRef `json:"dispute,omitempty"`
}

// invoiceRank orders the statuses: an invoice never moves back.
func invoiceRank(status string) int {
	switch status {
	case InvoiceDraft:
		return 1
	case InvoiceOpen:
		return 2
	case InvoiceUncollectible:
		return 3
	case InvoicePaid, InvoiceVoid:
		return 4
	}
	return 0
}

// invoiceStatusOf is the status an invoice event implies.
func invoiceStatusOf(ev Event) string {
	switch ev.Type {
	case "invoice.paid", "invoice.payment_succeeded":
		return InvoicePaid
	case "invoice.payment_failed", "invoice.payment_action_required", "invoice.finalized":
		return InvoiceOpen
	case "invoice.voided":
		return InvoiceVoid
	case "invoice.marked_uncollectible":
		return InvoiceUncollectible
	}
	return ev.Status
}

// invoice returns the index of invoice id, adding it (sorted by ID).
func (s *Subscription) invoice(id string) int {
	i, found := slices.BinarySearchFunc(s.Invoices, id, func(inv Invoice, id string) int { return cmp.Compare(inv.ID, id) })
	if !found {
		s.Invoices = slices.Insert(s.Invoices, i, Invoice{ID: id})
	}
	return i
}

// Invoice returns the invoice with id.
func (s Subscription) Invoice(id string) (Invoice, bool) {
	for _, inv := range s.Invoices {
		if inv.ID == id {
			return inv, true
		}
	}
	return Invoice{}, false
}

// boundInvoices drops the oldest settled invoices beyond MaxInvoices.
func (s *Subscription) boundInvoices() {
	for len(s.Invoices) > MaxInvoices {
		drop := -1
		for i, inv := range s.Invoices {
			settled := inv.Status == InvoicePaid || inv.Status == InvoiceVoid
			if settled && s.campaign(inv.ID) == nil && (drop < 0 || inv.StripeCreated < s.Invoices[drop].StripeCreated) {
				drop = i
			}
		}
		if drop < 0 {
			return
		}
		s.Invoices = slices.Delete(s.Invoices, drop, drop+1)
	}
}

func (st *subStep) recordInvoice(before Invoice, i int) {
	if inv := st.s.Invoices[i]; !inv.equal(before) {
		inv.Dispute = inv.Dispute.clone()
		st.emit(RecordInvoice{SubscriptionID: st.s.ID, CustomerID: st.s.CustomerID, Invoice: inv})
	}
}

func (inv Invoice) equal(o Invoice) bool {
	a, b := inv, o
	a.Dispute, b.Dispute = nil, nil
	if a != b || (inv.Dispute == nil) != (o.Dispute == nil) {
		return false
	}
	return inv.Dispute == nil || *inv.Dispute == *o.Dispute
}

// invoiceEvent applies invoice.*: the invoice's own state, then what its
// transition means (receipt, recovery, dunning, end of a campaign).
func (st *subStep) invoiceEvent(ev Event) {
	s := st.s
	if ev.InvoiceID == "" {
		st.note("%s without an invoice ID", ev.Type)
		return
	}
	i := s.invoice(ev.InvoiceID)
	before := s.Invoices[i]
	inv := &s.Invoices[i]
	if ev.Created >= inv.StripeCreated {
		inv.AmountDue = cmp.Or(ev.AmountDue, inv.AmountDue)
		inv.Currency = firstNonEmpty(ev.Currency, inv.Currency)
		inv.BillingReason = firstNonEmpty(ev.BillingReason, inv.BillingReason)
		inv.CollectionMethod = firstNonEmpty(ev.CollectionMethod, inv.CollectionMethod)
		inv.HostedURL = firstNonEmpty(ev.HostedInvoiceURL, inv.HostedURL)
		inv.InvoicePDF = firstNonEmpty(ev.InvoicePDF, inv.InvoicePDF)
		inv.PeriodEnd = cmp.Or(ev.PeriodEnd, inv.PeriodEnd)
		inv.StripeCreated = ev.Created
	}
	inv.AmountPaid = max(inv.AmountPaid, ev.AmountPaid)
	inv.AttemptCount = max(inv.AttemptCount, ev.AttemptCount)
	inv.ChargeID = firstNonEmpty(inv.ChargeID, ev.ChargeID)
	if to := invoiceStatusOf(ev); invoiceRank(to) > invoiceRank(inv.Status) {
		inv.Status = to
	}
	id, status := inv.ID, inv.Status
	st.recordInvoice(before, i)
	switch {
	case status != before.Status && status == InvoicePaid:
		st.invoicePaid(id)
	case status != before.Status && (status == InvoiceVoid || status == InvoiceUncollectible) && st.stripeSettled(id, status):
	case status != before.Status && status == InvoiceVoid:
		st.endCampaign(id, "invoice voided")
	case status != before.Status && status == InvoiceUncollectible && s.campaign(id) != nil && s.campaign(id).Final:
		// The final action unpaid marked it (takeover.go): the campaign
		// stays, so access stays revoked until the invoice is paid.
		st.note("invoice %s marked uncollectible after the final action", id)
	case status != before.Status && status == InvoiceUncollectible:
		if st.endCampaign(id, "invoice marked uncollectible") {
			s.Unrecovered++
		}
	case status == InvoiceOpen && ev.Type == "invoice.payment_failed":
		st.failed(id, ev, false)
	case status == InvoiceOpen && ev.Type == "invoice.payment_action_required":
		st.failed(id, ev, true)
	default:
		st.note("%s: invoice %s %s", ev.Type, id, status)
	}
}

// invoicePaid follows an invoice reaching paid: its campaign (if any)
// recovers; otherwise a receipt quoting this invoice, unless nothing was
// charged (a trial's $0 invoice).
func (st *subStep) invoicePaid(id string) {
	s := st.s
	inv, _ := s.Invoice(id)
	vars := map[string]string{"invoice_id": id, "hosted_url": inv.HostedURL, "invoice_pdf": inv.InvoicePDF}
	setMoney(vars, "amount", "amount_minor", inv.AmountPaid, inv.Currency)
	setEmailUnix(vars, "period_end", inv.PeriodEnd)
	if c := s.campaign(id); c != nil {
		st.resumeAfterPayment(*c)
		st.endCampaign(id, "invoice paid")
		s.Recovered++
		st.email(id+"/recovered", PurposeRecovered, vars)
		return
	}
	if inv.AmountPaid <= 0 {
		st.note("invoice %s paid with nothing charged: no receipt", id)
		return
	}
	st.note("invoice %s paid (%s)", id, vars["amount"])
	st.email("invoice/"+id+"/receipt", PurposeInvoiceReceipt, vars)
}

// invoiceRefund applies charge.refunded for an invoice's charge: the
// refund is recorded against the invoice. A refund does not change the
// invoice's status (it stays paid) nor the subscription: Stripe does not
// cancel a subscription whose payment is refunded, so access keeps
// following the subscription's status; a merchant who wants the customer
// out cancels in Stripe (customer.subscription.deleted revokes).
func (st *subStep) invoiceRefund(ev Event) {
	s := st.s
	if ev.InvoiceID == "" {
		st.note("refund of charge %s without an invoice", ev.ChargeID)
		return
	}
	i := s.invoice(ev.InvoiceID)
	before := s.Invoices[i]
	inv := &s.Invoices[i]
	inv.ChargeID = firstNonEmpty(inv.ChargeID, ev.ChargeID)
	inv.Currency = firstNonEmpty(inv.Currency, ev.Currency)
	full := ev.Refunded || (ev.Amount > 0 && ev.AmountRefunded >= ev.Amount)
	if ev.AmountRefunded <= inv.AmountRefunded && (!full || inv.FullyRefunded) {
		st.note("refund of invoice %s already recorded", inv.ID)
		return
	}
	inv.AmountRefunded = max(inv.AmountRefunded, ev.AmountRefunded)
	inv.FullyRefunded = inv.FullyRefunded || full
	id, refunded, cur := inv.ID, inv.AmountRefunded, inv.Currency
	st.recordInvoice(before, i)
	st.emit(RecordRefund{Source: s.Source(), InvoiceID: id, ChargeID: ev.ChargeID, AmountRefunded: refunded,
		Currency: cur, Full: full, EventID: ev.ID, StripeCreated: ev.Created})
	st.note("invoice %s refunded %s (full: %v); access follows the subscription", id, FormatAmount(refunded, cur), full)
	if full && !before.FullyRefunded {
		vars := map[string]string{"invoice_id": id, "hosted_url": inv.HostedURL, "invoice_pdf": inv.InvoicePDF,
			"receipt_url": ev.ReceiptURL}
		setMoney(vars, "refunded", "refunded_minor", refunded, cur)
		st.email("invoice/"+id+"/refund", PurposeInvoiceRefund, vars)
	}
}

// invoiceDispute records a dispute of an invoice's charge on the invoice
// (forwarded by the dispute workflow). Access is not changed: like a
// refund, a dispute does not end the subscription in Stripe; the operator
// is alerted by the dispute workflow and decides.
func (st *subStep) invoiceDispute(ev Event) {
	s := st.s
	if ev.InvoiceID == "" {
		st.note("%s for charge %s without an invoice", ev.Type, ev.ChargeID)
		return
	}
	i := s.invoice(ev.InvoiceID)
	before := s.Invoices[i]
	inv := &s.Invoices[i]
	inv.Dispute = inv.Dispute.apply(ev)
	st.recordInvoice(before, i)
	st.note("%s: invoice %s dispute %s", ev.Type, inv.ID, inv.Dispute.Status)
}

// DisputeRef is what an order or invoice knows of a dispute of its charge.
type DisputeRef struct {
	ID              string `json:"id"`
	Status          string `json:"status,omitempty"` // Stripe's dispute status
	Created         int64  `json:"created,omitempty"`
	FundsWithdrawn  bool   `json:"funds_withdrawn,omitempty"`
	FundsReinstated bool   `json:"funds_reinstated,omitempty"`
}

func (d *DisputeRef) clone() *DisputeRef {
	if d == nil {
		return nil
	}
	c := *d
	return &c
}

// apply folds a dispute event in: a closed dispute never reopens, and an
// older status never replaces a newer one.
func (d *DisputeRef) apply(ev Event) *DisputeRef {
	out := d.clone()
	if out == nil {
		out = &DisputeRef{ID: ev.DisputeID}
	}
	switch ev.Type {
	case "charge.dispute.funds_withdrawn":
		out.FundsWithdrawn = true
	case "charge.dispute.funds_reinstated":
		out.FundsReinstated = true
	}
	if ev.Status != "" && !disputeClosed(out.Status) && (ev.Created >= out.Created || disputeClosed(ev.Status)) {
		out.Status = ev.Status
	}
	out.Created = max(out.Created, ev.Created)
	return out
}

func (d *DisputeRef) String() string {
	if d == nil {
		return "none"
	}
	return fmt.Sprintf("%s %s", d.ID, d.Status)
}
