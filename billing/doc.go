// Package billing is payflow's billing core: every rule about
// subscriptions, invoices, dunning, one-off orders, refunds, disputes,
// access and what each email says, as plain Go. It does no I/O, reads no
// clock (now is a parameter), starts no goroutines, never ranges over a map
// to decide anything, and imports only the standard library and the root
// package, so workflow code may call it (Temporal's workflowcheck).
//
// # Shape
//
// Each entity is one serialisable struct, small enough to hand whole to
// continue-as-new, and is changed only by pure functions that return the new
// state and the commands to run:
//
//	ApplySubscription(s, ev, policy, now)   FireSubscriptionTimer(s, timer, now)
//	ApplyChargeResult(s, result, now)       ApplyRecheck(s, result, now)
//	ApplyOrder(o, ev, now)                  OrderFromRecord(row)               ApplyOrderOwner(o, owner, now)
//	ApplyDispute(d, ev, policy, now)        ApplyDisputeOwner(d, owner, now)   FireDisputeTimer(d, timer, now)
//
// A workflow is a thin loop: wait for a signal or the earliest of
// State.Timers(); hand it to the core; run the returned commands in order
// (activities, timers, search attributes, signals); feed activity answers
// that the core asked for (RetryCharge → ApplyChargeResult, RecheckInvoice →
// ApplyRecheck, LookupPaymentOwner → ApplyDisputeOwner or ApplyOrderOwner)
// back in; expose the state through the query and Describe() through the
// UI. The input is billing.Event (FromPayflow converts the receiver's
// payflow.Event). A duplicate event (same Stripe event ID; the last MaxSeen
// are kept in the state) returns no commands. Inputs are never modified.
//
// # Subscriptions (Subscription)
//
// Status is exactly Stripe's: incomplete, incomplete_expired, trialing,
// active, past_due, unpaid, paused, canceled
// (docs.stripe.com/api/subscriptions/object#subscription_object-status), and
// is taken only from customer.subscription.* snapshots. A snapshot is
// applied only when newer than the last applied (SnapshotKey: Stripe's
// created second, then, within one second, the later lifecycle stage, then
// created < updated < deleted, then the event ID), so events applied in any
// order end in the same state; canceled and incomplete_expired are terminal.
// Items (price, product, quantity), the current period, cancel_at_period_end
// and pause_collection come from the same snapshot.
//
// What the status means for the subscription's products (its source is
// subscription/<id>; every item's product is covered, and a product dropped
// from the items — an upgrade from basic to pro — is revoked for this source
// only):
//
//	active, trialing, past_due   granted until the period end, unless a campaign suspended or ended it
//	paused                       suspended (a trial ended without a payment method; Stripe raises no invoices until resumed)
//	incomplete                   nothing granted (the first invoice is unpaid)
//	unpaid, canceled, incomplete_expired   revoked
//
// Pausing collection (pause_collection) keeps status active and access on:
// it is Stripe's "service for free for a while"
// (docs.stripe.com/billing/subscriptions/pause-payment). Before the first
// snapshot nothing is granted: the snapshot always follows.
//
// # Invoices
//
// Each invoice has its own state: draft → open → paid | void |
// uncollectible, uncollectible → paid | void
// (docs.stripe.com/invoicing/integration/workflow-transitions); a status
// never moves back, so invoice.paid and invoice.payment_succeeded act once.
// Events about invoices are applied whatever the subscription's status: an
// invoice.paid that arrives after customer.subscription.deleted is still
// recorded and receipted. A paid invoice gets a receipt quoting its own ID,
// amount and period, unless nothing was charged (a trial's $0 invoice,
// docs.stripe.com/billing/subscriptions/trials), or it had a campaign, which
// then recovers ("payment recovered" instead).
//
// # Dunning (Campaign, Policy)
//
// One campaign per unpaid invoice, started by its first
// invoice.payment_failed or invoice.payment_action_required; another
// invoice's payment (a proration with attempt_count 1, a one-off invoice)
// never ends it. Not dunned: the first invoice (billing_reason
// subscription_create, or the subscription incomplete) — Stripe does not
// retry it and expires the subscription to incomplete_expired after 23 hours
// (docs.stripe.com/billing/subscriptions/overview), so the customer gets one
// "complete your payment" email and the status follows the snapshot;
// send_invoice invoices (the customer pays them; Stripe sends past_due
// snapshots, which set the status); failures after the subscription ended.
//
// The campaign copies the Policy in force when it starts (mode, retry
// delays counted from the failure, grace, final action, hard-decline codes)
// and keeps it for life. In payflow mode it retries at each delay
// (RetryCharge with idempotency key <workflow>/<invoice>/retry-<n>) and
// sends a reminder after each failed retry; in stripe mode Stripe retries
// and each new attempt_count ("number of payment attempts … from the
// perspective of the payment retry schedule", docs.stripe.com/api/invoices/object)
// gets a reminder. The decline code is not on 2023-10-16 invoice events: a
// campaign whose first failure names none asks Stripe (FetchDecline, the
// invoice's payment intent's last_payment_error, answered through
// ApplyDecline; decline.go) before deciding hard or soft, and schedules no
// retry until then (in stripe mode each later Stripe attempt's decline is
// read the same way before its reminder); no answer (no key, a refusal)
// counts as soft. A hard
// decline stops retries and asks for another card;
// 3-D Secure (payment_action_required) sends the authentication link. When
// grace ends, and before the final action (cancel, unpaid: access revoked;
// none: access stays suspended), Stripe is re-read (RecheckInvoice) so a
// stale view never punishes a payer; if the final action is due when grace
// ends, it supersedes the suspension. A payment at any moment, or the
// invoice voided or marked uncollectible, ends that invoice's campaign;
// cancellation ends every campaign without emails. In stripe mode Stripe's
// own end of its retries (the subscription unpaid or canceled, the invoice
// uncollectible or void) is the campaign's final step instead: one final
// notice, counted unrecovered, stage final (stripeend.go). Policy.Plan is
// the timeline a policy gives (payflow config prints it, Policy.Warnings
// names steps that coincide). In payflow mode a campaign that will retry
// first takes its invoice over from Stripe (auto_advance=false: Smart
// Retries never charge it too) and hands it back only if it ends while the
// invoice is open and the subscription alive; a refused takeover falls the
// campaign back to stripe mode with an operator alert. The final actions
// mean in Stripe what they say: cancel cancels, unpaid marks the invoice
// uncollectible and pauses collection (mark_uncollectible), none pauses
// collection (keep_as_draft); a later payment lifts the pause
// (takeover.go). A side effect refused for good is alerted
// to the operator once (RefusedEffect). The dunning stage (none,
// retrying, awaiting_customer, suspended, final) is the subscription's most
// advanced campaign's, a search attribute of its own beside the status; it
// goes back to none when the last campaign ends.
//
// A change of the customer's payment method (customer.updated with a new
// invoice_settings.default_payment_method, payment_method.attached,
// setup_intent.succeeded off-session: Event.PaymentMethod, handed over by
// the customer/<cus> fan-out) retries every open payflow-mode campaign at
// once, hard-declined ones included: RetryCharge with the next attempt's
// key, answered through ApplyChargeResult. Stripe mode charges nothing
// (Stripe retries with the new method itself); cardupdate.go.
//
// # Orders (Order)
//
// A one-off payment, order/<payment_intent>. payment_intent.succeeded,
// checkout.session.completed (paid or no_payment_required) and
// checkout.session.async_payment_succeeded fulfil once: access for the
// products bought, a receipt. The products come from the strongest source
// seen — Checkout line items over the session's metadata.product over the
// payment's metadata.product — whatever the arrival order; "default" only
// for a paid order that names none (and it is revoked if a stronger source
// names the product later). The status is derived from the facts
// (Order.Status), never from the last event.
//
// A payment that paid an invoice is not an order (InvoicePayment, status
// invoice_payment). The receiver skips its payment_intent.* events, but
// charge.refunded in API 2023-10-16 names only the invoice's ID, so a
// refund of a subscription's invoice reaches order/<payment_intent>. A
// charge event that names an invoice, at an order not paid as a one-off,
// is forwarded instead of applied: LookupPaymentOwner (with the invoice)
// asks who owns it, ApplyOrderOwner takes the answer, and NotifyOwner hands
// every held event to subscription/<sub> — only a subscription is
// followed. Such a run records no order, changes no access and sends no
// email; it is Done once the events are handed over. An order paid as a
// one-off keeps its refunds and disputes even if its charge names an
// invoice (a guard, e.g. for Checkout's invoice_creation receipts).
//
// # Refunds and disputes
//
// charge.refunded reports the charge's cumulative amount_refunded and
// refunded=true only for a full refund (docs.stripe.com/api/charges/object).
// Every increase is recorded (RecordRefund), partial or full. For an order,
// a full refund revokes what the order granted — for its own source only, so
// a subscription paying for the same product keeps it — and is confirmed by
// email; a partial refund changes no access; a refund that arrives before
// the payment is recorded and nothing else (no fulfilment, no "default"
// product), and a payment after a full refund never grants. For a
// subscription invoice the refund is recorded on the invoice, which stays
// paid: Stripe neither voids a paid invoice nor cancels the subscription
// when its payment is refunded, so access keeps following the
// subscription's status, and a merchant who wants the customer out cancels
// in Stripe. The refund reaches the subscription directly when the event
// names it, else through the order run of its payment intent, which
// forwards it (Orders above); the subscription applies a forwarded refund
// exactly like a direct one, once (its seen event IDs).
//
// A dispute (Dispute, dispute/<id>) alerts the operator, reminds them before
// the evidence deadline unless evidence was submitted, records
// funds_withdrawn and funds_reinstated, and forwards every event to the
// owner of the disputed payment (NotifyOwner; LookupPaymentOwner when the
// event does not say), which applies the consequence to its own access. An
// order's products are suspended while the dispute is open, granted again
// if it is won (warning_closed and prevented count as won), revoked if
// lost; a subscription invoice records the dispute and leaves access to the
// subscription's status. A closed dispute never reopens.
//
// # Access
//
// Every change of access is per source (SetAccess: customer, product,
// source order/<pi> or subscription/<sub>, status, valid_until). The
// customer's effective access to a product (EffectiveAccess) is granted if
// any source grants it, else suspended if any suspends it, else revoked.
//
// # Commands
//
// RecordSubscription, RecordInvoice, RecordOrder, RecordRefund,
// RecordDispute, SetAccess, SendEmail (purpose, dedupe key, vars; Render
// turns them into subject and body in the activity), RetryCharge,
// RecheckInvoice, FetchDecline (answered through ApplyDecline),
// CancelSubscription, TakeOverInvoice (answered through
// ApplyTakeover), HandBackInvoice, MarkInvoiceUncollectible,
// PauseCollection, ResumeCollection, ScheduleTimer, CancelTimers,
// UpsertSearchAttributes, LookupPaymentOwner, NotifyOwner, Note. Within one
// call they are ordered records, access, Stripe calls and signals, timers,
// search attributes, emails, notes.
//
// # What the receiver must decode for the core
//
// payflow.Event carries one product and one amount per event. The core
// reads (Event): every subscription item (items.data[].id, price.id,
// price.product, quantity); amount_due and amount_paid separately;
// collection_method; pause_collection.behavior; next_payment_attempt;
// current_period_start; the invoice's line period end (today
// current_period_end from lines[0]); Checkout line items
// (price.product, which needs the line items expanded or fetched);
// whether a product came from the session's or the payment's metadata; and
// for charge.refunded and charge.dispute.* the invoice (and its
// subscription) the charge paid, so the event reaches the subscription. In
// API versions after 2023-10-16 these move (items[].current_period_end,
// invoice.parent.subscription_details.subscription, invoice payments).
package billing
