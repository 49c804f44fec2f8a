package billing

import "strconv"

// Decline categories, the recovery metrics' category tag (and how the
// UI details line names a failure).
const (
	DeclineHard                   = "hard"
	DeclineInsufficientFunds      = "insufficient_funds"
	DeclineAuthenticationRequired = "authentication_required"
	DeclineSoft                   = "soft"
)

// DeclineCategory maps a Stripe decline code (docs.stripe.com/declines/codes)
// to its category: hard when the policy lists it as a hard decline;
// insufficient_funds for insufficient_funds and the balance or limit codes
// (card_velocity_exceeded, withdrawal_count_limit_exceeded: "exceeded the
// balance, credit limit, or transaction amount limit"); authentication_required
// for authentication_required (3-D Secure needed, the customer must act);
// soft for anything else, an unknown or missing code included.
func (p Policy) DeclineCategory(code string) string {
	switch {
	case p.IsHardDecline(code):
		return DeclineHard
	case code == "insufficient_funds", code == "card_velocity_exceeded", code == "withdrawal_count_limit_exceeded":
		return DeclineInsufficientFunds
	case code == "authentication_required":
		return DeclineAuthenticationRequired
	}
	return DeclineSoft
}

// DeclineCategory is the campaign's category: what it decided (a hard
// decline, a payment_action_required) first, else its decline code's
// category under its own policy.
func (c Campaign) DeclineCategory() string {
	switch {
	case c.HardDecline:
		return DeclineHard
	case c.ActionRequired:
		return DeclineAuthenticationRequired
	}
	return c.Policy.DeclineCategory(c.DeclineCode)
}

// FailedAttempts is the number of charge attempts of the campaign's invoice
// known to have failed (the first failure counts 1): payflow's retries
// answered, or Stripe's attempt_count.
func (c Campaign) FailedAttempts() int {
	return max(1, 1+c.Attempts, int(c.StripeAttempt))
}

// Recovery describes a campaign that ended recovered, for the metrics.
type Recovery struct {
	Category string
	Attempt  string // failed attempts before recovery: "1", "2", "3", "4+"
	Amount   int64  // minor units
	Currency string
}

// RecoveryOf describes campaign c (as it stood before it ended) recovered
// in s: the amount paid and the attempts come from s's invoice.
func RecoveryOf(c Campaign, s Subscription) Recovery {
	r := Recovery{Category: c.DeclineCategory()}
	n := c.FailedAttempts()
	for _, inv := range s.Invoices {
		if inv.ID == c.InvoiceID {
			r.Amount, r.Currency = cmpOr(inv.AmountPaid, inv.AmountDue), inv.Currency
			n = max(n, int(inv.AttemptCount)-1) // Stripe counts the paying attempt too
		}
	}
	r.Attempt = AttemptBucket(n)
	return r
}

// AttemptBucket caps an attempt number for a metric tag: "1", "2", "3", "4+".
func AttemptBucket(n int) string {
	if n >= 4 {
		return "4+"
	}
	return strconv.Itoa(max(n, 1))
}

func cmpOr(a, b int64) int64 {
	if a != 0 {
		return a
	}
	return b
}
