package store

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/payflow/payflow"
)

// WriteSummary writes s as text tables, one section per kind of record, for
// `payflow inspect customer`. Times are UTC to the second; amounts are in
// the currency's major unit.
func WriteSummary(w io.Writer, s payflow.CustomerSummary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := &printer{w: tw}

	c := s.Customer
	p.line("Customer\t%s", c.ID)
	p.line("Email\t%s", orDash(c.Email))
	if !c.UpdatedAt.IsZero() {
		p.line("Updated\t%s", fmtTime(c.UpdatedAt))
	}

	p.section("Orders", len(s.Orders), "ID\tSTATUS\tAMOUNT\tPRODUCT\tCHARGE\tEMAIL\tCREATED\tFULFILLED\tREASON")
	for _, o := range s.Orders {
		p.line("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", o.ID, o.Status, fmtAmount(o.Amount, o.Currency),
			orDash(o.ProductID), orDash(o.ChargeID), orDash(o.Email), fmtTime(o.CreatedAt),
			fmtTimePtr(o.FulfilledAt), orDash(o.FailureReason))
	}

	p.section("Subscriptions", len(s.Subscriptions), "ID\tSTATUS\tDUNNING\tPERIOD END\tCANCEL AT PERIOD END\tUPDATED")
	for _, sub := range s.Subscriptions {
		p.line("%s\t%s\t%s\t%s\t%s\t%s", sub.ID, orDash(sub.Status), orDash(sub.DunningStage),
			fmtUnix(sub.CurrentPeriodEnd), yesNo(sub.CancelAtPeriodEnd), fmtTime(sub.UpdatedAt))
	}

	p.section("Entitlements", len(s.Entitlements), "PRODUCT\tSTATUS\tSOURCE\tVALID UNTIL\tGRANTED\tSUSPENDED\tREVOKED")
	for _, e := range s.Entitlements {
		p.line("%s\t%s\t%s\t%s\t%s\t%s\t%s", e.ProductID, e.Status, orDash(e.Source),
			fmtTimePtr(e.ValidUntil), fmtTimePtr(e.GrantedAt), fmtTimePtr(e.SuspendedAt), fmtTimePtr(e.RevokedAt))
	}

	p.section("Emails", len(s.Emails), "CREATED\tPURPOSE\tTO\tSTATUS\tSENT\tSUBJECT\tKEY")
	for _, e := range s.Emails {
		p.line("%s\t%s\t%s\t%s\t%s\t%s\t%s", fmtTime(e.CreatedAt), orDash(e.Purpose), e.To, e.Status,
			fmtTimePtr(e.SentAt), orDash(oneLine(e.Subject)), e.DedupeKey)
	}

	p.section("Disputes", len(s.Disputes), "ID\tSTATUS\tREASON\tAMOUNT\tCHARGE\tPAYMENT INTENT\tEVIDENCE DUE")
	for _, d := range s.Disputes {
		p.line("%s\t%s\t%s\t%s\t%s\t%s\t%s", d.ID, orDash(d.Status), orDash(d.Reason),
			fmtAmount(d.Amount, d.Currency), orDash(d.ChargeID), orDash(d.PaymentIntent), fmtUnix(d.EvidenceDueBy))
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

// fmtUnix formats a Stripe timestamp (Unix seconds; 0 means unset).
func fmtUnix(sec int64) string {
	if sec == 0 {
		return "-"
	}
	return fmtTime(time.Unix(sec, 0))
}

// fmtAmount formats minor units as, for example, "19.99 USD".
func fmtAmount(amount int64, currency string) string {
	if currency == "" {
		return strconv.FormatInt(amount, 10)
	}
	return payflow.FormatAmount(amount, currency)
}
