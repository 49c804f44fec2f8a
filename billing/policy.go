package billing

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Dunning modes and final actions.
const (
	ModePayflow = "payflow" // payflow charges the invoice on its own schedule (RetryCharge)
	ModeStripe  = "stripe"  // Stripe's Smart Retries charge; payflow communicates and controls access

	FinalCancel = "cancel" // cancel the subscription in Stripe; access revoked
	FinalUnpaid = "unpaid" // invoice uncollectible, collection paused (mark_uncollectible); access revoked
	FinalNone   = "none"   // left past due, collection paused (keep_as_draft); access stays suspended
)

// Policy is how a failed payment is chased. A campaign copies the policy
// in force when it starts and keeps it for life, so a configuration change
// (or a deploy that changes the hard-decline list) never alters a campaign
// already running: the functions read the campaign's copy, never a
// package-level table.
type Policy struct {
	Mode string `json:"mode"`
	// RetryDelays count from the failure, increasing (payflow mode).
	RetryDelays []time.Duration `json:"retry_delays,omitempty"`
	// Grace is how long after the failure access stays granted.
	Grace       time.Duration `json:"grace"`
	FinalAction string        `json:"final_action"`
	// HardDeclines are the issuer decline codes no retry can turn into a
	// payment: retries stop and the customer is asked for another card.
	HardDeclines []string `json:"hard_declines,omitempty"`
	// Schedules are the retry delays of the decline categories that do
	// not follow RetryDelays (payflow mode): a schedule without delays
	// means no automatic retry, the campaign waits for the customer (a new
	// card, or paying the hosted invoice) until its final action. Hard
	// declines never retry, whatever is listed. A policy without
	// Schedules (campaigns started before schedules existed included)
	// retries every category but hard on RetryDelays.
	Schedules []DeclineSchedule `json:"schedules,omitempty"`
}

// DeclineSchedule is how a campaign whose first failure falls in Category
// (DeclineSoft, DeclineInsufficientFunds, DeclineAuthenticationRequired)
// retries: Delays count from the failure, increasing; none means payflow
// does not retry and waits for the customer.
type DeclineSchedule struct {
	Category string          `json:"category"`
	Delays   []time.Duration `json:"delays,omitempty"`
}

// ScheduledCategories are the categories a schedule may name, in the order
// payflow prints them. Hard declines are not among them: they never retry
// (their codes are Policy.HardDeclines).
var ScheduledCategories = []string{DeclineSoft, DeclineInsufficientFunds, DeclineAuthenticationRequired}

// DefaultSchedules follow Stripe's own rule for automatic retries
// (docs.stripe.com/billing/revenue-recovery/smart-retries): of the decline
// codes Stripe never retries without a new payment method, the hard ones
// are DefaultHardDeclines and authentication_required is its own
// category — an off-session retry cannot pass 3-D Secure, so payflow waits
// for the customer to authenticate on the hosted invoice page or give
// another card. Soft declines and insufficient funds retry on RetryDelays.
func DefaultSchedules() []DeclineSchedule {
	return []DeclineSchedule{{Category: DeclineAuthenticationRequired}}
}

// DelaysFor is the retry schedule of a campaign whose failure is in
// category cat: none for a hard decline, the category's schedule when the
// policy has one, else RetryDelays.
func (p Policy) DelaysFor(cat string) []time.Duration {
	if cat == DeclineHard {
		return nil
	}
	for _, s := range p.Schedules {
		if s.Category == cat {
			return s.Delays
		}
	}
	return p.RetryDelays
}

// horizon is how long after the failure the final action is due in
// payflow mode: the latest retry of any schedule (0: nobody retries).
func (p Policy) horizon() time.Duration {
	var h time.Duration
	if n := len(p.RetryDelays); n > 0 {
		h = p.RetryDelays[n-1]
	}
	for _, s := range p.Schedules {
		if n := len(s.Delays); n > 0 {
			h = max(h, s.Delays[n-1])
		}
	}
	return h
}

// payflowRetries: payflow charges the invoice itself and takes the final
// action at the horizon.
func (p Policy) payflowRetries() bool { return p.Mode == ModePayflow && p.horizon() > 0 }

// DefaultHardDeclines returns a fresh, sorted list of the decline codes
// payflow treats as hard: the card is lost, stolen, closed, invalid, or the
// customer revoked the authorisation (Stripe's decline codes reference,
// docs.stripe.com/declines/codes). It holds every code Stripe's Smart
// Retries never retry without a new payment method (incorrect_number,
// lost_card, pickup_card, stolen_card, revocation_of_authorization,
// revocation_of_all_authorizations, highest_risk_level,
// transaction_not_allowed) but authentication_required, which is its own
// category (DefaultSchedules).
func DefaultHardDeclines() []string {
	return []string{
		"card_not_supported", "do_not_honor_permanently", "expired_card", "fraudulent",
		"highest_risk_level", "incorrect_number", "invalid_account", "invalid_number", "lost_card",
		"new_account_information_available", "pickup_card", "restricted_card",
		"revocation_of_all_authorizations", "revocation_of_authorization", "security_violation",
		"stolen_card", "stop_payment_order", "transaction_not_allowed",
	}
}

// DefaultPolicy retries 3, 5 and 7 days after the failure (Stripe's own
// example of a custom schedule: a few tries over about a week), suspends
// access after 6 days — after the second retry, a day before the last, so
// "access paused" is its own warning — and cancels after the last retry
// fails on day 7. Every step falls at its own moment (Policy.Warnings is
// empty); Plan prints it.
func DefaultPolicy() Policy {
	return Policy{Mode: ModePayflow, RetryDelays: []time.Duration{72 * time.Hour, 120 * time.Hour, 168 * time.Hour},
		Grace: 144 * time.Hour, FinalAction: FinalCancel, HardDeclines: DefaultHardDeclines(), Schedules: DefaultSchedules()}
}

// IsHardDecline reports whether the policy treats code as a hard decline.
func (p Policy) IsHardDecline(code string) bool {
	return code != "" && slices.Contains(p.HardDeclines, code)
}

// Validate reports the first thing wrong with the policy.
func (p Policy) Validate() error {
	if p.Mode != ModePayflow && p.Mode != ModeStripe {
		return fmt.Errorf("DUNNING_MODE must be payflow or stripe, got %q", p.Mode)
	}
	switch p.FinalAction {
	case FinalCancel, FinalUnpaid, FinalNone:
	default:
		return fmt.Errorf("DUNNING_FINAL_ACTION must be cancel, unpaid or none, got %q", p.FinalAction)
	}
	if p.Grace < 0 {
		return fmt.Errorf("DUNNING_GRACE must not be negative")
	}
	if !increasing(p.RetryDelays) {
		return fmt.Errorf("DUNNING_RETRY_DELAYS must be positive and increasing (they count from the failure), got %v", p.RetryDelays)
	}
	for i, sc := range p.Schedules {
		if !slices.Contains(ScheduledCategories, sc.Category) {
			return fmt.Errorf("DUNNING_SCHEDULE: unknown decline category %q (want %s; hard declines never retry)",
				sc.Category, strings.Join(ScheduledCategories, ", "))
		}
		if slices.ContainsFunc(p.Schedules[:i], func(o DeclineSchedule) bool { return o.Category == sc.Category }) {
			return fmt.Errorf("DUNNING_SCHEDULE names %s twice", sc.Category)
		}
		if !increasing(sc.Delays) {
			return fmt.Errorf("DUNNING_SCHEDULE: %s delays must be positive and increasing (they count from the failure), got %v", sc.Category, sc.Delays)
		}
	}
	return nil
}

func increasing(ds []time.Duration) bool {
	for i, d := range ds {
		if d <= 0 || (i > 0 && d <= ds[i-1]) {
			return false
		}
	}
	return true
}

// ParseSchedules reads DUNNING_SCHEDULE: entries separated by ";", each
// "category=delays" where delays are as ParseDelays reads them, or "none"
// (no automatic retry: wait for the customer). Example:
// "insufficient_funds=96h,168h; soft=24h,72h,168h; authentication_required=none".
// The entries come back in ScheduledCategories order.
func ParseSchedules(s string) ([]DeclineSchedule, error) {
	var out []DeclineSchedule
	for _, entry := range strings.Split(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		cat, list, ok := strings.Cut(entry, "=")
		cat, list = strings.TrimSpace(cat), strings.TrimSpace(list)
		if !ok || cat == "" || list == "" {
			return nil, fmt.Errorf("bad entry %q: want category=delays or category=none", entry)
		}
		sc := DeclineSchedule{Category: cat}
		if list != "none" {
			d, err := ParseDelays(list)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", cat, err)
			}
			if len(d) == 0 {
				return nil, fmt.Errorf("%s: no delays (write none for no retry)", cat)
			}
			sc.Delays = d
		}
		out = append(out, sc)
	}
	slices.SortStableFunc(out, func(a, b DeclineSchedule) int {
		return slices.Index(ScheduledCategories, a.Category) - slices.Index(ScheduledCategories, b.Category)
	})
	return out, nil
}

// FormatSchedules is the inverse of ParseSchedules.
func FormatSchedules(ss []DeclineSchedule) string {
	var parts []string
	for _, sc := range ss {
		parts = append(parts, sc.Category+"="+FormatDelays(sc.Delays))
	}
	return strings.Join(parts, "; ")
}

// FormatDelays reads delays back as "72h,120h" ("none" when empty).
func FormatDelays(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = shortDuration(d)
	}
	return strings.Join(parts, ",")
}

// shortDuration prints 72h rather than 72h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParseDelays reads "72h,120h,168h".
func ParseDelays(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil {
			return nil, fmt.Errorf("bad duration %q: %w", part, err)
		}
		out = append(out, d)
	}
	return out, nil
}

func (p Policy) clone() Policy {
	p.RetryDelays = slices.Clone(p.RetryDelays)
	p.HardDeclines = slices.Clone(p.HardDeclines)
	if p.Schedules != nil {
		ss := make([]DeclineSchedule, len(p.Schedules))
		for i, sc := range p.Schedules {
			ss[i] = DeclineSchedule{Category: sc.Category, Delays: slices.Clone(sc.Delays)}
		}
		p.Schedules = ss
	}
	return p
}
