package billing

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// permutations returns the events in order, reversed, and n seeded
// shuffles.
func permutations(evs []Event, n int) [][]Event {
	out := [][]Event{slices.Clone(evs), slices.Clone(evs)}
	slices.Reverse(out[1])
	rng := rand.New(rand.NewPCG(12, 2024))
	for range n {
		p := slices.Clone(evs)
		rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		out = append(out, p)
	}
	return out
}

// effects summarises what a run's commands leave behind: the last record
// of each row, the last access per (source, product) with never granted
// read as revoked, the set of emails (by ledger key, with their vars), the
// largest refund recorded, and any Stripe call.
func effects(cmds []Command, fullVars bool) string {
	last := map[string]string{}
	var emails []string
	for _, c := range cmds {
		switch c := c.(type) {
		case RecordSubscription:
			last["subscription"] = fmt.Sprintf("%+v", c)
		case RecordInvoice:
			last["invoice "+c.ID] = fmt.Sprintf("%+v %+v", c.Invoice, c.Dispute)
		case RecordOrder:
			last["order"] = fmt.Sprintf("%+v", c)
		case RecordRefund:
			if old := last["refund "+c.ChargeID]; old < fmt.Sprintf("%08d", c.AmountRefunded) {
				last["refund "+c.ChargeID] = fmt.Sprintf("%08d", c.AmountRefunded)
			}
		case SetAccess:
			last["access "+c.Source+" "+c.ProductID] = fmt.Sprintf("%s %v", c.Status, c.ValidUntil)
		case UpsertSearchAttributes:
			last["search"] = fmt.Sprintf("%+v", c)
		case SendEmail:
			e := c.Purpose + " " + c.DedupeKey
			if fullVars {
				e += fmt.Sprint(c.Vars)
			}
			emails = append(emails, e)
		case RetryCharge, RecheckInvoice, CancelSubscription:
			last["stripe call "+c.Name()] = "yes"
		}
	}
	var out []string
	for k, v := range last {
		if strings.HasPrefix(k, "access ") && strings.HasPrefix(v, AccessRevoked) {
			continue
		}
		out = append(out, k+" = "+v)
	}
	slices.Sort(out)
	slices.Sort(emails)
	return strings.Join(out, "\n") + "\nemails:\n" + strings.Join(slices.Compact(emails), "\n")
}

// subscriptionStorm: created (incomplete), first invoice paid (both
// events), activated, upgraded basic → pro with a paid proration invoice,
// a partial refund of the proration, renewed, a duplicate delivery, and
// optionally deleted.
func subscriptionStorm(deleted bool) []Event {
	refund := Event{ID: "evt_ref", Type: "charge.refunded", Created: unix(12 * day), CustomerID: cus, ChargeID: "ch_up",
		InvoiceID: "in_up", Amount: 650, AmountRefunded: 200, Currency: "usd"}
	proration := inv("evt_i2p", "paid", "in_up", 10*day, 650, "subscription_update")
	prorationS := inv("evt_i2s", "payment_succeeded", "in_up", 10*day, 650, "subscription_update")
	evs := []Event{
		snap("evt_zc", "created", StatusIncomplete, 0, "prod_basic"), // sorts after evt_u1: the rank decides
		inv("evt_i1p", "paid", "in_1", 0, 1000, "subscription_create"),
		inv("evt_i1s", "payment_succeeded", "in_1", 0, 1000, "subscription_create"),
		snap("evt_u1", "updated", StatusActive, 0, "prod_basic"),
		snap("evt_u2", "updated", StatusActive, 10*day, "prod_pro"),
		proration, prorationS, refund,
		snap("evt_u3", "updated", StatusActive, 30*day, "prod_pro"),
		inv("evt_i3p", "paid", "in_3", 30*day, 2000, "subscription_cycle"),
		inv("evt_i3s", "payment_succeeded", "in_3", 30*day, 2000, "subscription_cycle"),
		inv("evt_i3p", "paid", "in_3", 30*day, 2000, "subscription_cycle"), // duplicate delivery
	}
	if deleted {
		evs = append(evs, snap("evt_d", "deleted", StatusCanceled, 45*day, "prod_pro"))
	}
	return evs
}

// comparable state: seen IDs as a set, grants never made read as revoked.
func normalSub(s Subscription) Subscription {
	s = s.clone()
	slices.Sort(s.Seen)
	s.Access = slices.DeleteFunc(s.Access, func(g Grant) bool { return g.Status == AccessRevoked })
	if len(s.Access) == 0 {
		s.Access = nil
	}
	if len(s.Campaigns) == 0 {
		s.Campaigns = nil
	}
	return s
}

func TestSubscriptionEventsInAnyOrder(t *testing.T) {
	for _, deleted := range []bool{false, true} {
		t.Run(fmt.Sprintf("deleted=%v", deleted), func(t *testing.T) {
			var wantState Subscription
			var wantEffects string
			for i, evs := range permutations(subscriptionStorm(deleted), 300) {
				r := newSubRun(t, DefaultPolicy()).apply(evs...)
				state, eff := normalSub(r.s), effects(r.all, true)
				if i == 0 {
					wantState, wantEffects = state, eff
					checkStormOutcome(t, r, deleted)
					continue
				}
				if !reflect.DeepEqual(state, wantState) {
					t.Fatalf("permutation %d (%v): state\n%+v\nwant\n%+v", i, ids(evs), state, wantState)
				}
				if eff != wantEffects {
					t.Fatalf("permutation %d (%v): effects\n%s\nwant\n%s", i, ids(evs), eff, wantEffects)
				}
			}
		})
	}
}

func checkStormOutcome(t *testing.T, r *subRun, deleted bool) {
	t.Helper()
	wantStatus, wantPro := StatusActive, AccessGranted
	if deleted {
		wantStatus, wantPro = StatusCanceled, AccessRevoked
	}
	if r.s.Status != wantStatus || effective(rows(r.all), "prod_pro") != wantPro || effective(rows(r.all), "prod_basic") != AccessRevoked {
		t.Errorf("outcome: status %s, pro %s, basic %s", r.s.Status, effective(rows(r.all), "prod_pro"), effective(rows(r.all), "prod_basic"))
	}
	var receipts []string
	for _, m := range of[SendEmail](r.all) {
		if m.Purpose == PurposeInvoiceReceipt {
			receipts = append(receipts, m.Vars["invoice_id"]+" "+m.Vars["amount"])
		}
	}
	if want := []string{"in_1 10.00 USD", "in_up 6.50 USD", "in_3 20.00 USD"}; !slices.Equal(receipts, want) {
		t.Errorf("receipts %v, want %v", receipts, want)
	}
	if i, _ := r.s.Invoice("in_up"); i.AmountRefunded != 200 || i.Status != InvoicePaid {
		t.Errorf("proration invoice %+v", i)
	}
}

func ids(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

// TestOrderEventsInAnyOrder: a Checkout order whose product comes from the
// session's line items, two partial refunds and a dispute that is won. The
// receipt's wording may name the product known when it went out, so emails
// are compared by ledger key.
func TestOrderEventsInAnyOrder(t *testing.T) {
	won := disputeEv("evt_d3", "closed", "won")
	won.Created = unix(3 * day)
	evs := []Event{
		piSucceeded("evt_pi"), checkoutCompleted("evt_cs", "prod_course"),
		refunded("evt_r1", 1000), refunded("evt_r2", 2500),
		disputeEv("evt_d1", "created", "needs_response"), disputeEv("evt_d2", "funds_withdrawn", "needs_response"),
		won, func() Event { e := won; e.ID, e.Type = "evt_d4", "charge.dispute.funds_reinstated"; return e }(),
	}
	var want, wantEff string
	for i, p := range permutations(evs, 300) {
		o, cmds := applyOrder(NewOrder("pi_1"), p...)
		o.Seen = nil
		o.Access = slices.DeleteFunc(o.Access, func(g Grant) bool { return g.Status == AccessRevoked })
		state, eff := fmt.Sprintf("%+v %+v", o, o.Dispute), effects(cmds, false)
		if i == 0 {
			want, wantEff = state, eff
			if o.Status() != OrderPartiallyRefunded || effective(rows(cmds), "prod_course") != AccessGranted ||
				effective(rows(cmds), DefaultProduct) != AccessRevoked || !o.Dispute.FundsReinstated {
				t.Fatalf("outcome %s %v", o.Describe(), EffectiveAccess(rows(cmds)))
			}
			continue
		}
		if state != want || eff != wantEff {
			t.Fatalf("permutation %d (%v):\n%s\n%s\nwant\n%s\n%s", i, ids(p), state, eff, want, wantEff)
		}
	}
}

func TestDisputeEventsInAnyOrder(t *testing.T) {
	base := Event{DisputeID: "dp_1", ChargeID: "ch_1", InvoiceID: "in_1", SubscriptionID: subID, Amount: 2000,
		Currency: "usd", EvidenceDueBy: unix(10 * day)}
	mk := func(id, typ, status string, d time.Duration) Event {
		e := base
		e.ID, e.Type, e.Status, e.Created = id, "charge.dispute."+typ, status, unix(d)
		return e
	}
	evs := []Event{mk("e1", "created", "needs_response", 0), mk("e2", "funds_withdrawn", "needs_response", 0),
		mk("e3", "updated", "under_review", day), mk("e4", "closed", "lost", 5*day), mk("e5", "updated", "under_review", 2*day)}
	var want, wantEff string
	for i, p := range permutations(evs, 100) {
		d := NewDispute("dp_1")
		var all []Command
		for _, ev := range p {
			var cmds []Command
			d, cmds = ApplyDispute(d, ev, DefaultDisputePolicy(), t0)
			all = append(all, cmds...)
		}
		d.Seen = nil
		state, eff := fmt.Sprintf("%+v", d), effects(all, false)
		var owner []string
		for _, n := range of[NotifyOwner](all) {
			owner = append(owner, n.Event.ID)
		}
		slices.Sort(owner)
		eff += "\nforwarded " + strings.Join(owner, ",")
		if i == 0 {
			want, wantEff = state, eff
			if d.Status() != DisputeLost || !d.FundsWithdrawn || len(owner) != 5 {
				t.Fatalf("outcome %s", d.Describe())
			}
			continue
		}
		if state != want || eff != wantEff {
			t.Fatalf("permutation %d (%v):\n%s\n%s\nwant\n%s\n%s", i, ids(p), state, eff, want, wantEff)
		}
	}
}
