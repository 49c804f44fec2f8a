// Package workflows holds the three workflows: order/<payment_intent>,
// subscription/<subscription> and dispute/<dispute>. Each is the same thin
// loop: receive a Stripe event (or a timer), skip it if it was applied
// before, ask the billing core what it means, and run the commands the core
// returns, in order. The rules (statuses, access, dunning, emails) are the
// core's (package billing); this package only carries them out.
//
// The loop (order.go, subscription.go, dispute.go):
//
//	wait for a signal — an event from the receiver (routing.SignalEvent) or
//	one a dispute forwards (routing.SignalOwnerEvent) — or the earliest of
//	the state's Timers()
//	skip an event applied before: the state's seen IDs, then the database's
//	event ledger (RecordEvent)
//	state, commands = billing.ApplyX(state, event, policy, now)
//	run the commands in order (commands.go): records and access as
//	activities, Stripe calls whose answers go back to the core, search
//	attributes, emails, signals to another workflow, notes for the timeline
//
// The query "state" returns the core's state with the timeline; the UI's
// current details are the core's Describe(). A subscription continues as
// new with its whole state. Workflow code reads no clock but workflow.Now,
// no package-level tables, and is checked with workflowcheck.
package workflows
