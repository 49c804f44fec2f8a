package store

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
)

// CustomerView is the document `payflow inspect -json customer <cus>`
// prints (README, "Inspecting a customer"): snake_case keys, every ID key
// but an object's own `id` ending in _id, amounts in the currency's minor
// unit beside `currency`, times in RFC 3339 UTC (null when unset). Lists
// are never null. Access is one entry per product with the customer's
// effective access — granted if any source grants it, else suspended if
// any suspends it, else revoked (billing.EffectiveAccess) — and the
// sources it is folded from.
type CustomerView struct {
	Customer      CustomerJSON       `json:"customer"`
	Access        []ProductAccess    `json:"access"`
	Orders        []OrderJSON        `json:"orders"`
	Subscriptions []SubscriptionJSON `json:"subscriptions"`
	Invoices      []InvoiceJSON      `json:"invoices"`
	Refunds       []RefundJSON       `json:"refunds"`
	Disputes      []DisputeJSON      `json:"disputes"`
	Emails        []EmailJSON        `json:"emails"`
}

// CustomerJSON is the customer.
type CustomerJSON struct {
	ID        string     `json:"id"`
	Email     string     `json:"email"`
	UpdatedAt *time.Time `json:"updated_at"`
}

// ProductAccess is the customer's effective access to one product.
type ProductAccess struct {
	ProductID  string       `json:"product_id"`
	Status     string       `json:"status"`      // effective: granted, suspended or revoked
	ValidUntil *time.Time   `json:"valid_until"` // the latest end among the granting sources; null: no end, or not granted
	Sources    []SourceJSON `json:"sources"`     // sorted by source
}

// SourceJSON is what one source does to the product.
type SourceJSON struct {
	Source      string     `json:"source"` // order/<payment_intent> or subscription/<subscription>
	Status      string     `json:"status"`
	ValidUntil  *time.Time `json:"valid_until"`
	Reason      string     `json:"reason"`
	UpdatedAt   time.Time  `json:"updated_at"`
	GrantedAt   *time.Time `json:"granted_at"`
	SuspendedAt *time.Time `json:"suspended_at"`
	RevokedAt   *time.Time `json:"revoked_at"`
	// AccountID is the Stripe connected account (acct_…) whose workflow
	// wrote the row, "" for the platform's own.
	AccountID string `json:"account_id"`
}

// OrderJSON is one one-off purchase.
type OrderJSON struct {
	ID                string     `json:"id"`
	Status            string     `json:"status"`
	Products          []string   `json:"products"`
	Amount            int64      `json:"amount"`
	AmountRefunded    int64      `json:"amount_refunded"`
	Currency          string     `json:"currency"`
	Email             string     `json:"email"`
	PaymentIntentID   string     `json:"payment_intent_id"`
	CheckoutSessionID string     `json:"checkout_session_id"`
	ChargeID          string     `json:"charge_id"`
	FailureReason     string     `json:"failure_reason"`
	CreatedAt         time.Time  `json:"created_at"`
	FulfilledAt       *time.Time `json:"fulfilled_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
}

// SubscriptionJSON is one subscription.
type SubscriptionJSON struct {
	ID                string     `json:"id"`
	Status            string     `json:"status"`        // Stripe's
	DunningStage      string     `json:"dunning_stage"` // none, retrying, awaiting_customer, suspended, final
	Items             []ItemJSON `json:"items"`
	CurrentPeriodEnd  *time.Time `json:"current_period_end"`
	CancelAtPeriodEnd bool       `json:"cancel_at_period_end"`
	UpdatedAt         time.Time  `json:"updated_at"`
	// AccountID is the Stripe connected account (acct_…) the subscription
	// belongs to, "" for the platform's own: its workflow is
	// <account_id>/subscription/<id>.
	AccountID string `json:"account_id"`
}

// ItemJSON is one subscription item.
type ItemJSON struct {
	ID        string `json:"id"`
	PriceID   string `json:"price_id"`
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// InvoiceJSON is one invoice.
type InvoiceJSON struct {
	ID               string     `json:"id"`
	SubscriptionID   string     `json:"subscription_id"`
	Status           string     `json:"status"` // Stripe's
	AmountDue        int64      `json:"amount_due"`
	AmountPaid       int64      `json:"amount_paid"`
	AmountRefunded   int64      `json:"amount_refunded"`
	FullyRefunded    bool       `json:"fully_refunded"`
	Currency         string     `json:"currency"`
	AttemptCount     int64      `json:"attempt_count"`
	BillingReason    string     `json:"billing_reason"`
	CollectionMethod string     `json:"collection_method"`
	HostedInvoiceURL string     `json:"hosted_invoice_url"`
	PeriodEnd        *time.Time `json:"period_end"`
	ChargeID         string     `json:"charge_id"`
	PaymentIntentID  string     `json:"payment_intent_id"`
	DisputeID        string     `json:"dispute_id"`
	DisputeStatus    string     `json:"dispute_status"`
	UpdatedAt        time.Time  `json:"updated_at"`
}

// RefundJSON is the refunds of one charge.
type RefundJSON struct {
	Source         string    `json:"source"`
	InvoiceID      string    `json:"invoice_id"`
	ChargeID       string    `json:"charge_id"`
	AmountRefunded int64     `json:"amount_refunded"` // cumulative
	Currency       string    `json:"currency"`
	Full           bool      `json:"full"`
	EventID        string    `json:"event_id"` // the newest charge.refunded recorded
	UpdatedAt      time.Time `json:"updated_at"`
}

// DisputeJSON is one dispute.
type DisputeJSON struct {
	ID              string     `json:"id"`
	Status          string     `json:"status"` // Stripe's
	Reason          string     `json:"reason"`
	Amount          int64      `json:"amount"`
	Currency        string     `json:"currency"`
	ChargeID        string     `json:"charge_id"`
	PaymentIntentID string     `json:"payment_intent_id"`
	InvoiceID       string     `json:"invoice_id"`
	Owner           string     `json:"owner"` // order/<pi> or subscription/<sub>; "" when it paid for nothing payflow sells
	EvidenceDueBy   *time.Time `json:"evidence_due_by"`
	FundsWithdrawn  bool       `json:"funds_withdrawn"`
	FundsReinstated bool       `json:"funds_reinstated"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

// EmailJSON is one email of the ledger.
type EmailJSON struct {
	DedupeKey         string     `json:"dedupe_key"`
	Purpose           string     `json:"purpose"`
	To                string     `json:"to"`
	Status            string     `json:"status"` // pending, sent, outbox, failed
	Subject           string     `json:"subject"`
	Body              string     `json:"body"`
	ProviderMessageID string     `json:"provider_message_id"`
	CreatedAt         time.Time  `json:"created_at"`
	SentAt            *time.Time `json:"sent_at"`
}

// View builds the inspect document from a summary, folding the access
// rows into the effective access per product.
func View(s payflow.CustomerSummary) CustomerView {
	v := CustomerView{
		Customer: CustomerJSON{ID: s.Customer.ID, Email: s.Customer.Email, UpdatedAt: timeOrNil(s.Customer.UpdatedAt)},
		Access:   EffectiveAccess(s.Access),
		Orders:   []OrderJSON{}, Subscriptions: []SubscriptionJSON{}, Invoices: []InvoiceJSON{},
		Refunds: []RefundJSON{}, Disputes: []DisputeJSON{}, Emails: []EmailJSON{},
	}
	for _, o := range s.Orders {
		v.Orders = append(v.Orders, OrderJSON{ID: o.ID, Status: o.Status, Products: nonNil(o.Products), Amount: o.Amount,
			AmountRefunded: o.AmountRefunded, Currency: o.Currency, Email: o.Email, PaymentIntentID: o.PaymentIntent,
			CheckoutSessionID: o.CheckoutID, ChargeID: o.ChargeID, FailureReason: o.FailureReason,
			CreatedAt: o.CreatedAt, FulfilledAt: o.FulfilledAt, UpdatedAt: o.UpdatedAt})
	}
	for _, sub := range s.Subscriptions {
		items := []ItemJSON{}
		for _, it := range sub.Items {
			items = append(items, ItemJSON{ID: it.ID, PriceID: it.PriceID, ProductID: it.ProductID, Quantity: it.Quantity})
		}
		v.Subscriptions = append(v.Subscriptions, SubscriptionJSON{ID: sub.ID, Status: sub.Status, DunningStage: sub.DunningStage,
			Items: items, CurrentPeriodEnd: unixOrNil(sub.CurrentPeriodEnd), CancelAtPeriodEnd: sub.CancelAtPeriodEnd,
			UpdatedAt: sub.UpdatedAt, AccountID: sub.Account})
	}
	for _, i := range s.Invoices {
		v.Invoices = append(v.Invoices, InvoiceJSON{ID: i.ID, SubscriptionID: i.SubscriptionID, Status: i.Status,
			AmountDue: i.AmountDue, AmountPaid: i.AmountPaid, AmountRefunded: i.AmountRefunded, FullyRefunded: i.FullyRefunded,
			Currency: i.Currency, AttemptCount: i.AttemptCount, BillingReason: i.BillingReason,
			CollectionMethod: i.CollectionMethod, HostedInvoiceURL: i.HostedURL, PeriodEnd: unixOrNil(i.PeriodEnd),
			ChargeID: i.ChargeID, PaymentIntentID: i.PaymentIntent, DisputeID: i.DisputeID, DisputeStatus: i.DisputeStatus,
			UpdatedAt: i.UpdatedAt})
	}
	for _, r := range s.Refunds {
		v.Refunds = append(v.Refunds, RefundJSON{Source: r.Source, InvoiceID: r.InvoiceID, ChargeID: r.ChargeID,
			AmountRefunded: r.AmountRefunded, Currency: r.Currency, Full: r.Full, EventID: r.EventID, UpdatedAt: r.UpdatedAt})
	}
	for _, d := range s.Disputes {
		v.Disputes = append(v.Disputes, DisputeJSON{ID: d.ID, Status: d.Status, Reason: d.Reason, Amount: d.Amount,
			Currency: d.Currency, ChargeID: d.ChargeID, PaymentIntentID: d.PaymentIntent, InvoiceID: d.InvoiceID,
			Owner: d.Owner, EvidenceDueBy: unixOrNil(d.EvidenceDueBy), FundsWithdrawn: d.FundsWithdrawn,
			FundsReinstated: d.FundsReinstated, UpdatedAt: d.UpdatedAt})
	}
	for _, e := range s.Emails {
		v.Emails = append(v.Emails, EmailJSON{DedupeKey: e.DedupeKey, Purpose: e.Purpose, To: e.To, Status: e.Status,
			Subject: e.Subject, Body: e.Body, ProviderMessageID: e.ProviderMessageID, CreatedAt: e.CreatedAt, SentAt: e.SentAt})
	}
	return v
}

// EffectiveAccess folds access rows (any customers, any order) into one
// entry per product, sorted by product, by the billing core's rule
// (billing.EffectiveAccess); the rows of one customer are expected.
func EffectiveAccess(rows []payflow.AccessSource) []ProductAccess {
	byKey := map[[3]string]payflow.AccessSource{}
	in := make([]billing.AccessRow, 0, len(rows))
	for _, r := range rows {
		byKey[[3]string{r.CustomerID, r.ProductID, r.Source}] = r
		in = append(in, billing.AccessRow{CustomerID: r.CustomerID, ProductID: r.ProductID, Source: r.Source,
			Status: r.Status, ValidUntil: r.ValidUntil})
	}
	out := []ProductAccess{}
	for _, p := range billing.EffectiveAccess(in) {
		pa := ProductAccess{ProductID: p.ProductID, Status: p.Status, ValidUntil: p.ValidUntil, Sources: []SourceJSON{}}
		for _, src := range p.Sources {
			r := byKey[[3]string{src.CustomerID, src.ProductID, src.Source}]
			pa.Sources = append(pa.Sources, SourceJSON{Source: r.Source, Status: r.Status, ValidUntil: r.ValidUntil,
				Reason: r.Reason, UpdatedAt: r.UpdatedAt, GrantedAt: r.GrantedAt, SuspendedAt: r.SuspendedAt, RevokedAt: r.RevokedAt,
				AccountID: r.Account})
		}
		out = append(out, pa)
	}
	return out
}

// WriteSummary writes s as text tables, one section per kind of record, for
// `payflow inspect customer`: the same content as the JSON document (View).
// Times are UTC to the second; amounts are in the currency's major unit.
func WriteSummary(w io.Writer, s payflow.CustomerSummary) error {
	v := View(s)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := &printer{w: tw}

	c := v.Customer
	p.line("Customer\t%s", c.ID)
	p.line("Email\t%s", orDash(c.Email))
	if c.UpdatedAt != nil {
		p.line("Updated\t%s", fmtTime(*c.UpdatedAt))
	}

	p.section("Access", len(v.Access), "PRODUCT\tACCESS\tVALID UNTIL\tSOURCE\tSOURCE STATUS\tSOURCE VALID UNTIL\tREASON\tUPDATED")
	for _, a := range v.Access {
		for i, src := range a.Sources {
			product, status, until := "", "", ""
			if i == 0 {
				product, status, until = a.ProductID, a.Status, fmtTimePtr(a.ValidUntil)
			}
			p.line("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", product, status, until, src.Source, src.Status,
				fmtTimePtr(src.ValidUntil), orDash(src.Reason), fmtTime(src.UpdatedAt))
		}
	}

	p.section("Orders", len(v.Orders), "ID\tSTATUS\tAMOUNT\tREFUNDED\tPRODUCTS\tCHARGE\tEMAIL\tCREATED\tFULFILLED\tREASON")
	for _, o := range v.Orders {
		p.line("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", o.ID, o.Status, fmtAmount(o.Amount, o.Currency),
			fmtRefunded(o.AmountRefunded, o.Currency), orDash(strings.Join(o.Products, ",")), orDash(o.ChargeID),
			orDash(o.Email), fmtTime(o.CreatedAt), fmtTimePtr(o.FulfilledAt), orDash(o.FailureReason))
	}

	p.section("Subscriptions", len(v.Subscriptions), "ID\tSTATUS\tDUNNING\tPRODUCTS\tPERIOD END\tCANCEL AT PERIOD END\tUPDATED")
	for _, sub := range v.Subscriptions {
		var products []string
		for _, it := range sub.Items {
			item := it.ProductID
			if it.Quantity > 1 {
				item += "×" + strconv.FormatInt(it.Quantity, 10)
			}
			products = append(products, item)
		}
		p.line("%s\t%s\t%s\t%s\t%s\t%s\t%s", sub.ID, orDash(sub.Status), orDash(sub.DunningStage),
			orDash(strings.Join(products, ",")), fmtTimePtr(sub.CurrentPeriodEnd), yesNo(sub.CancelAtPeriodEnd), fmtTime(sub.UpdatedAt))
	}

	p.section("Invoices", len(v.Invoices), "ID\tSUBSCRIPTION\tSTATUS\tDUE\tPAID\tREFUNDED\tATTEMPTS\tREASON\tCHARGE\tDISPUTE")
	for _, i := range v.Invoices {
		dispute := "-"
		if i.DisputeID != "" {
			dispute = strings.TrimSpace(i.DisputeID + " " + i.DisputeStatus)
		}
		p.line("%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s", i.ID, orDash(i.SubscriptionID), orDash(i.Status),
			fmtAmount(i.AmountDue, i.Currency), fmtAmount(i.AmountPaid, i.Currency), fmtRefunded(i.AmountRefunded, i.Currency),
			i.AttemptCount, orDash(i.BillingReason), orDash(i.ChargeID), dispute)
	}

	p.section("Refunds", len(v.Refunds), "SOURCE\tINVOICE\tCHARGE\tREFUNDED\tFULL\tEVENT\tUPDATED")
	for _, r := range v.Refunds {
		p.line("%s\t%s\t%s\t%s\t%s\t%s\t%s", r.Source, orDash(r.InvoiceID), orDash(r.ChargeID),
			fmtAmount(r.AmountRefunded, r.Currency), yesNo(r.Full), orDash(r.EventID), fmtTime(r.UpdatedAt))
	}

	p.section("Disputes", len(v.Disputes), "ID\tSTATUS\tREASON\tAMOUNT\tCHARGE\tOWNER\tFUNDS\tEVIDENCE DUE")
	for _, d := range v.Disputes {
		funds := "-"
		switch {
		case d.FundsReinstated:
			funds = "reinstated"
		case d.FundsWithdrawn:
			funds = "withdrawn"
		}
		p.line("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", d.ID, orDash(d.Status), orDash(d.Reason),
			fmtAmount(d.Amount, d.Currency), orDash(d.ChargeID), orDash(d.Owner), funds, fmtTimePtr(d.EvidenceDueBy))
	}

	p.section("Emails", len(v.Emails), "CREATED\tPURPOSE\tTO\tSTATUS\tSENT\tSUBJECT\tKEY")
	for _, e := range v.Emails {
		p.line("%s\t%s\t%s\t%s\t%s\t%s\t%s", fmtTime(e.CreatedAt), orDash(e.Purpose), e.To, e.Status,
			fmtTimePtr(e.SentAt), orDash(oneLine(e.Subject)), e.DedupeKey)
	}

	if p.err != nil {
		return p.err
	}
	return tw.Flush()
}

// printer keeps the first write error, so WriteSummary checks once.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) line(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
	}
}

// section starts a titled table; an empty one says so instead of printing
// a header with no rows.
func (p *printer) section(title string, n int, header string) {
	p.line("")
	p.line("%s (%d)", strings.ToUpper(title), n)
	if n == 0 {
		p.line("  (none)")
		return
	}
	p.line("%s", header)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// oneLine keeps a subject from breaking the table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// unixOrNil turns a Stripe timestamp (Unix seconds; 0 means unset) into a
// time.
func unixOrNil(sec int64) *time.Time {
	if sec == 0 {
		return nil
	}
	t := time.Unix(sec, 0).UTC()
	return &t
}

// fmtAmount formats minor units as, for example, "19.99 USD".
func fmtAmount(amount int64, currency string) string {
	if currency == "" {
		return strconv.FormatInt(amount, 10)
	}
	return payflow.FormatAmount(amount, currency)
}

func fmtRefunded(amount int64, currency string) string {
	if amount == 0 {
		return "-"
	}
	return fmtAmount(amount, currency)
}
