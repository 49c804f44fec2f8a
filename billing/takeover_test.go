package billing

import (
	"strconv"
	"strings"
	"testing"
)

func TestPayflowCampaignTakesInvoiceOver(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	// Unanswered: no retry is scheduled while Stripe has not agreed.
	s, cmds := ApplySubscription(r.s, failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"), r.p, r.now)
	tk := of[TakeOverInvoice](cmds)
	if len(tk) != 1 || tk[0].InvoiceID != "in_1" || tk[0].IdempotencyKey != "subscription/sub_1/in_1/takeover-"+itoa(unix(30*day)) {
		t.Fatalf("takeover commands %+v", tk)
	}
	for _, tm := range s.Timers() {
		if tm.Kind == TimerRetry {
			t.Errorf("retry timer before the takeover was confirmed: %+v", tm)
		}
	}
	if _, more := FireSubscriptionTimer(s, Timer{Campaign: "in_1", Kind: TimerRetry, At: r.now.Add(3 * day)}, r.now.Add(3*day)); len(more) != 0 {
		t.Errorf("retry ran before the takeover was confirmed: %s", names(more))
	}
	// Answered (the helper agrees): payflow retries alone, nothing handed back on payment.
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	if c := r.s.campaign("in_1"); c == nil || !c.TakenOver || c.TakeoverPending || c.Policy.Mode != ModePayflow {
		t.Fatalf("campaign %+v", r.s.Campaigns)
	}
	r.advance(4*day, declined("insufficient_funds"), stillOpen)
	if n := len(of[RetryCharge](r.all)); n != 1 {
		t.Errorf("%d retries after the takeover, want 1", n)
	}
	r.apply(inv("evt_p", "paid", "in_1", 35*day, 2000, "subscription_cycle"))
	if len(of[HandBackInvoice](r.all)) != 0 || len(r.s.Campaigns) != 0 {
		t.Errorf("a paid invoice is handed back: %s", names(r.all))
	}
}

func TestStripeModeAndNoRetriesTakeNothingOver(t *testing.T) {
	for _, p := range []Policy{
		{Mode: ModeStripe, Grace: 7 * day, FinalAction: FinalCancel},
		{Mode: ModePayflow, Grace: 7 * day, FinalAction: FinalCancel}, // no retry delays: payflow retries nothing
	} {
		r := active(t, p)
		r.now = t0.Add(30 * day)
		r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
		if n := len(of[TakeOverInvoice](r.all)); n != 0 {
			t.Errorf("%+v: %d takeovers", p, n)
		}
	}
}

func TestTakeoverRefusedFallsBackToStripeMode(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.takeover = func(c TakeOverInvoice) TakeoverResult {
		return TakeoverResult{InvoiceID: c.InvoiceID, Refused: "stripe update invoice in_1: This invoice cannot be updated"}
	}
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	c := r.s.campaign("in_1")
	if c == nil || c.Policy.Mode != ModeStripe || !c.TakeoverRefused || c.TakenOver || c.NextRetryAt != nil || c.FinalAt != nil {
		t.Fatalf("campaign after a refused takeover %+v", r.s.Campaigns)
	}
	var alert *SendEmail
	for _, e := range of[SendEmail](r.last) {
		if e.ToOperator && e.Purpose == PurposeOperatorRefused {
			alert = &e
		}
	}
	if alert == nil || !strings.Contains(alert.Vars["what"], "in_1") {
		t.Errorf("no operator alert: %s", names(r.last))
	}
	if !hasNote(r.last, "ALERT: Stripe refused to take invoice in_1 over") {
		t.Errorf("no timeline note: %s", names(r.last))
	}
	r.advance(20*day, declined("insufficient_funds"), stillOpen)
	if n := len(of[RetryCharge](r.all)); n != 0 {
		t.Errorf("%d payflow retries after a refused takeover", n)
	}
	if len(of[HandBackInvoice](r.all)) != 0 {
		t.Errorf("handed back an invoice never taken over")
	}
	// The campaign still communicates and controls access (stripe mode).
	if !hasPurpose(r.all, PurposeSuspended) {
		t.Errorf("no suspension after grace in the fallback: %s", names(r.all))
	}
}

func TestTakeoverOfAnInvoiceAlreadyPaid(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.takeover = func(c TakeOverInvoice) TakeoverResult {
		return TakeoverResult{InvoiceID: c.InvoiceID, InvoiceStatus: InvoicePaid, Refused: "invoice is paid"}
	}
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	if len(r.s.Campaigns) != 0 || r.s.Recovered != 1 || !hasPurpose(r.last, PurposeRecovered) {
		t.Errorf("campaigns %+v recovered %d", r.s.Campaigns, r.s.Recovered)
	}
}

func TestHandBackWhenACampaignEndsOnAnOpenInvoice(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	s := r.s.clone()
	st := s.begin(Policy{}, r.now)
	st.endCampaign("in_1", "test")
	hb := of[HandBackInvoice](st.cmds)
	if len(hb) != 1 || hb[0].IdempotencyKey != "subscription/sub_1/in_1/handback-"+itoa(unix(30*day)) {
		t.Errorf("hand-back %+v", hb)
	}
	// Not taken over (stripe mode, refused): nothing to hand back.
	s = r.s.clone()
	s.Campaigns[0].TakenOver = false
	st = s.begin(Policy{}, r.now)
	st.endCampaign("in_1", "test")
	if len(of[HandBackInvoice](st.cmds)) != 0 {
		t.Errorf("handed back an invoice never taken over")
	}
	// Ended by the subscription's cancellation: nothing handed back.
	r.apply(snap("evt_d", "deleted", StatusCanceled, 31*day, "prod_pro"))
	if len(of[HandBackInvoice](r.all)) != 0 || len(r.s.Campaigns) != 0 {
		t.Errorf("cancellation handed back: %s", names(r.last))
	}
}

func TestFinalActionCommandsInStripe(t *testing.T) {
	for _, tc := range []struct {
		action   string
		want     string // command names of the final step's Stripe calls
		behavior string
	}{
		{FinalCancel, "CancelSubscription", ""},
		{FinalUnpaid, "MarkInvoiceUncollectible PauseCollection", PauseMarkUncollectible},
		{FinalNone, "PauseCollection", PauseKeepAsDraft},
	} {
		t.Run(tc.action, func(t *testing.T) {
			p := DefaultPolicy()
			p.FinalAction = tc.action
			r := active(t, p)
			r.now = t0.Add(30 * day)
			r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
			r.advance(8*day, declined("insufficient_funds"), stillOpen)
			var got []string
			for _, c := range r.all {
				switch c.(type) {
				case CancelSubscription, MarkInvoiceUncollectible, PauseCollection, ResumeCollection, HandBackInvoice:
					got = append(got, c.Name())
				}
			}
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("final step's Stripe calls %v, want %s", got, tc.want)
			}
			if tc.behavior != "" {
				pc := of[PauseCollection](r.all)[0]
				if pc.Behavior != tc.behavior || pc.IdempotencyKey != "subscription/sub_1/in_1/pause" {
					t.Errorf("pause %+v", pc)
				}
			}
			if tc.action == FinalUnpaid {
				mu := of[MarkInvoiceUncollectible](r.all)[0]
				if mu.InvoiceID != "in_1" || mu.IdempotencyKey != "subscription/sub_1/in_1/uncollectible" {
					t.Errorf("mark uncollectible %+v", mu)
				}
				// Stripe's invoice.marked_uncollectible that follows keeps
				// the campaign: access stays revoked, counted once.
				r.apply(inv("evt_u", "marked_uncollectible", "in_1", 38*day, 2000, "subscription_cycle"))
				if len(r.s.Campaigns) != 1 || r.s.Unrecovered != 1 || effective(rows(r.all), "prod_pro") != AccessRevoked {
					t.Errorf("after marked_uncollectible: campaigns %d unrecovered %d access %s",
						len(r.s.Campaigns), r.s.Unrecovered, effective(rows(r.all), "prod_pro"))
				}
			}
			if tc.action == FinalCancel {
				return
			}
			// The customer pays later: the pause is lifted, once.
			r.apply(inv("evt_p", "paid", "in_1", 50*day, 2000, "subscription_cycle"))
			rc := of[ResumeCollection](r.last)
			if len(rc) != 1 || rc[0].IdempotencyKey != "subscription/sub_1/in_1/resume" || r.s.Recovered != 1 {
				t.Errorf("resume %+v recovered %d", rc, r.s.Recovered)
			}
			if len(of[HandBackInvoice](r.all)) != 0 {
				t.Errorf("handed back after a final action")
			}
		})
	}
}

func TestPaymentOfOneInvoiceKeepsAnotherCampaignsPause(t *testing.T) {
	p := DefaultPolicy()
	p.FinalAction = FinalNone
	r := active(t, p)
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	r.apply(failedInv("evt_f2", "in_2", 30*day, 500, "manual", "insufficient_funds"))
	r.advance(8*day, declined("insufficient_funds"), stillOpen)
	r.apply(inv("evt_p", "paid", "in_1", 50*day, 2000, "subscription_cycle"))
	if n := len(of[ResumeCollection](r.all)); n != 0 {
		t.Errorf("resumed while in_2's final action still holds the pause")
	}
	r.apply(inv("evt_p2", "paid", "in_2", 51*day, 500, "manual"))
	if n := len(of[ResumeCollection](r.all)); n != 1 {
		t.Errorf("%d resumes after the last paused campaign recovered", n)
	}
}

func hasNote(cmds []Command, part string) bool {
	for _, n := range of[Note](cmds) {
		if strings.Contains(n.What, part) {
			return true
		}
	}
	return false
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Stripe's own end of its retries (stripe mode) pauses nothing, so a late
// payment resumes nothing: a pause the merchant set stays theirs.
func TestStripeModeEndResumesNothing(t *testing.T) {
	p := Policy{Mode: ModeStripe, Grace: 7 * day, FinalAction: FinalUnpaid}
	r := active(t, p)
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	r.apply(snap("evt_u", "updated", StatusUnpaid, 40*day, "prod_pro"))
	r.apply(inv("evt_p", "paid", "in_1", 41*day, 2000, "subscription_cycle"))
	if n := len(of[ResumeCollection](r.all)) + len(of[PauseCollection](r.all)) + len(of[TakeOverInvoice](r.all)); n != 0 {
		t.Errorf("collection commands in stripe mode: %s", names(r.all))
	}
}
