package routing

// Operator updates: what support staff steer a run with, from the Temporal
// UI's update form or `payflow subscription|dispute …`. Each takes an
// OperatorInput and answers a sentence saying what was done; a validator
// rejects one that cannot apply (e.g. "no open invoice") before anything
// is written to the history.
const (
	UpdateRetryNow          = "retry-now"          // subscription: charge the open invoice now
	UpdatePause             = "pause"              // subscription: pause the campaign's clock
	UpdateResume            = "resume"             // subscription: resume it
	UpdateExtendGrace       = "extend-grace"       // subscription: suspend access later (Extend)
	UpdateEndCampaign       = "end-campaign"       // subscription: end the campaign, no further action
	UpdateGrantAccess       = "grant-access"       // subscription: access granted by hand
	UpdateRevokeAccess      = "revoke-access"      // subscription: access revoked by hand
	UpdateClearAccess       = "clear-access"       // subscription: back to the subscription's access
	UpdateEvidenceSubmitted = "evidence-submitted" // dispute: evidence sent, no more reminders
)

// SubscriptionUpdates lists the subscription workflow's operator updates.
var SubscriptionUpdates = []string{UpdateRetryNow, UpdatePause, UpdateResume, UpdateExtendGrace, UpdateEndCampaign,
	UpdateGrantAccess, UpdateRevokeAccess, UpdateClearAccess}

// OperatorInput is the argument of every operator update. By is who asks
// (required: the run's timeline names them; the CLI fills in the user and
// host, and Temporal records the caller's client identity in the history
// too); Reason is free text for the timeline.
type OperatorInput struct {
	Invoice string `json:"invoice,omitempty"` // the campaign (subscription); empty: the only one
	Extend  string `json:"extend,omitempty"`  // a Go duration, e.g. "72h" (extend-grace)
	By      string `json:"by"`
	Reason  string `json:"reason,omitempty"`
}
