package billing

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Operator actions on a subscription: what support staff steer from the
// Temporal UI (an Update of the subscription workflow) or with
// `payflow subscription …`. Each is validated against the state first (a
// rejected update explains why and leaves no trace in the history), then
// applied like an event: recorded in the timeline with who asked and why.
const (
	OpRetryNow       = "retry_now"     // charge the campaign's invoice now (payflow mode)
	OpPause          = "pause"         // stop the campaign's clock: no retry, suspension or final action
	OpResume         = "resume"        // restart it; pending steps move later by the pause
	OpExtendGrace    = "extend_grace"  // push the suspension later by Extend
	OpEndCampaign    = "end_campaign"  // drop the campaign: no further retry, email or final action
	OpGrantAccess    = "grant_access"  // access granted whatever the subscription says, until cleared
	OpRevokeAccess   = "revoke_access" // access revoked whatever the subscription says, until cleared
	OpClearOverride  = "clear_access"  // back to the access the subscription and its campaigns give
	maxOperatorField = 200
)

// Operation is one operator request.
type Operation struct {
	Action string `json:"action"`
	// InvoiceID names the campaign; empty: the subscription's only one.
	InvoiceID string `json:"invoice,omitempty"`
	// Extend is how much later the grace ends (OpExtendGrace).
	Extend time.Duration `json:"extend,omitempty"`
	By     string        `json:"by"`               // who: the operator's name or the client identity
	Reason string        `json:"reason,omitempty"` // why, for the timeline
}

// Override is an operator's access decision for the subscription's products.
type Override struct {
	Access string    `json:"access"` // AccessGranted or AccessRevoked
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// ValidateOperation says why op cannot apply to s, or nil. It reads only.
func ValidateOperation(s Subscription, op Operation) error {
	if strings.TrimSpace(op.By) == "" {
		return errors.New("say who you are (by): the timeline records every operator action")
	}
	if len(op.By) > maxOperatorField || len(op.Reason) > maxOperatorField {
		return fmt.Errorf("by and reason are limited to %d characters", maxOperatorField)
	}
	switch op.Action {
	case OpGrantAccess, OpRevokeAccess:
		if s.Status == "" {
			return errors.New("the subscription has no snapshot from Stripe yet: nothing to grant or revoke")
		}
		return nil
	case OpClearOverride:
		if s.AccessOverride == nil {
			return errors.New("no manual access decision to clear")
		}
		return nil
	case OpRetryNow, OpPause, OpResume, OpExtendGrace, OpEndCampaign:
	default:
		return fmt.Errorf("unknown action %q (want %s)", op.Action,
			strings.Join([]string{OpRetryNow, OpPause, OpResume, OpExtendGrace, OpEndCampaign, OpGrantAccess, OpRevokeAccess, OpClearOverride}, ", "))
	}
	c, err := s.operatorCampaign(op.InvoiceID)
	if err != nil {
		return err
	}
	switch op.Action {
	case OpRetryNow:
		switch {
		case c.Final:
			return fmt.Errorf("invoice %s is past its final action: the customer pays the hosted invoice", c.InvoiceID)
		case c.Policy.Mode != ModePayflow:
			return fmt.Errorf("invoice %s is retried by Stripe (stripe mode): retry it in Stripe's Dashboard", c.InvoiceID)
		case c.ChargePending != 0:
			return fmt.Errorf("retry %d of invoice %s is already charging", c.ChargePending, c.InvoiceID)
		case c.TakeoverPending:
			return fmt.Errorf("invoice %s is being taken over from Stripe's automatic collection: retry once that is answered", c.InvoiceID)
		case c.DeclinePending:
			return fmt.Errorf("invoice %s's decline is being read from Stripe: retry once it is known", c.InvoiceID)
		}
	case OpPause:
		if c.PausedAt != nil {
			return fmt.Errorf("the campaign for invoice %s is already paused (by %s)", c.InvoiceID, c.PausedBy)
		}
		if c.Final {
			return fmt.Errorf("the campaign for invoice %s is past its final action: nothing left to pause", c.InvoiceID)
		}
	case OpResume:
		if c.PausedAt == nil {
			return fmt.Errorf("the campaign for invoice %s is not paused", c.InvoiceID)
		}
	case OpExtendGrace:
		switch {
		case op.Extend <= 0:
			return errors.New("extend must be a positive duration, e.g. 72h")
		case op.Extend > 90*24*time.Hour:
			return errors.New("extend is limited to 90 days")
		case c.Suspended || c.SuspendPending:
			return fmt.Errorf("access for invoice %s is already suspended: grant access instead", c.InvoiceID)
		case c.Final:
			return fmt.Errorf("the campaign for invoice %s is past its final action", c.InvoiceID)
		}
	}
	return nil
}

// operatorCampaign finds the campaign an operation names, or the only one.
func (s Subscription) operatorCampaign(invoiceID string) (*Campaign, error) {
	if invoiceID != "" {
		if c := s.campaign(invoiceID); c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("no open campaign for invoice %s", invoiceID)
	}
	switch len(s.Campaigns) {
	case 0:
		return nil, errors.New("no open invoice: the subscription has no dunning campaign")
	case 1:
		return &s.Campaigns[0], nil
	}
	ids := make([]string, len(s.Campaigns))
	for i, c := range s.Campaigns {
		ids[i] = c.InvoiceID
	}
	return nil, fmt.Errorf("several open invoices (%s): name one", strings.Join(ids, ", "))
}

// ApplyOperation applies a validated operation; it returns the new state,
// its commands and a sentence for the operator. An operation that does
// not validate (the state changed since) changes nothing and says why.
func ApplyOperation(s Subscription, op Operation, now time.Time) (Subscription, []Command, string, error) {
	if err := ValidateOperation(s, op); err != nil {
		return s, nil, "", err
	}
	s = s.clone()
	st := s.begin(Policy{}, now)
	who := op.By
	if op.Reason != "" {
		who += " (" + op.Reason + ")"
	}
	var done string
	switch op.Action {
	case OpGrantAccess, OpRevokeAccess:
		access := AccessGranted
		if op.Action == OpRevokeAccess {
			access = AccessRevoked
		}
		s.AccessOverride = &Override{Access: access, By: op.By, Reason: op.Reason, At: st.now}
		done = "access " + access + " by hand until cleared"
	case OpClearOverride:
		s.AccessOverride = nil
		done = "manual access decision cleared: access follows the subscription again"
	default:
		c, _ := s.operatorCampaign(op.InvoiceID)
		switch op.Action {
		case OpRetryNow:
			c.HardDecline, c.ActionRequired = false, false
			st.charge(c)
			done = fmt.Sprintf("invoice %s retried now (attempt %d)", c.InvoiceID, c.ChargePending)
		case OpPause:
			at := st.now
			c.PausedAt, c.PausedBy = &at, op.By
			done = fmt.Sprintf("campaign for invoice %s paused: no retry, suspension or final action until resumed", c.InvoiceID)
		case OpResume:
			d := st.now.Sub(*c.PausedAt)
			c.PausedAt, c.PausedBy = nil, ""
			c.GraceEndsAt = c.GraceEndsAt.Add(d)
			if c.NextRetryAt != nil {
				t := c.NextRetryAt.Add(d)
				c.NextRetryAt = &t
			}
			if c.FinalAt != nil {
				t := c.FinalAt.Add(d)
				c.FinalAt = &t
			}
			done = fmt.Sprintf("campaign for invoice %s resumed: its pending steps move %s later", c.InvoiceID, d.Round(time.Second))
		case OpExtendGrace:
			c.GraceEndsAt = c.GraceEndsAt.Add(op.Extend)
			done = fmt.Sprintf("grace for invoice %s extended by %s, to %s", c.InvoiceID, op.Extend, formatUTC(c.GraceEndsAt))
		case OpEndCampaign:
			id := c.InvoiceID
			st.endCampaign(id, "ended by "+who)
			done = fmt.Sprintf("campaign for invoice %s ended without further action; the invoice stays open in Stripe", id)
		}
		if op.Action != OpEndCampaign {
			st.retime(c)
		}
	}
	st.note("operator %s: %s", who, done)
	return s, st.finish(), done, nil
}
