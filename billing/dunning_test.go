package billing

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// active is a live subscription for prod_pro with its first invoice paid.
func active(t *testing.T, p Policy) *subRun {
	return newSubRun(t, p).apply(
		snap("evt_c", "created", StatusActive, 0, "prod_pro"),
		inv("evt_i0", "paid", "in_0", 0, 2000, "subscription_create"),
	)
}

func TestOneCampaignPerUnpaidInvoice(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	r.now = t0.Add(31 * day)
	r.apply(failedInv("evt_f2", "in_2", 31*day, 700, "manual", "insufficient_funds"))
	if len(r.s.Campaigns) != 2 || r.s.Campaigns[0].InvoiceID != "in_1" || r.s.Campaigns[1].InvoiceID != "in_2" {
		t.Fatalf("campaigns %+v", r.s.Campaigns)
	}
	if !r.s.Campaigns[0].FailedAt.Equal(t0.Add(30*day)) || r.s.Campaigns[0].NextRetryAt == nil {
		t.Errorf("the first campaign was replaced: %+v", r.s.Campaigns[0])
	}
	m := of[SendEmail](r.last)
	if len(m) != 1 || m[0].Purpose != PurposeDunningFirst || m[0].Vars["invoice_id"] != "in_2" || m[0].Vars["amount"] != "7.00 USD" {
		t.Errorf("second campaign's email %+v", m)
	}
	// Paying the second ends only its own campaign.
	r.apply(inv("evt_p2", "paid", "in_2", 32*day, 700, "manual"))
	if len(r.s.Campaigns) != 1 || r.s.Campaigns[0].InvoiceID != "in_1" {
		t.Errorf("campaigns after paying in_2: %+v", r.s.Campaigns)
	}
	retries := of[RetryCharge](r.advance(5*day, declined("insufficient_funds"), stillOpen).all)
	if len(retries) == 0 || retries[0].InvoiceID != "in_1" || retries[0].IdempotencyKey != "subscription/sub_1/in_1/retry-1" {
		t.Errorf("the first campaign did not continue: %+v", retries)
	}
}

func TestPaidProrationInvoiceDoesNotEndCampaign(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	proration := inv("evt_p", "paid", "in_up", 31*day, 1250, "subscription_update")
	proration.AttemptCount = 1
	r.apply(proration)
	if len(r.s.Campaigns) != 1 || r.s.Campaigns[0].InvoiceID != "in_1" {
		t.Fatalf("campaign ended by another invoice: %+v", r.s.Campaigns)
	}
	if hasPurpose(r.last, PurposeRecovered) {
		t.Errorf("'recovered' sent while in_1 is unpaid: %v", emailKeys(r.last))
	}
	m := of[SendEmail](r.last)
	if len(m) != 1 || m[0].Purpose != PurposeInvoiceReceipt || m[0].Vars["invoice_id"] != "in_up" || m[0].Vars["amount"] != "12.50 USD" {
		t.Errorf("receipt for the proration must quote its own invoice and amount: %+v", m)
	}
	if r.s.DunningStage() != StageRetrying {
		t.Errorf("stage %s", r.s.DunningStage())
	}
}

// shortGrace suspends after 5 days, with the second retry (which runs
// first), before the third.
func shortGrace() Policy {
	p := DefaultPolicy()
	p.Grace = 5 * day
	return p
}

func TestPayflowCampaignRetriesSuspendsAndCancels(t *testing.T) {
	r := active(t, shortGrace())
	r.now = t0.Add(30 * day)
	r.apply(snap("evt_u", "updated", StatusPastDue, 30*day, "prod_pro"),
		failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	if sa := lastSearch(t, r.all); sa.Status != StatusPastDue || sa.DunningStage != StageRetrying {
		t.Errorf("search %+v", sa)
	}
	if got := effective(rows(r.all), "prod_pro"); got != AccessGranted {
		t.Errorf("access during grace %s", got)
	}
	r.advance(6*day, declined("insufficient_funds"), stillOpen)
	if got := effective(rows(r.all), "prod_pro"); got != AccessSuspended {
		t.Errorf("access after grace %s", got)
	}
	r.advance(2*day, declined("insufficient_funds"), stillOpen)
	keys := of[RetryCharge](r.all)
	if len(keys) != 3 || keys[2].IdempotencyKey != "subscription/sub_1/in_1/retry-3" {
		t.Errorf("retries %+v", keys)
	}
	want := []string{
		"dunning_first_failure subscription/sub_1/in_1/first-failure",
		"dunning_reminder subscription/sub_1/in_1/reminder-1",
		"dunning_reminder subscription/sub_1/in_1/reminder-2",
		"access_suspended subscription/sub_1/in_1/suspended",
		"dunning_final_notice subscription/sub_1/in_1/final",
	}
	var got []string
	for _, k := range emailKeys(r.all) {
		if strings.Contains(k, "in_1") {
			got = append(got, k)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("emails\n got %v\nwant %v", got, want)
	}
	if c := of[CancelSubscription](r.all); len(c) != 1 || c[0].IdempotencyKey != "subscription/sub_1/in_1/cancel" {
		t.Errorf("cancel %+v", c)
	}
	if got := effective(rows(r.all), "prod_pro"); got != AccessRevoked || r.s.DunningStage() != StageFinal {
		t.Errorf("after the final action: access %s, stage %s", got, r.s.DunningStage())
	}
	if len(r.s.Timers()) != 0 {
		t.Errorf("timers left: %v", r.s.Timers())
	}
	r.apply(snap("evt_d", "deleted", StatusCanceled, 37*day, "prod_pro"))
	if sa := lastSearch(t, r.all); sa.Status != StatusCanceled || sa.DunningStage != StageNone {
		t.Errorf("search after deletion %+v", sa)
	}
}

func TestRecoveryRestoresAccessAndStageGoesBackToNone(t *testing.T) {
	r := active(t, shortGrace())
	r.now = t0.Add(30 * day)
	r.apply(snap("evt_u", "updated", StatusPastDue, 30*day, "prod_pro"),
		failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	r.advance(5*day+time.Hour, declined("insufficient_funds"), stillOpen)
	if sa := lastSearch(t, r.all); sa.Status != StatusPastDue || sa.DunningStage != StageSuspended {
		t.Fatalf("search while suspended %+v (PayflowStatus must stay past_due)", sa)
	}
	r.apply(inv("evt_p", "paid", "in_1", 35*day+2*time.Hour, 2000, "subscription_cycle"),
		snap("evt_u2", "updated", StatusActive, 35*day+2*time.Hour, "prod_pro"))
	if got := effective(rows(r.all), "prod_pro"); got != AccessGranted {
		t.Errorf("access after recovery %s", got)
	}
	if sa := lastSearch(t, r.all); sa.Status != StatusActive || sa.DunningStage != StageNone {
		t.Errorf("search after recovery %+v", sa)
	}
	if !hasPurpose(r.all, PurposeRecovered) || r.s.Recovered != 1 || len(r.s.Timers()) != 0 {
		t.Errorf("recovered %d, timers %v", r.s.Recovered, r.s.Timers())
	}
	if recs := of[RecordSubscription](r.all); recs[len(recs)-1].DunningStage != StageNone {
		t.Errorf("recorded stage %s", recs[len(recs)-1].DunningStage)
	}
}

func TestHardDeclineStopsRetries(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "stolen_card"))
	if c := r.s.Campaigns[0]; !c.HardDecline || c.NextRetryAt != nil || c.Stage() != StageAwaitingCustomer {
		t.Fatalf("campaign %+v", c)
	}
	if got := purposesOf(r.last); !slices.Equal(got, []string{PurposeDunningHardDecline}) {
		t.Errorf("emails %v", got)
	}
	r.advance(10*day, declined("x"), stillOpen)
	if n := len(of[RetryCharge](r.all)); n != 0 {
		t.Errorf("%d retries after a hard decline", n)
	}
	if len(of[CancelSubscription](r.all)) != 1 {
		t.Errorf("no final action at the end of the schedule")
	}
}

func TestPolicyIsCarriedByTheCampaign(t *testing.T) {
	p := DefaultPolicy()
	p.HardDeclines = []string{"do_not_honor"}
	r := active(t, p)
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	r.p = DefaultPolicy() // the configuration changes while the campaign runs
	r.p.RetryDelays = []time.Duration{time.Hour}
	r.apply(failedInv("evt_f2", "in_1", 30*day+time.Hour, 2000, "subscription_cycle", "do_not_honor"))
	if c := r.s.Campaigns[0]; !c.HardDecline || len(c.Policy.RetryDelays) != 3 {
		t.Errorf("the campaign must keep its own policy: %+v", c)
	}
}

func TestInvoiceVoidedOrUncollectibleEndsItsCampaign(t *testing.T) {
	for _, typ := range []string{"voided", "marked_uncollectible"} {
		t.Run(typ, func(t *testing.T) {
			r := active(t, shortGrace())
			r.now = t0.Add(30 * day)
			r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"),
				failedInv("evt_f2", "in_2", 30*day, 500, "manual", "insufficient_funds"))
			r.advance(5*day+time.Hour, declined("insufficient_funds"), stillOpen)
			if got := effective(rows(r.all), "prod_pro"); got == AccessGranted {
				t.Fatalf("not suspended before the test: %s", got)
			}
			r.apply(inv("evt_v", typ, "in_1", 36*day, 2000, "subscription_cycle"))
			if len(r.s.Campaigns) != 1 || r.s.Campaigns[0].InvoiceID != "in_2" {
				t.Errorf("campaigns %+v", r.s.Campaigns)
			}
			if cancel := of[CancelTimers](r.last); len(cancel) != 1 || cancel[0].Campaign != "in_1" {
				t.Errorf("timers of in_1 not cancelled: %+v", cancel)
			}
			if len(of[SendEmail](r.last)) != 0 {
				t.Errorf("emails on %s: %v", typ, emailKeys(r.last))
			}
			r.apply(inv("evt_v2", typ, "in_2", 36*day, 500, "manual"))
			if got := effective(rows(r.all), "prod_pro"); got != AccessGranted || r.s.DunningStage() != StageNone {
				t.Errorf("after both ended: access %s, stage %s", got, r.s.DunningStage())
			}
		})
	}
}

func TestRecheckSeesPaymentBeforeSuspending(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	paidInStripe := func(c RecheckInvoice) RecheckResult {
		return RecheckResult{InvoiceID: c.InvoiceID, Step: c.Step, InvoiceStatus: InvoicePaid, SubscriptionStatus: StatusActive}
	}
	r.advance(8*day, declined("insufficient_funds"), paidInStripe)
	if hasPurpose(r.all, PurposeSuspended) || len(r.s.Campaigns) != 0 {
		t.Errorf("suspended a payer: %v", emailKeys(r.all))
	}
	if i, _ := r.s.Invoice("in_1"); i.Status != InvoicePaid || i.AmountPaid != 2000 {
		t.Errorf("invoice %+v", i)
	}
	// Stripe's own invoice.paid arrives later: no second email.
	r.apply(inv("evt_p", "paid", "in_1", 37*day, 2000, "subscription_cycle"))
	if len(of[SendEmail](r.last)) != 0 {
		t.Errorf("second email for one payment: %v", emailKeys(r.last))
	}
}

func TestRetrySucceeds(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	ok := func(c RetryCharge) ChargeResult {
		return ChargeResult{InvoiceID: c.InvoiceID, Attempt: c.Attempt, Paid: true}
	}
	r.advance(4*day, ok, stillOpen)
	if len(r.s.Campaigns) != 0 || r.s.Recovered != 1 || !hasPurpose(r.all, PurposeRecovered) {
		t.Errorf("retry success not a recovery: %+v", r.s.Campaigns)
	}
	// A stale result of the same attempt changes nothing.
	s, cmds := ApplyChargeResult(r.s, ChargeResult{InvoiceID: "in_1", Attempt: 1, Paid: true}, r.now)
	if len(cmds) != 0 || s.Recovered != 1 {
		t.Errorf("stale charge result acted: %s", names(cmds))
	}
}

func TestStripeModeRemindsPerAttempt(t *testing.T) {
	p := DefaultPolicy()
	p.Mode = ModeStripe
	r := active(t, p)
	r.now = t0.Add(30 * day)
	f1 := failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds")
	f1.NextPaymentAttempt = unix(33 * day)
	r.apply(f1)
	if m := of[SendEmail](r.last); len(m) != 1 || m[0].Vars["next_retry"] == "" {
		t.Errorf("first failure %+v", m)
	}
	f2 := failedInv("evt_f2", "in_1", 33*day, 2000, "subscription_cycle", "insufficient_funds")
	f2.AttemptCount = 2
	r.apply(f2, f2) // the duplicate is ignored
	r.apply(func() Event { e := f2; e.ID = "evt_f2b"; return e }())
	var reminders []string
	for _, k := range emailKeys(r.all) {
		if strings.HasPrefix(k, PurposeDunningReminder) {
			reminders = append(reminders, k)
		}
	}
	if !slices.Equal(reminders, []string{"dunning_reminder subscription/sub_1/in_1/stripe-attempt-2"}) {
		t.Errorf("reminders %v", reminders)
	}
	if n := len(of[RetryCharge](r.advance(10*day, declined("x"), stillOpen).all)); n != 0 {
		t.Errorf("payflow charged in stripe mode: %d", n)
	}
}

func TestActionRequiredAsksToAuthenticate(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	r.apply(inv("evt_a", "payment_action_required", "in_1", 30*day, 2000, "subscription_cycle"))
	c := r.s.Campaigns[0]
	if !c.ActionRequired || c.NextRetryAt != nil || c.Stage() != StageAwaitingCustomer {
		t.Errorf("campaign %+v", c)
	}
	if m := of[SendEmail](r.last); len(m) != 1 || m[0].Purpose != PurposeActionRequired || m[0].Vars["hosted_url"] == "" {
		t.Errorf("email %+v", m)
	}
}

func TestCancellationEndsCampaignsSilently(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"),
		snap("evt_d", "deleted", StatusCanceled, 31*day, "prod_pro"))
	if len(r.s.Campaigns) != 0 || len(r.s.Timers()) != 0 || len(of[SendEmail](r.last)) != 0 {
		t.Errorf("campaign left or emails after cancellation: %s", names(r.last))
	}
	r.advance(30*day, declined("x"), stillOpen)
	if n := len(of[RetryCharge](r.all)); n != 0 {
		t.Errorf("%d retries after cancellation", n)
	}
}

func TestStaleTimerIsNoOp(t *testing.T) {
	r := active(t, DefaultPolicy())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	early := Timer{Campaign: "in_1", Kind: TimerRetry, At: r.now}
	if _, cmds := FireSubscriptionTimer(r.s, early, r.now.Add(time.Hour)); len(cmds) != 0 {
		t.Errorf("a retry before its time: %s", names(cmds))
	}
	if _, cmds := FireSubscriptionTimer(r.s, Timer{Campaign: "in_9", Kind: TimerGrace}, r.now.Add(99*day)); len(cmds) != 0 {
		t.Errorf("timer of an unknown campaign acted: %s", names(cmds))
	}
}

func TestFinalActions(t *testing.T) {
	for _, tc := range []struct{ action, access, stage string }{
		{FinalCancel, AccessRevoked, StageFinal},
		{FinalUnpaid, AccessRevoked, StageFinal},
		{FinalNone, AccessSuspended, StageFinal},
	} {
		t.Run(tc.action, func(t *testing.T) {
			p := DefaultPolicy()
			p.FinalAction, p.Grace = tc.action, 30*day // grace outlasts the retries
			r := active(t, p)
			r.now = t0.Add(30 * day)
			r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
			r.advance(8*day, declined("insufficient_funds"), stillOpen)
			if got := effective(rows(r.all), "prod_pro"); got != tc.access || r.s.DunningStage() != tc.stage {
				t.Errorf("access %s stage %s", got, r.s.DunningStage())
			}
			if (len(of[CancelSubscription](r.all)) == 1) != (tc.action == FinalCancel) || r.s.Unrecovered != 1 {
				t.Errorf("cancel commands %v, unrecovered %d", of[CancelSubscription](r.all), r.s.Unrecovered)
			}
			if tc.action != FinalCancel { // a late payment still recovers
				r.apply(inv("evt_p", "paid", "in_1", 50*day, 2000, "subscription_cycle"))
				if got := effective(rows(r.all), "prod_pro"); got != AccessGranted || !hasPurpose(r.last, PurposeRecovered) {
					t.Errorf("late payment: access %s", got)
				}
			}
		})
	}
}

func TestSendInvoiceFailureIsNotDunned(t *testing.T) {
	r := active(t, DefaultPolicy())
	f := failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds")
	f.CollectionMethod = "send_invoice"
	r.apply(f)
	if len(r.s.Campaigns) != 0 || len(of[SendEmail](r.last)) != 0 {
		t.Errorf("send_invoice dunned: %s", names(r.last))
	}
}

func TestRecheckFindsSubscriptionCanceledInStripe(t *testing.T) {
	r := active(t, shortGrace())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	canceled := func(c RecheckInvoice) RecheckResult {
		return RecheckResult{InvoiceID: c.InvoiceID, Step: c.Step, InvoiceStatus: InvoiceOpen, SubscriptionStatus: StatusCanceled}
	}
	r.advance(20*day, declined("insufficient_funds"), canceled) // would loop if the grace timer came back
	if hasPurpose(r.all, PurposeSuspended) || hasPurpose(r.all, PurposeDunningFinal) || len(of[CancelSubscription](r.all)) != 0 {
		t.Errorf("acted on a subscription Stripe canceled: %v", emailKeys(r.all))
	}
	if n := len(of[RecheckInvoice](r.all)); n > 2 {
		t.Errorf("%d re-reads", n)
	}
	r.apply(snap("evt_d", "deleted", StatusCanceled, 50*day, "prod_pro"))
	if len(r.s.Campaigns) != 0 || effective(rows(r.all), "prod_pro") != AccessRevoked {
		t.Errorf("after Stripe's event: %+v", r.s.Campaigns)
	}
}

func TestStateSurvivesJSONRoundTrip(t *testing.T) {
	r := active(t, shortGrace())
	r.now = t0.Add(30 * day)
	r.apply(failedInv("evt_f1", "in_1", 30*day, 2000, "subscription_cycle", "insufficient_funds"))
	r.advance(4*day, declined("insufficient_funds"), stillOpen)
	b, err := json.Marshal(r.s)
	if err != nil {
		t.Fatal(err)
	}
	var back Subscription
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Timers(), r.s.Timers()) || back.DunningStage() != r.s.DunningStage() {
		t.Fatalf("timers %v / %v", back.Timers(), r.s.Timers())
	}
	copyRun := &subRun{t: t, s: back, p: r.p, now: r.now}
	r.advance(10*day, declined("insufficient_funds"), stillOpen)
	copyRun.advance(10*day, declined("insufficient_funds"), stillOpen)
	if effects(r.all[len(r.all)-len(copyRun.all):], true) != effects(copyRun.all, true) {
		t.Errorf("the round-tripped state behaves differently")
	}
}
