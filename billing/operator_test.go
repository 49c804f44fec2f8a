package billing

import (
	"strings"
	"testing"
	"time"
)

// operate applies an operation and answers its retries.
func (r *subRun) operate(op Operation, charge func(RetryCharge) ChargeResult) (string, error) {
	s, cmds, done, err := ApplyOperation(r.s, op, r.now)
	if err != nil {
		return "", err
	}
	r.s = s
	r.took(cmds)
	r.answer(cmds, charge, stillOpen)
	return done, nil
}

func softFailing(t *testing.T) *subRun {
	return failing(t, DefaultPolicy(), DeclineResult{DeclineCode: "insufficient_funds"})
}

// Every rejection says why, and changes nothing.
func TestOperationRejectionsExplain(t *testing.T) {
	r := active(t, DefaultPolicy())
	for _, tc := range []struct {
		op   Operation
		want string
	}{
		{Operation{Action: OpRetryNow, By: "ann"}, "no open invoice"},
		{Operation{Action: OpRetryNow}, "say who you are"},
		{Operation{Action: "refund", By: "ann"}, "unknown action"},
		{Operation{Action: OpClearOverride, By: "ann"}, "no manual access decision"},
		{Operation{Action: OpPause, InvoiceID: "in_x", By: "ann"}, "no open campaign for invoice in_x"},
	} {
		err := ValidateOperation(r.s, tc.op)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.op, err, tc.want)
		}
		if _, cmds, _, err := ApplyOperation(r.s, tc.op, r.now); err == nil || len(cmds) != 0 {
			t.Errorf("%+v applied: %s", tc.op, names(cmds))
		}
	}
	s := softFailing(t)
	for _, tc := range []struct {
		op   Operation
		want string
	}{
		{Operation{Action: OpResume, By: "ann"}, "not paused"},
		{Operation{Action: OpExtendGrace, By: "ann"}, "positive duration"},
	} {
		if err := ValidateOperation(s.s, tc.op); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.op, err, tc.want)
		}
	}
	st := failing(t, Policy{Mode: ModeStripe, Grace: 144 * time.Hour, FinalAction: FinalCancel}, DeclineResult{DeclineCode: "generic_decline"})
	if err := ValidateOperation(st.s, Operation{Action: OpRetryNow, By: "ann"}); err == nil || !strings.Contains(err.Error(), "stripe mode") {
		t.Errorf("retry in stripe mode: %v", err)
	}
}

// Retry now charges the invoice at once with the next attempt's key; paid
// recovers as any retry.
func TestOperatorRetryNow(t *testing.T) {
	r := softFailing(t)
	done, err := r.operate(Operation{Action: OpRetryNow, By: "ann", Reason: "customer called"}, paid)
	if err != nil {
		t.Fatal(err)
	}
	rc := of[RetryCharge](r.all)
	if len(rc) != 1 || rc[0].Attempt != 1 || rc[0].IdempotencyKey != "subscription/"+subID+"/in_1/retry-1" {
		t.Fatalf("charges %+v", rc)
	}
	if r.s.campaign("in_1") != nil || !strings.Contains(done, "retried now") {
		t.Fatalf("after the paid retry: %+v, %q", r.s.Campaigns, done)
	}
	if !hasNote(r.all, "operator ann (customer called): invoice in_1 retried now") {
		t.Errorf("timeline lacks the operator: %s", names(r.all))
	}
}

// A paused campaign does nothing; resumed, its steps come as late as the
// pause lasted.
func TestOperatorPauseAndResume(t *testing.T) {
	r := softFailing(t)
	failedAt := r.now
	if _, err := r.operate(Operation{Action: OpPause, By: "ann"}, paid); err != nil {
		t.Fatal(err)
	}
	if len(r.s.Timers()) != 0 || !strings.Contains(r.s.Describe(), "paused by ann") {
		t.Fatalf("paused: timers %v, %s", r.s.Timers(), r.s.Describe())
	}
	r.advance(10*day, noCharge(t), stillOpen)
	if c := r.s.campaign("in_1"); c == nil || c.Suspended || c.Final {
		t.Fatalf("a paused campaign moved: %+v", c)
	}
	if _, err := r.operate(Operation{Action: OpResume, By: "bob"}, paid); err != nil {
		t.Fatal(err)
	}
	c := r.s.campaign("in_1")
	if c.NextRetryAt == nil || !c.NextRetryAt.Equal(failedAt.Add(3*day+10*day)) || !c.GraceEndsAt.Equal(failedAt.Add(6*day+10*day)) {
		t.Fatalf("resumed: next retry %v, grace %v", c.NextRetryAt, c.GraceEndsAt)
	}
}

// Extend grace pushes the suspension; end campaign drops it with no
// further action and hands the invoice back to Stripe.
func TestOperatorExtendGraceAndEnd(t *testing.T) {
	r := softFailing(t)
	grace := r.s.campaign("in_1").GraceEndsAt
	if _, err := r.operate(Operation{Action: OpExtendGrace, Extend: 48 * time.Hour, By: "ann"}, declined("insufficient_funds")); err != nil {
		t.Fatal(err)
	}
	if got := r.s.campaign("in_1").GraceEndsAt; !got.Equal(grace.Add(48 * time.Hour)) {
		t.Fatalf("grace %v, want %v", got, grace.Add(48*time.Hour))
	}
	before := len(r.all)
	if _, err := r.operate(Operation{Action: OpEndCampaign, By: "ann", Reason: "paid by bank transfer"}, paid); err != nil {
		t.Fatal(err)
	}
	cmds := r.all[before:]
	if len(r.s.Campaigns) != 0 || len(of[SendEmail](cmds)) != 0 || len(of[RetryCharge](cmds)) != 0 {
		t.Fatalf("end: campaigns %+v, %s", r.s.Campaigns, names(cmds))
	}
	if len(of[HandBackInvoice](cmds)) != 1 {
		t.Errorf("the taken-over invoice is not handed back: %s", names(cmds))
	}
}

// A manual access decision wins over the subscription until cleared.
func TestOperatorAccessOverride(t *testing.T) {
	r := softFailing(t)
	r.advance(6*day+time.Hour, declined("insufficient_funds"), stillOpen) // grace over: suspended
	if got := effective(rows(r.all), "prod_pro"); got != AccessSuspended {
		t.Fatalf("before: %s", got)
	}
	if _, err := r.operate(Operation{Action: OpGrantAccess, By: "ann", Reason: "goodwill"}, paid); err != nil {
		t.Fatal(err)
	}
	if got := effective(rows(r.all), "prod_pro"); got != AccessGranted {
		t.Fatalf("granted by hand: %s", got)
	}
	if _, err := r.operate(Operation{Action: OpRevokeAccess, By: "ann"}, paid); err != nil {
		t.Fatal(err)
	}
	if got := effective(rows(r.all), "prod_pro"); got != AccessRevoked {
		t.Fatalf("revoked by hand: %s", got)
	}
	if _, err := r.operate(Operation{Action: OpClearOverride, By: "ann"}, paid); err != nil {
		t.Fatal(err)
	}
	if got := effective(rows(r.all), "prod_pro"); got != AccessSuspended {
		t.Fatalf("cleared: %s, want the campaign's suspension back", got)
	}
}
