package billing

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// PlanStep is one step of the dunning timeline a policy gives a failed
// renewal, counted from the failure (After; Known false: Stripe decides
// when). Email is the purpose the step sends, if any.
type PlanStep struct {
	After time.Duration `json:"after"`
	Known bool          `json:"known"`
	What  string        `json:"what"`
	Email string        `json:"email,omitempty"`
	kind  string
}

// Plan kinds, for Warnings.
const (
	planFailure = "failure"
	planRetry   = "retry"
	planSuspend = "suspend"
	planFinal   = "final"
)

// Plan is the timeline of a soft decline (the common case): PlanFor(DeclineSoft).
func (p Policy) Plan() []PlanStep { return p.PlanFor(DeclineSoft) }

// PlanFor is the timeline a campaign under p follows when its first
// failure is in decline category cat and nothing changes it (no payment,
// no new card), in order: day 0 failure, each retry, the suspension, the
// final action, each with the email it sends. It follows the rules of the
// core: in payflow mode the category's schedule (DelaysFor) gives the
// retries, the final action is due at its last retry (at the policy's
// latest retry when the category retries nothing) and supersedes a
// suspension due at the same time or later; in stripe mode Stripe retries
// on its own schedule and its end of the retries (the subscription unpaid
// or canceled, the invoice uncollectible or void) is the final step.
func (p Policy) PlanFor(cat string) []PlanStep {
	first := PlanStep{Known: true, kind: planFailure, What: "payment fails: campaign starts", Email: PurposeDunningFirst}
	var final *PlanStep
	delays := p.RetryDelays
	if p.Mode == ModePayflow && len(p.Schedules) > 0 {
		delays = p.DelaysFor(cat)
	}
	switch {
	case cat == DeclineHard && p.Mode == ModePayflow:
		first.What, first.Email = "payment fails with a hard decline: no retry, the customer is asked for another card", PurposeDunningHardDecline
	case len(delays) == 0 && len(p.Schedules) > 0 && p.Mode == ModePayflow:
		first.What = "payment fails: no automatic retry for this decline, waiting for a new card or payment"
		if cat == DeclineAuthenticationRequired {
			first.What, first.Email = "payment needs authentication (3-D Secure): no retry, the customer confirms it on the hosted invoice page", PurposeActionRequired
		}
	}
	steps := []PlanStep{first}
	switch {
	case p.Mode == ModeStripe:
		steps = append(steps, PlanStep{kind: planRetry, What: "Stripe retries on its own schedule (Smart Retries); each failed attempt", Email: PurposeDunningReminder})
		final = &PlanStep{kind: planFinal, What: "Stripe's retries end (subscription unpaid or canceled, invoice uncollectible or void): campaign ends unrecovered", Email: PurposeDunningFinal}
	case p.payflowRetries():
		end := p.horizon()
		if cat == DeclineHard {
			delays = nil
		}
		if n := len(delays); n > 0 {
			end = delays[n-1]
			for i, d := range delays {
				s := PlanStep{After: d, Known: true, kind: planRetry, What: fmt.Sprintf("retry %d of %d; if it fails", i+1, n), Email: PurposeDunningReminder}
				if i == n-1 {
					s.What, s.Email = fmt.Sprintf("retry %d of %d (the last)", i+1, n), ""
				}
				steps = append(steps, s)
			}
		}
		final = &PlanStep{After: end, Known: true, kind: planFinal,
			What: "final action " + p.FinalAction + " (" + finalMeaning(p.FinalAction) + "), after a re-read of Stripe", Email: PurposeDunningFinal}
	}
	suspend := PlanStep{After: p.Grace, Known: true, kind: planSuspend, What: "grace ends: access suspended, after a re-read of Stripe", Email: PurposeSuspended}
	if final == nil || !final.Known || p.Grace < final.After {
		steps = append(steps, suspend)
	}
	if final != nil {
		steps = append(steps, *final)
	}
	if p.Mode != ModeStripe {
		slices.SortStableFunc(steps, func(a, b PlanStep) int { return cmp.Compare(a.After, b.After) })
	}
	return steps
}

func finalMeaning(action string) string {
	switch action {
	case FinalCancel:
		return "subscription canceled in Stripe, access revoked"
	case FinalUnpaid:
		return "access revoked, subscription kept"
	}
	return "left past due, access stays suspended"
}

// Warnings names the steps of the plan that fall at the same moment (the
// customer gets two emails at once, or one replaces the other) and the
// steps that never happen.
func (p Policy) Warnings() []string {
	var out []string
	if p.Grace == 0 {
		out = append(out, "DUNNING_GRACE is 0: access is suspended the moment the payment fails, with the first-failure email")
	}
	if p.Mode == ModePayflow && p.Grace > 0 {
		// One check per distinct retry schedule: the categories without a
		// schedule of their own share RetryDelays.
		type sched struct {
			name   string
			delays []time.Duration
		}
		var all []sched
		if len(p.Schedules) == 0 {
			all = append(all, sched{"DUNNING_RETRY_DELAYS", p.RetryDelays})
		} else {
			for _, cat := range ScheduledCategories {
				if d := p.DelaysFor(cat); len(d) > 0 {
					all = append(all, sched{cat + " retries", d})
				}
			}
		}
		for _, sc := range all {
			if len(sc.delays) == 0 {
				continue
			}
			last := sc.delays[len(sc.delays)-1]
			switch {
			case p.Grace == last:
				out = append(out, fmt.Sprintf("DUNNING_GRACE (%s) equals the last retry of %s: suspension and final action fall together, so \"access paused\" is never sent on its own; make the grace shorter than the last retry", p.Grace, sc.name))
			case p.Grace > last:
				out = append(out, fmt.Sprintf("DUNNING_GRACE (%s) is after the last retry of %s (%s): the final action comes first and access is never suspended before it", p.Grace, sc.name, last))
			default:
				for i, d := range sc.delays {
					if d == p.Grace {
						out = append(out, fmt.Sprintf("DUNNING_GRACE (%s) equals retry %d of %s: the suspension and the retry's reminder go out together", p.Grace, i+1, sc.name))
					}
				}
			}
		}
	}
	if p.Mode == ModePayflow && !p.payflowRetries() {
		out = append(out, "DUNNING_RETRY_DELAYS is empty in payflow mode: nobody retries the charge and no final action is ever taken")
	}
	return out
}

// FormatAfter reads a step's time: "day 3 (72h0m0s)", or the duration
// alone when it is not a whole number of days.
func FormatAfter(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("day %d (%s)", d/(24*time.Hour), d)
	}
	if d == 0 {
		return "day 0"
	}
	return d.String()
}
