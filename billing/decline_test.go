package billing

import (
	"testing"
	"time"
)

// failing is an active subscription whose renewal in_1 failed 30 days in,
// the event naming no decline code (as Stripe's 2023-10-16 invoice events);
// Stripe's answer to FetchDecline is ans.
func failing(t *testing.T, p Policy, ans DeclineResult) *subRun {
	r := active(t, p)
	r.decline = func(c FetchDecline) DeclineResult {
		if c.InvoiceID != "in_1" || c.SubscriptionID != subID {
			t.Errorf("fetch %+v", c)
		}
		ans.InvoiceID = c.InvoiceID
		return ans
	}
	r.now = t0.Add(30 * day)
	return r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", ""))
}

func noCharge(t *testing.T) func(RetryCharge) ChargeResult {
	return func(c RetryCharge) ChargeResult {
		t.Errorf("retry charge %+v after a hard decline", c)
		return ChargeResult{InvoiceID: c.InvoiceID, Attempt: c.Attempt, InvoiceStatus: InvoiceOpen}
	}
}

func TestDeclineFetchedOncePerFailedAttempt(t *testing.T) {
	r := failing(t, DefaultPolicy(), DeclineResult{DeclineCode: "insufficient_funds"})
	if n := len(of[FetchDecline](r.all)); n != 1 {
		t.Fatalf("%d fetches after the first failure: %s", n, names(r.all))
	}
	// The same failure delivered again, and Stripe's own event for our
	// retry, ask nothing more.
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", ""))
	r.advance(3*day+time.Hour, declined("insufficient_funds"), stillOpen)
	f2 := failedInv("evt_f2", "in_1", 33*day, 2000, "subscription_cycle", "")
	f2.AttemptCount = 2
	r.apply(f2)
	if n := len(of[FetchDecline](r.all)); n != 1 {
		t.Errorf("%d fetches: %s", n, names(r.all))
	}
}

func TestHardDeclineFromStripeNeverRetries(t *testing.T) {
	for _, code := range []string{"stolen_card", "lost_card", "fraudulent"} {
		t.Run(code, func(t *testing.T) {
			r := failing(t, DefaultPolicy(), DeclineResult{DeclineCode: code, Code: "card_declined", Message: "Your card was declined."})
			m := of[SendEmail](r.all)
			var hard []SendEmail
			for _, e := range m {
				switch e.Purpose {
				case PurposeDunningHardDecline:
					hard = append(hard, e)
				case PurposeDunningFirst, PurposeDunningReminder:
					t.Errorf("soft email %+v", e)
				}
			}
			if len(hard) != 1 || hard[0].Vars["reason"] != code {
				t.Fatalf("hard-decline emails %+v", hard)
			}
			if c := r.s.campaign("in_1"); c == nil || !c.HardDecline || c.NextRetryAt != nil || c.Stage() != StageAwaitingCustomer {
				t.Fatalf("campaign %+v", c)
			}
			r.advance(30*day, noCharge(t), stillOpen)
			if n := len(of[RetryCharge](r.all)); n != 0 {
				t.Errorf("%d retries", n)
			}
		})
	}
}

func TestSoftDeclineFromStripeSchedulesRetry(t *testing.T) {
	r := failing(t, DefaultPolicy(), DeclineResult{DeclineCode: "insufficient_funds", Code: "card_declined"})
	m := of[SendEmail](r.all)
	if len(m) == 0 || m[len(m)-1].Purpose != PurposeDunningFirst || m[len(m)-1].Vars["reason"] != "insufficient_funds" {
		t.Fatalf("emails %+v", m)
	}
	c := r.s.campaign("in_1")
	if c == nil || c.NextRetryAt == nil || !c.NextRetryAt.Equal(t0.Add(33*day)) || c.DeclinePending {
		t.Fatalf("campaign %+v", c)
	}
	r.advance(3*day, declined("insufficient_funds"), stillOpen)
	if n := len(of[RetryCharge](r.all)); n != 1 {
		t.Errorf("%d retries by day 33", n)
	}
}

func TestDeclineNotReadIsSoft(t *testing.T) {
	for name, ans := range map[string]DeclineResult{"no key": {Skipped: true}, "no code": {}} {
		t.Run(name, func(t *testing.T) {
			r := failing(t, DefaultPolicy(), ans)
			if !hasPurpose(r.all, PurposeDunningFirst) || hasPurpose(r.all, PurposeDunningHardDecline) {
				t.Fatalf("emails %s", names(r.all))
			}
			if c := r.s.campaign("in_1"); c == nil || c.NextRetryAt == nil {
				t.Fatalf("campaign %+v", c)
			}
		})
	}
}

func TestNothingDecidedUntilTheDeclineIsKnown(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	var fetched []FetchDecline
	r.decline = func(c FetchDecline) DeclineResult { fetched = append(fetched, c); return DeclineResult{} }
	var cmds []Command
	r.s, cmds = ApplySubscription(r.s, failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", ""), r.p, r.now)
	if len(of[FetchDecline](cmds)) != 1 || len(of[SendEmail](cmds)) != 0 {
		t.Fatalf("commands %s", names(cmds))
	}
	c := r.s.campaign("in_1")
	if c == nil || !c.DeclinePending || c.NextRetryAt != nil {
		t.Fatalf("campaign %+v", c)
	}
	for _, tm := range r.s.Timers() {
		if tm.Kind == TimerRetry {
			t.Errorf("retry timer %+v before the decline is known", tm)
		}
	}
	// A hard decline named by a later event wins; the late answer then
	// only clears the fetch.
	r.apply(failedInv("evt_f2", "in_1", 30*day+time.Minute, 2000, "subscription_cycle", "lost_card"))
	s, more := ApplyDecline(r.s, DeclineResult{InvoiceID: "in_1", DeclineCode: "insufficient_funds"}, r.now)
	if c := s.campaign("in_1"); c == nil || !c.HardDecline || c.DeclinePending || c.NextRetryAt != nil || hasPurpose(more, PurposeDunningFirst) {
		t.Fatalf("campaign %+v, commands %s", c, names(more))
	}
	// The invoice paid before the answer: the answer changes nothing.
	r2 := active(t, DefaultPolicy())
	r2.now = t0.Add(30 * day)
	r2.s, _ = ApplySubscription(r2.s, failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", ""), r2.p, r2.now)
	r2.s, _ = ApplySubscription(r2.s, inv("evt_p1", "paid", "in_1", 30*day+time.Hour, 2000, "subscription_cycle"), r2.p, r2.now)
	if _, more := ApplyDecline(r2.s, DeclineResult{InvoiceID: "in_1", DeclineCode: "stolen_card"}, r2.now); len(more) != 0 {
		t.Errorf("answer after payment: %s", names(more))
	}
}

func TestHardDeclineLearnedFromARetry(t *testing.T) {
	r := failing(t, DefaultPolicy(), DeclineResult{Skipped: true})
	r.advance(3*day, declined("stolen_card"), stillOpen)
	if !hasPurpose(r.all, PurposeDunningHardDecline) {
		t.Fatalf("no hard-decline email: %s", names(r.all))
	}
	r.advance(30*day, noCharge(t), stillOpen)
	if n := len(of[RetryCharge](r.all)); n != 1 {
		t.Errorf("%d retries", n)
	}
}

func TestStripeModeFirstFailureAfterDecline(t *testing.T) {
	r := failing(t, stripePolicy(), DeclineResult{DeclineCode: "stolen_card"})
	if !hasPurpose(r.all, PurposeDunningHardDecline) || hasPurpose(r.all, PurposeDunningFirst) {
		t.Fatalf("emails %s", names(r.all))
	}
}

// In stripe mode every Stripe attempt's decline is read once: a soft one
// gets the attempt's reminder, a hard one the update-card email instead.
func TestStripeModeEachAttemptsDecline(t *testing.T) {
	for _, tc := range []struct{ second, want, notWant string }{
		{"insufficient_funds", PurposeDunningReminder, PurposeDunningHardDecline},
		{"lost_card", PurposeDunningHardDecline, PurposeDunningReminder},
	} {
		t.Run(tc.second, func(t *testing.T) {
			answers := []string{"insufficient_funds", tc.second}
			r := active(t, stripePolicy())
			r.decline = func(c FetchDecline) DeclineResult {
				code := answers[0]
				answers = answers[1:]
				return DeclineResult{InvoiceID: c.InvoiceID, DeclineCode: code}
			}
			r.now = t0.Add(30 * day)
			r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", ""))
			if !hasPurpose(r.last, PurposeDunningFirst) {
				t.Fatalf("first failure %s", names(r.last))
			}
			f2 := failedInv("evt_f2", "in_1", 33*day, 2000, "subscription_cycle", "")
			f2.AttemptCount, f2.NextPaymentAttempt = 2, unix(36*day)
			r.apply(f2)
			if !hasPurpose(r.last, tc.want) || hasPurpose(r.last, tc.notWant) {
				t.Fatalf("second attempt %s", names(r.last))
			}
			if tc.want == PurposeDunningReminder {
				m := of[SendEmail](r.last)
				if m[0].DedupeKey != "subscription/"+subID+"/in_1/stripe-attempt-2" || m[0].Vars["reason"] != "insufficient_funds" || m[0].Vars["next_retry"] == "" {
					t.Errorf("reminder %+v", m[0])
				}
			}
			if n := len(of[FetchDecline](r.all)); n != 2 {
				t.Errorf("%d fetches for 2 attempts", n)
			}
			// The same attempt again asks nothing.
			r.apply(f2)
			if n := len(of[FetchDecline](r.all)); n != 2 {
				t.Errorf("%d fetches after a duplicate", n)
			}
		})
	}
}
