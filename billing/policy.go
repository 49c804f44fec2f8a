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
}

// DefaultHardDeclines returns a fresh, sorted list of the decline codes
// payflow treats as hard: the card is lost, stolen, closed, invalid, or the
// customer revoked the authorisation (Stripe's decline codes reference,
// docs.stripe.com/declines/codes).
func DefaultHardDeclines() []string {
	return []string{
		"card_not_supported", "do_not_honor_permanently", "expired_card", "fraudulent",
		"invalid_account", "invalid_number", "lost_card", "new_account_information_available",
		"pickup_card", "restricted_card", "revocation_of_all_authorizations",
		"revocation_of_authorization", "security_violation", "stolen_card", "stop_payment_order",
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
		Grace: 144 * time.Hour, FinalAction: FinalCancel, HardDeclines: DefaultHardDeclines()}
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
	for i, d := range p.RetryDelays {
		if d <= 0 || (i > 0 && d <= p.RetryDelays[i-1]) {
			return fmt.Errorf("DUNNING_RETRY_DELAYS must be positive and increasing (they count from the failure), got %v", p.RetryDelays)
		}
	}
	return nil
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
	return p
}
