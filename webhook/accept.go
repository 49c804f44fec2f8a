package webhook

import (
	"fmt"
	"slices"
	"strings"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/routing"
)

// Livemodes a deployment accepts (STRIPE_LIVEMODE).
const (
	LivemodeLive = "live"
	LivemodeTest = "test"
	LivemodeAny  = "any"
)

// Reasons an event is not accepted by this deployment (Acceptance.Check).
// They are quarantine reasons like the decoder's: the event is kept and
// replayed once the configuration accepts it.
const (
	// ReasonLivemodeMismatch: a live event on a deployment for test mode,
	// or the reverse (STRIPE_LIVEMODE).
	ReasonLivemodeMismatch = "livemode_mismatch"
	// ReasonAccountNotAccepted: an event of a connected account the
	// deployment does not serve (STRIPE_ACCOUNTS).
	ReasonAccountNotAccepted = "account_not_accepted"
)

// Acceptance is which Stripe events a deployment processes: their mode
// (Stripe's livemode) and whose they are (the platform's own, or a
// connected account's: the event's account). The zero value accepts events
// of either mode and the platform's own events only: STRIPE_LIVEMODE and
// STRIPE_ACCOUNTS unset without an API key (config.Config.Acceptance).
type Acceptance struct {
	// Livemode is LivemodeLive, LivemodeTest, or LivemodeAny ("" too).
	Livemode string
	// AllAccounts accepts every connected account (STRIPE_ACCOUNTS=*).
	AllAccounts bool
	// Accounts are the connected accounts accepted besides the platform
	// (STRIPE_ACCOUNTS=acct_1,acct_2); ignored with AllAccounts.
	Accounts []string
}

// Check returns nil for an event this deployment processes, else why not,
// as an *Uninterpretable the receiver quarantines (same path and answer as
// an event it cannot read; `payflow quarantine replay` checks again with
// the configuration of the moment). The platform's own events (no account)
// are always accepted; a connected account's only with STRIPE_ACCOUNTS=*
// or when listed. An account that is not shaped acct_… is never accepted:
// it could not name a workflow (routing.SplitWorkflowID).
func (a Acceptance) Check(ev payflow.Event) *Uninterpretable {
	switch {
	case a.Livemode == LivemodeLive && !ev.Livemode:
		return &Uninterpretable{Reason: ReasonLivemodeMismatch, Detail: "a test-mode event (livemode false) on a deployment for live mode (STRIPE_LIVEMODE=live)"}
	case a.Livemode == LivemodeTest && ev.Livemode:
		return &Uninterpretable{Reason: ReasonLivemodeMismatch, Detail: "a live-mode event (livemode true) on a deployment for test mode (STRIPE_LIVEMODE=test)"}
	}
	if ev.Account == "" {
		return nil
	}
	if !strings.HasPrefix(ev.Account, routing.AccountPrefix) {
		return &Uninterpretable{Reason: ReasonAccountNotAccepted, Detail: fmt.Sprintf("account %q is not a connected account ID (acct_…)", clip(ev.Account))}
	}
	switch {
	case a.AllAccounts, slices.Contains(a.Accounts, ev.Account):
		return nil
	case len(a.Accounts) == 0:
		return &Uninterpretable{Reason: ReasonAccountNotAccepted, Detail: fmt.Sprintf("connected account %s: STRIPE_ACCOUNTS is unset, only the platform's own events are processed", ev.Account)}
	}
	return &Uninterpretable{Reason: ReasonAccountNotAccepted, Detail: fmt.Sprintf("connected account %s is not in STRIPE_ACCOUNTS", ev.Account)}
}

// String describes the acceptance as `payflow config` and logs show it.
func (a Acceptance) String() string {
	mode := a.Livemode
	if mode == "" {
		mode = LivemodeAny
	}
	accounts := "platform only"
	switch {
	case a.AllAccounts:
		accounts = "platform and every connected account"
	case len(a.Accounts) > 0:
		accounts = "platform and " + strings.Join(a.Accounts, ", ")
	}
	return "livemode " + mode + "; " + accounts
}
