package billing

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func stripePolicy() Policy {
	p := DefaultPolicy()
	p.Mode, p.RetryDelays = ModeStripe, nil
	return p
}

// stripeFailing is a stripe-mode subscription whose renewal in_1 failed
// at day 30 (Stripe retries on day 33).
func stripeFailing(t *testing.T) *subRun {
	r := active(t, stripePolicy())
	r.now = t0.Add(30 * day)
	f := failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds")
	f.NextPaymentAttempt = unix(33 * day)
	r.apply(f, snap("evt_pd", "updated", StatusPastDue, 30*day+time.Minute, "prod_pro"))
	return r
}

func stages(cmds []Command) []string {
	var out []string
	for _, u := range of[UpsertSearchAttributes](cmds) {
		out = append(out, u.DunningStage)
	}
	return out
}

// Stripe's own end of its retries ends the campaign like payflow's final
// action: one final notice, counted unrecovered, stage final, no timers;
// then the stage the status implies.
func TestStripeModeEndOfRetries(t *testing.T) {
	cases := []struct {
		name       string
		ev         Event
		wantStatus string
		wantStages []string // the upserts of the ending step
		campaigns  int      // left afterwards
		access     string
		finalText  string
		payLink    bool
	}{
		{"subscription unpaid", snap("evt_end", "updated", StatusUnpaid, 45*day, "prod_pro"), StatusUnpaid,
			[]string{StageFinal}, 1, AccessRevoked, "Your access has ended until the invoice is paid.", true},
		{"subscription canceled", snap("evt_end", "deleted", StatusCanceled, 45*day, "prod_pro"), StatusCanceled,
			[]string{StageFinal, StageNone}, 0, AccessRevoked, "Your subscription has been canceled.", true},
		{"invoice uncollectible", inv("evt_end", "marked_uncollectible", "in_1", 45*day, 2000, "subscription_cycle"), StatusPastDue,
			[]string{StageFinal, StageNone}, 0, AccessGranted, "We will not try to charge it again.", true},
		{"invoice voided", inv("evt_end", "voided", "in_1", 45*day, 2000, "subscription_cycle"), StatusPastDue,
			[]string{StageFinal, StageNone}, 0, AccessGranted, "The invoice was voided", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := stripeFailing(t)
			r.now = t0.Add(45 * day)
			unrecovered := r.s.Unrecovered
			r.apply(tc.ev)
			if got := emailKeys(r.last); !slices.Equal(got, []string{"dunning_final_notice subscription/sub_1/in_1/final"}) {
				t.Fatalf("emails %v (%s)", got, names(r.last))
			}
			if r.s.Unrecovered != unrecovered+1 || r.s.Recovered != 0 {
				t.Errorf("unrecovered %d recovered %d", r.s.Unrecovered, r.s.Recovered)
			}
			if r.s.Status != tc.wantStatus || len(r.s.Campaigns) != tc.campaigns {
				t.Errorf("status %s campaigns %+v", r.s.Status, r.s.Campaigns)
			}
			if got := stages(r.last); !slices.Equal(got, tc.wantStages) {
				t.Errorf("stages upserted %v, want %v", got, tc.wantStages)
			}
			if len(r.s.Timers()) != 0 || len(of[CancelTimers](r.last)) == 0 {
				t.Errorf("timers left %+v", r.s.Timers())
			}
			if got := effective(rows(r.all), "prod_pro"); got != tc.access {
				t.Errorf("access %s, want %s", got, tc.access)
			}
			m := of[SendEmail](r.last)[0]
			_, body, err := Render(m.Purpose, m.Vars)
			if err != nil || !strings.Contains(body, tc.finalText) || strings.Contains(body, "https://pay.example/in_1") != tc.payLink {
				t.Errorf("final notice %q %v", body, err)
			}
			// Stripe's later events (the canceled snapshot after unpaid, a
			// redelivery, the invoice settled) send no second notice and
			// count nothing twice.
			r.now = t0.Add(50 * day)
			r.apply(tc.ev, snap("evt_later", "deleted", StatusCanceled, 50*day, "prod_pro"))
			if got := purposesOf(r.all); countOf(got, PurposeDunningFinal) != 1 {
				t.Errorf("final notice twice: %v", got)
			}
			if r.s.Unrecovered != unrecovered+1 || len(r.s.Campaigns) != 0 || r.s.DunningStage() != StageNone {
				t.Errorf("after the end: unrecovered %d campaigns %+v", r.s.Unrecovered, r.s.Campaigns)
			}
		})
	}
}

// After unpaid, a late payment still recovers the final campaign.
func TestStripeModeUnpaidThenPaidRecovers(t *testing.T) {
	r := stripeFailing(t)
	r.now = t0.Add(45 * day)
	r.apply(snap("evt_unpaid", "updated", StatusUnpaid, 45*day, "prod_pro"))
	if d := r.s.Describe(); !strings.Contains(d, "invoice in_1 failed 2024-03-31 12:00 UTC (insufficient_funds), Stripe's retries ended unrecovered") {
		t.Errorf("describe %q", d)
	}
	r.apply(inv("evt_paid", "paid", "in_1", 46*day, 2000, "subscription_cycle"))
	if r.s.Recovered != 1 || len(r.s.Campaigns) != 0 || !hasPurpose(r.last, PurposeRecovered) {
		t.Errorf("late payment: %+v %s", r.s, names(r.last))
	}
}

// payflow mode keeps its own rules: cancellation ends campaigns without
// emails; an uncollectible invoice ends its campaign unrecovered, silently.
func TestPayflowModeStripeEndSendsNoNotice(t *testing.T) {
	for _, ev := range []Event{
		snap("evt_end", "deleted", StatusCanceled, 31*day, "prod_pro"),
		inv("evt_end", "marked_uncollectible", "in_1", 31*day, 2000, "subscription_cycle"),
	} {
		r := active(t, DefaultPolicy())
		r.now = t0.Add(30 * day)
		r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
		r.now = t0.Add(31 * day)
		r.apply(ev)
		if hasPurpose(r.last, PurposeDunningFinal) || len(r.s.Campaigns) != 0 {
			t.Errorf("%s: %s", ev.Type, names(r.last))
		}
	}
}

// The first-failure email says when Stripe retries, with the time zone,
// and a sentence without a date when Stripe gives none; never "on .".
func TestFirstFailureSaysWhenStripeRetries(t *testing.T) {
	cases := []struct {
		name string
		next int64
		want string
	}{
		{"Stripe gives a date", unix(33*day + 90*time.Minute), "We will try again on 3 April 2024, 13:30 UTC."},
		{"Stripe gives none", 0, "No further automatic attempt is scheduled."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := active(t, stripePolicy())
			r.now = t0.Add(30 * day)
			f := failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "")
			f.NextPaymentAttempt = tc.next
			r.apply(f)
			m := of[SendEmail](r.last)
			if len(m) != 1 || m[0].Purpose != PurposeDunningFirst {
				t.Fatalf("emails %s", names(r.last))
			}
			_, body, err := Render(m[0].Purpose, m[0].Vars)
			if err != nil || !strings.Contains(body, tc.want) || strings.Contains(body, "on .") || strings.Contains(body, "try again on  ") {
				t.Errorf("body %q %v", body, err)
			}
			// Stripe's next attempt gets a reminder saying the same.
			f2 := failedInv("evt_f2", "in_1", 33*day, 2000, "subscription_cycle", "")
			f2.AttemptCount, f2.NextPaymentAttempt = 2, tc.next
			r.apply(f2)
			m = of[SendEmail](r.last)
			if len(m) != 1 {
				t.Fatalf("reminder %s", names(r.last))
			}
			_, body, _ = Render(m[0].Purpose, m[0].Vars)
			if !strings.Contains(body, tc.want) || strings.Contains(body, "on .") {
				t.Errorf("reminder %q", body)
			}
		})
	}
}

// payflow mode states its own retry's date in UTC.
func TestPayflowFirstFailureDateInUTC(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	m := of[SendEmail](r.last)
	_, body, _ := Render(m[0].Purpose, m[0].Vars)
	if !strings.Contains(body, "We will try again on 3 April 2024, 12:00 UTC.") {
		t.Errorf("body %q", body)
	}
}

func countOf(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

// A re-read before the suspension that finds the invoice uncollectible
// (Stripe's retries ended before its event arrived) ends the campaign the
// same way; the event that follows adds nothing.
func TestStripeModeRecheckFindsRetriesEnded(t *testing.T) {
	r := stripeFailing(t)
	r.advance(10*day, nil, func(c RecheckInvoice) RecheckResult {
		return RecheckResult{InvoiceID: c.InvoiceID, Step: c.Step, InvoiceStatus: InvoiceUncollectible, SubscriptionStatus: StatusPastDue}
	})
	if got := emailKeys(r.all); !slices.Contains(got, "dunning_final_notice subscription/sub_1/in_1/final") || hasPurpose(r.all, PurposeSuspended) {
		t.Fatalf("emails %v", got)
	}
	if r.s.Unrecovered != 1 || len(r.s.Campaigns) != 0 {
		t.Errorf("unrecovered %d campaigns %+v", r.s.Unrecovered, r.s.Campaigns)
	}
	r.apply(inv("evt_unc", "marked_uncollectible", "in_1", 41*day, 2000, "subscription_cycle"))
	if len(of[SendEmail](r.last)) != 0 || r.s.Unrecovered != 1 {
		t.Errorf("the event after the re-read: %s", names(r.last))
	}
}
