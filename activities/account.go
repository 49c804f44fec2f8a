package activities

import (
	"context"
	"strings"

	"go.temporal.io/sdk/activity"

	"github.com/payflow/payflow/routing"
)

// Stripe Connect. A connected account's events run in that account's
// workflows (acct_…/subscription/<sub>, routing.WorkflowID); the billing
// core knows nothing of accounts and composes platform-form IDs
// (subscription/<sub>) for its owners, sources, email and idempotency
// keys. The activities put them back in the account of the workflow they
// run for, which they read from their own workflow ID: Stripe calls carry
// the Stripe-Account header, notified owners are that account's
// workflows, email dedupe keys and Stripe idempotency keys are the
// account's.

type accountKey struct{}

// WithStripeAccount returns ctx for work on behalf of connected account
// (acct_…; "" the platform) outside an activity, whose own workflow ID
// otherwise says it (the receiver opening a billing portal session for a
// connected account's customer, tests).
func WithStripeAccount(ctx context.Context, account string) context.Context {
	return context.WithValue(ctx, accountKey{}, account)
}

// AccountOf is the connected account ctx works for: the one set by
// WithStripeAccount, else the account of the activity's workflow
// (routing.SplitWorkflowID of activity.GetInfo's workflow ID), else ""
// (the platform).
func AccountOf(ctx context.Context) string {
	if a, ok := ctx.Value(accountKey{}).(string); ok {
		return a
	}
	if activity.IsActivity(ctx) {
		return routing.AccountOf(activity.GetInfo(ctx).WorkflowExecution.ID)
	}
	return ""
}

// inAccount scopes a key the core composed (an email dedupe key, a Stripe
// idempotency key: <workflow>/<step>, the workflow in platform form) to
// ctx's account: unchanged for the platform and for a key that names the
// account already, else acct_…/<key>. Stripe object IDs are unique across
// accounts, so this changes nothing that could collide in production; it
// keeps two accounts apart even where their IDs coincide (a test, a
// fixture), as their workflows are.
func inAccount(ctx context.Context, key string) string {
	acct := AccountOf(ctx)
	if acct == "" || key == "" || strings.HasPrefix(key, acct+"/") || strings.Contains(key, "/"+acct+"/") {
		return key
	}
	return acct + "/" + key
}

// ownerInAccount is the workflow ID of an owner the core named in platform
// form (subscription/<sub>, order/<pi>), in the account of the workflow
// ctx runs for.
func ownerInAccount(ctx context.Context, id string) string {
	return routing.WithAccount(AccountOf(ctx), id)
}
