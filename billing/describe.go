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
		p := []string{fmt.Sprintf("invoice %s failed %s", c.InvoiceID, FormatDate(c.FailedAt))}
		switch {
		case c.Final && c.Policy.Mode == ModeStripe:
			p = append(p, "Stripe's retries ended unrecovered")
		case c.Final:
			p = append(p, "final action "+c.Policy.FinalAction+" taken")
		case c.ActionRequired:
			p = append(p, "waiting for the customer to authenticate")
		case c.HardDecline:
			p = append(p, "hard decline ("+c.DeclineCode+"): waiting for a new card")
		case c.NextRetryAt != nil:
			p = append(p, fmt.Sprintf("retry %d of %d on %s", c.Attempts+1, len(c.Policy.RetryDelays), FormatDate(*c.NextRetryAt)))
		case c.Policy.Mode == ModeStripe:
			p = append(p, "Stripe is retrying")
		}
		if c.Suspended {
			p = append(p, "access suspended")
		} else if !c.Final {
			p = append(p, "access suspended from "+FormatDate(c.GraceEndsAt))
		}
		parts = append(parts, strings.Join(p, ", "))
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
