package billing

// In stripe mode Stripe's Smart Retries charge, and what Stripe does when
// they run out is set in its Dashboard (Billing > Revenue recovery >
// Retries: cancel the subscription, mark it unpaid or leave it past due;
// mark the invoice uncollectible or leave it past due;
// docs.stripe.com/billing/revenue-recovery/smart-retries). payflow learns
// it from the events: the subscription's snapshot turns unpaid or
// canceled, or the campaign's invoice is marked uncollectible or voided.
// Each ends the campaign as payflow's own final action would: a final
// notice (once: the dedupe key <invoice>/final), the campaign counted
// unrecovered, stage final, its timers gone. The stage then follows the
// status: unpaid keeps the final campaign (a late payment still recovers);
// canceled ends every campaign (stage none); an invoice settled in Stripe
// ends its own.

// stripeEndsCampaigns ends every running stripe-mode campaign when a
// snapshot says Stripe gave up on the subscription (unpaid, canceled).
func (st *subStep) stripeEndsCampaigns(status string) {
	var sentence string
	switch status {
	case StatusUnpaid:
		sentence = "Your access has ended until the invoice is paid."
	case StatusCanceled:
		sentence = "Your subscription has been canceled."
	default:
		return
	}
	ended := false
	for i := range st.s.Campaigns {
		c := &st.s.Campaigns[i]
		if c.Policy.Mode != ModeStripe || c.Final {
			continue
		}
		st.stripeFinal(c, "Stripe's retries ended: subscription "+status, sentence, false)
		ended = true
	}
	if ended {
		st.showFinal()
	}
}

// stripeSettled ends a stripe-mode campaign whose invoice Stripe marked
// uncollectible or voided. It reports whether it did; the caller ends the
// campaign itself otherwise (payflow mode).
func (st *subStep) stripeSettled(id, status string) bool {
	c := st.s.campaign(id)
	if c == nil || c.Policy.Mode != ModeStripe || c.Final {
		return false
	}
	switch status {
	case InvoiceUncollectible:
		st.stripeFinal(c, "Stripe's retries ended: invoice uncollectible",
			"We will not try to charge it again.", false)
	case InvoiceVoid:
		st.stripeFinal(c, "Stripe's retries ended: invoice voided",
			"The invoice was voided: nothing more will be charged for it.", true)
	default:
		return false
	}
	st.showFinal()
	st.endCampaign(id, "invoice "+status)
	return true
}

// stripeFinal marks the campaign final, counts it unrecovered and sends
// the final notice (noPayment: the invoice can no longer be paid, so the
// notice has no payment link).
func (st *subStep) stripeFinal(c *Campaign, why, sentence string, noPayment bool) {
	c.Final, c.NextRetryAt, c.FinalAt, c.SuspendPending, c.FinalPending, c.ChargePending = true, nil, nil, false, false, 0
	st.s.Unrecovered++
	vars := st.campaignVars(c)
	vars["final"] = sentence
	if noPayment {
		vars["no_payment"] = "true"
	}
	st.note("campaign for invoice %s ended unrecovered: %s", c.InvoiceID, why)
	st.email(c.InvoiceID+"/final", PurposeDunningFinal, vars)
	st.emit(CancelTimers{Campaign: c.InvoiceID})
}

// showFinal upserts the stage final before the stage the status implies
// (finish upserts that one), so the search attributes show the campaign
// ended unrecovered even when it is dropped in the same step.
func (st *subStep) showFinal() {
	s := st.s
	sa := SearchAttributes{CustomerID: s.CustomerID, Status: s.Status, DunningStage: StageFinal}
	if s.Status != "" && sa != s.Search {
		s.Search = sa
		st.emit(UpsertSearchAttributes(sa))
	}
}
