package billing

import (
	"fmt"
	"strings"
	"time"
)

// Describe is the one line the Temporal UI shows for the subscription.
func (s Subscription) Describe() string {
	parts := []string{fmt.Sprintf("%s: %s", s.ID, firstNonEmpty(s.Status, "waiting for its first snapshot"))}
	if s.PauseCollection != "" {
		parts = append(parts, "collection paused ("+s.PauseCollection+")")
	}
	for _, c := range s.Campaigns {
		parts = append(parts, c.describe())
	}
	if o := s.AccessOverride; o != nil {
		parts = append(parts, "access "+o.Access+" by hand ("+o.By+", "+formatUTC(o.At)+")")
	}
	if len(s.Campaigns) == 0 && s.CurrentPeriodEnd > 0 && !s.Terminal() {
		verb := "renews"
		if s.CancelAtPeriodEnd {
			verb = "ends"
		}
		parts = append(parts, verb+" "+FormatDate(time.Unix(s.CurrentPeriodEnd, 0)))
	}
	return strings.Join(parts, "; ")
}

// Describe is the one line the Temporal UI shows for the order.
func (o Order) Describe() string {
	if o.Invoice != nil {
		return o.Invoice.describe(o.ID)
	}
	line := fmt.Sprintf("order %s: %s", o.ID, o.Status())
	if o.Paid {
		line += fmt.Sprintf(" (%s, %s)", FormatAmount(o.Amount, o.Currency), strings.Join(o.ProductsBought(), ", "))
	}
	if o.AmountRefunded > 0 {
		line += "; refunded " + FormatAmount(o.AmountRefunded, o.Currency)
	}
	if o.Dispute != nil {
		line += "; dispute " + o.Dispute.String()
	}
	return line
}

// Describe is the one line the Temporal UI shows for the dispute.
func (d Dispute) Describe() string {
	line := fmt.Sprintf("dispute %s: %s (%s, %s)", d.ID, d.Status(), FormatAmount(d.Amount, d.Currency), d.Reason)
	if d.EvidenceDueBy > 0 && !d.Closed() {
		line += "; evidence due " + formatUnix(d.EvidenceDueBy)
	}
	if d.EvidenceSubmittedAt != nil {
		line += "; evidence submitted (" + d.EvidenceSubmittedBy + ", " + formatUTC(*d.EvidenceSubmittedAt) + ")"
	}
	if d.FundsWithdrawn {
		line += "; funds withdrawn"
	}
	if d.FundsReinstated {
		line += ", reinstated"
	}
	if d.Owner != "" {
		line += "; payment of " + d.Owner
	}
	return line
}

// describe is the campaign's part of the details line: the failure and
// why, what happened since, then what comes next with its date (UTC).
func (c Campaign) describe() string {
	p := []string{fmt.Sprintf("invoice %s failed %s (%s)", c.InvoiceID, formatUTC(c.FailedAt), c.declineWhy())}
	// What happened.
	switch {
	case c.Policy.Mode == ModeStripe && c.StripeAttempt == 2:
		p = append(p, "Stripe attempt 2 failed")
	case c.Policy.Mode == ModeStripe && c.StripeAttempt > 2:
		p = append(p, fmt.Sprintf("Stripe attempts 2-%d failed", c.StripeAttempt))
	case c.Attempts == 1:
		p = append(p, "retry 1 failed")
	case c.Attempts > 1:
		p = append(p, fmt.Sprintf("retries 1-%d failed", c.Attempts))
	}
	if c.Suspended {
		p = append(p, "access suspended")
	}
	if c.Final {
		if c.Policy.Mode == ModeStripe {
			return strings.Join(append(p, "Stripe's retries ended unrecovered"), ", ")
		}
		return strings.Join(append(p, "final action "+c.Policy.FinalAction+" taken"), ", ")
	}
	// What comes next.
	if c.PausedAt != nil {
		return strings.Join(append(p, "paused by "+c.PausedBy+" since "+formatUTC(*c.PausedAt)+": nothing happens until resumed"), ", ")
	}
	switch {
	case c.DeclinePending:
		p = append(p, "asking Stripe why")
	case c.ChargePending > 0:
		p = append(p, fmt.Sprintf("retry %d of %d charging", c.ChargePending, len(c.retryDelays())))
	case c.ActionRequired:
		p = append(p, "waiting for the customer to authenticate")
	case c.HardDecline:
		p = append(p, "waiting for a new card")
	case c.waitsForCustomer():
		p = append(p, "no automatic retry for this decline: waiting for a new card or payment")
	case c.NextRetryAt != nil:
		p = append(p, fmt.Sprintf("retry %d of %d on %s", c.Attempts+1, len(c.retryDelays()), formatUTC(*c.NextRetryAt)))
	case c.Policy.Mode == ModeStripe:
		p = append(p, "Stripe is retrying")
	}
	if !c.Suspended {
		p = append(p, "access suspended from "+formatUTC(c.GraceEndsAt))
	}
	if c.FinalAt != nil {
		p = append(p, "final action "+c.Policy.FinalAction+" on "+formatUTC(*c.FinalAt))
	}
	return strings.Join(p, ", ")
}

// declineWhy names the failure: its category and, when it says more, the
// decline code.
func (c Campaign) declineWhy() string {
	if c.DeclinePending {
		return "decline pending"
	}
	cat := c.DeclineCategory()
	if c.DeclineCode == "" || c.DeclineCode == cat {
		return cat
	}
	return cat + ": " + c.DeclineCode
}

// formatUTC is FormatDate with its time zone stated.
func formatUTC(t time.Time) string { return FormatDate(t) + " UTC" }
