package billing

import (
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	cus      = "cus_1"
	subID    = "sub_1"
	day      = 24 * time.Hour
	periodT0 = 1709294400 // t0 as Unix seconds
)

func unix(d time.Duration) int64 { return t0.Add(d).Unix() }

// snap is a customer.subscription.* event created d after t0.
func snap(id, typ, status string, d time.Duration, products ...string) Event {
	ev := Event{ID: id, Type: "customer.subscription." + typ, Created: unix(d), CustomerID: cus, SubscriptionID: subID,
		Status: status, CurrentPeriodStart: unix(d), CurrentPeriodEnd: unix(d + 30*day)}
	for _, p := range products {
		ev.Items = append(ev.Items, Item{ID: "si_" + p, PriceID: "price_" + p, ProductID: p, Quantity: 1})
	}
	return ev
}

// inv is an invoice.* event for invoice in created d after t0.
func inv(id, typ, invoice string, d time.Duration, amount int64, reason string) Event {
	ev := Event{ID: id, Type: "invoice." + typ, Created: unix(d), CustomerID: cus, SubscriptionID: subID,
		InvoiceID: invoice, AmountDue: amount, Currency: "usd", BillingReason: reason, AttemptCount: 1,
		CollectionMethod: "charge_automatically", HostedInvoiceURL: "https://pay.example/" + invoice,
		PeriodEnd: unix(d + 30*day), Email: "ann@example.com"}
	if typ == "paid" || typ == "payment_succeeded" {
		ev.AmountPaid = amount
	}
	return ev
}

func failedInv(id, invoice string, d time.Duration, amount int64, reason, decline string) Event {
	ev := inv(id, "payment_failed", invoice, d, amount, reason)
	ev.DeclineCode = decline
	return ev
}

// subRun drives a subscription through events, timers and results,
// keeping every command.
type subRun struct {
	t    *testing.T
	s    Subscription
	p    Policy
	now  time.Time
	last []Command
	all  []Command
	// takeover answers TakeOverInvoice; nil: Stripe agrees.
	takeover func(TakeOverInvoice) TakeoverResult
	// decline answers FetchDecline (nil: Stripe names no decline code).
	decline func(FetchDecline) DeclineResult
}

func newSubRun(t *testing.T, p Policy) *subRun {
	return &subRun{t: t, s: NewSubscription(subID), p: p, now: t0}
}

func (r *subRun) took(cmds []Command) {
	r.last = cmds
	r.all = append(r.all, cmds...)
}

func (r *subRun) apply(evs ...Event) *subRun {
	for _, ev := range evs {
		var cmds []Command
		r.s, cmds = ApplySubscription(r.s, ev, r.p, r.now)
		r.took(cmds)
		r.answer(cmds, nil, nil)
	}
	return r
}

// advance moves the clock and fires every timer that came due, answering
// RetryCharge and RecheckInvoice with the given functions.
func (r *subRun) advance(d time.Duration, charge func(RetryCharge) ChargeResult, recheck func(RecheckInvoice) RecheckResult) *subRun {
	end := r.now.Add(d)
	for n := 0; ; n++ {
		if n > 1000 {
			r.t.Fatalf("timers do not make progress: %+v", r.s.Timers())
		}
		timers := r.s.Timers()
		if len(timers) == 0 || timers[0].At.After(end) {
			break
		}
		r.now = maxTime(r.now, timers[0].At)
		var cmds []Command
		r.s, cmds = FireSubscriptionTimer(r.s, timers[0], r.now)
		r.took(cmds)
		r.answer(cmds, charge, recheck)
	}
	r.now = end
	return r
}

func (r *subRun) answer(cmds []Command, charge func(RetryCharge) ChargeResult, recheck func(RecheckInvoice) RecheckResult) {
	for _, c := range cmds {
		var more []Command
		switch c := c.(type) {
		case FetchDecline:
			res := DeclineResult{InvoiceID: c.InvoiceID}
			if r.decline != nil {
				res = r.decline(c)
			}
			r.s, more = ApplyDecline(r.s, res, r.now)
			// Part of the same step, as a takeover.
			r.last = append(slices.Clone(r.last), more...)
			r.all = append(r.all, more...)
			continue
		case RetryCharge:
			r.s, more = ApplyChargeResult(r.s, charge(c), r.now)
		case RecheckInvoice:
			r.s, more = ApplyRecheck(r.s, recheck(c), r.now)
		case TakeOverInvoice:
			res := TakeoverResult{InvoiceID: c.InvoiceID, TakenOver: true}
			if r.takeover != nil {
				res = r.takeover(c)
			}
			r.s, more = ApplyTakeover(r.s, res, r.now)
			// Part of the same step: r.last keeps the event's commands.
			r.last = append(slices.Clone(r.last), more...)
			r.all = append(r.all, more...)
			continue
		default:
			continue
		}
		r.took(more)
		r.answer(more, charge, recheck)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func declined(code string) func(RetryCharge) ChargeResult {
	return func(c RetryCharge) ChargeResult {
		return ChargeResult{InvoiceID: c.InvoiceID, Attempt: c.Attempt, InvoiceStatus: InvoiceOpen, DeclineCode: code}
	}
}

func stillOpen(c RecheckInvoice) RecheckResult {
	return RecheckResult{InvoiceID: c.InvoiceID, Step: c.Step, InvoiceStatus: InvoiceOpen, SubscriptionStatus: StatusPastDue}
}

func of[T Command](cmds []Command) []T {
	var out []T
	for _, c := range cmds {
		if v, ok := c.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func emailKeys(cmds []Command) []string {
	var out []string
	for _, e := range of[SendEmail](cmds) {
		out = append(out, e.Purpose+" "+e.DedupeKey)
	}
	return out
}

func purposesOf(cmds []Command) []string {
	var out []string
	for _, e := range of[SendEmail](cmds) {
		out = append(out, e.Purpose)
	}
	return out
}

func rows(cmds []Command) []AccessRow {
	var out []AccessRow
	for _, c := range of[SetAccess](cmds) {
		out = append(out, c.Row())
	}
	return out
}

// effective returns the effective status of customer cus's product.
func effective(rs []AccessRow, product string) string {
	for _, p := range EffectiveAccess(rs) {
		if p.CustomerID == cus && p.ProductID == product {
			return p.Status
		}
	}
	return AccessRevoked
}

func hasPurpose(cmds []Command, purpose string) bool {
	return slices.Contains(purposesOf(cmds), purpose)
}

func lastSearch(t *testing.T, cmds []Command) UpsertSearchAttributes {
	t.Helper()
	s := of[UpsertSearchAttributes](cmds)
	if len(s) == 0 {
		t.Fatalf("no search attribute upsert in %s", names(cmds))
	}
	return s[len(s)-1]
}

func names(cmds []Command) string {
	var out []string
	for _, c := range cmds {
		if n, ok := c.(Note); ok {
			out = append(out, "Note("+n.What+")")
			continue
		}
		out = append(out, c.Name())
	}
	return strings.Join(out, ", ")
}

var stripeStatuses = []string{StatusIncomplete, StatusIncompleteExpired, StatusTrialing, StatusActive,
	StatusPastDue, StatusUnpaid, StatusPaused, StatusCanceled}
