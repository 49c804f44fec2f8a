package activities

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Dunning modes and final actions.
const (
	ModePayflow = "payflow" // payflow charges the invoice on its own schedule
	ModeStripe  = "stripe"  // Stripe's Smart Retries charge; payflow communicates and controls access

	FinalCancel = "cancel" // cancel the subscription in Stripe, revoke access
	FinalUnpaid = "unpaid" // keep the subscription, mark it unpaid, revoke access
	FinalNone   = "none"   // leave it past due, access stays suspended
)

// DunningPolicy is how a failed payment is chased. Delays count from the
// first failure.
type DunningPolicy struct {
	Mode        string          `json:"mode"`
	RetryDelays []time.Duration `json:"retry_delays"`
	Grace       time.Duration   `json:"grace"`
	FinalAction string          `json:"final_action"`
}

// DefaultDunningPolicy retries 3, 5 and 7 days after the failure, suspends
// access after 7 days and cancels after the last retry.
func DefaultDunningPolicy() DunningPolicy {
	return DunningPolicy{Mode: ModePayflow, RetryDelays: []time.Duration{72 * time.Hour, 120 * time.Hour, 168 * time.Hour},
		Grace: 168 * time.Hour, FinalAction: FinalCancel}
}

// Validate reports the first thing wrong with the policy.
func (p DunningPolicy) Validate() error {
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

// GetDunningPolicy hands the worker's configured policy to a workflow when
// a campaign starts; the campaign keeps it, so changing the configuration
// never changes a campaign already running.
func (a *Activities) GetDunningPolicy(ctx context.Context) (DunningPolicy, error) {
	p := a.Policy
	if p.Mode == "" {
		p = DefaultDunningPolicy()
	}
	return p, nil
}

// hardDeclines are issuer answers no retry can turn into a payment: the card
// is reported lost or stolen, must be picked up, or the charge was flagged as
// fraud (or the account is closed / the card invalid). Dunning skips straight
// to asking the customer for another card.
var hardDeclines = map[string]bool{
	"stolen_card": true, "lost_card": true, "pickup_card": true, "fraudulent": true,
	"restricted_card": true, "security_violation": true, "invalid_account": true,
	"new_account_information_available": true, "do_not_honor_permanently": true,
	"card_not_supported": true, "invalid_number": true, "expired_card": true,
	"revocation_of_all_authorizations": true, "revocation_of_authorization": true, "stop_payment_order": true,
}

// IsHardDecline reports whether a decline code means retrying is futile.
func IsHardDecline(code string) bool { return hardDeclines[code] }

// HardDeclineCodes lists them, sorted (for the README).
func HardDeclineCodes() []string {
	out := make([]string, 0, len(hardDeclines))
	for c := range hardDeclines {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}
