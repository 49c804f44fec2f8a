package billing

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Stripe's subscription statuses (docs.stripe.com/api/subscriptions/object#subscription_object-status).
const (
	StatusIncomplete        = "incomplete"
	StatusIncompleteExpired = "incomplete_expired"
	StatusTrialing          = "trialing"
	StatusActive            = "active"
	StatusPastDue           = "past_due"
	StatusUnpaid            = "unpaid"
	StatusPaused            = "paused"
	StatusCanceled          = "canceled"
)

// Dunning stages: the DunningStage search attribute, separate from the
// status. A subscription's stage is its most advanced campaign's.
const (
	StageNone             = "none"              // no unpaid invoice being chased
	StageRetrying         = "retrying"          // payflow's or Stripe's retries are running
	StageAwaitingCustomer = "awaiting_customer" // hard decline or 3-D Secure: only the customer can fix it
	StageSuspended        = "suspended"         // grace over: access suspended
	StageFinal            = "final"             // retries exhausted, final action taken
)

// Subscription is one subscription's whole state, small enough to hand
// whole to continue-as-new.
type Subscription struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id,omitempty"`
	Email      string `json:"email,omitempty"`
	// CustomerName is the name Stripe last sent with an invoice or charge
	// (customer_name, billing_details.name), for the greeting of emails.
	CustomerName       string `json:"customer_name,omitempty"`
	Status             string `json:"status,omitempty"` // Stripe's; empty until the first snapshot
	Items              []Item `json:"items,omitempty"`
	CollectionMethod   string `json:"collection_method,omitempty"`
	CurrentPeriodStart int64  `json:"current_period_start,omitempty"`
	CurrentPeriodEnd   int64  `json:"current_period_end,omitempty"`
	CancelAtPeriodEnd  bool   `json:"cancel_at_period_end,omitempty"`
	TrialEnd           int64  `json:"trial_end,omitempty"`
	PauseCollection    string `json:"pause_collection,omitempty"`
	// Snapshot orders the customer.subscription.* events: only a newer one
	// (by Stripe's created, then the tie-breaks of snapshotKey) is applied.
	Snapshot    SnapshotKey      `json:"snapshot"`
	Invoices    []Invoice        `json:"invoices,omitempty"`  // sorted by ID
	Campaigns   []Campaign       `json:"campaigns,omitempty"` // one per unpaid invoice
	Access      []Grant          `json:"access,omitempty"`    // what this source granted, per product
	Search      SearchAttributes `json:"search"`              // last upserted
	Recovered   int              `json:"campaigns_recovered"`
	Unrecovered int              `json:"campaigns_unrecovered"`
	Seen        []string         `json:"seen,omitempty"`
	// AccessOverride is an operator's decision (operator.go): granted or
	// revoked whatever the subscription and its campaigns say, until
	// cleared.
	AccessOverride *Override `json:"access_override,omitempty"`
}

// SnapshotKey is the order of subscription snapshots: Stripe's created
// second first; within one second a later lifecycle stage (incomplete <
// live statuses < terminal), then created < updated < deleted, then the
// event ID, so applying any permutation of snapshots ends on the same one.
type SnapshotKey struct {
	Created int64  `json:"created"`
	Rank    int    `json:"rank,omitempty"`
	EventID string `json:"event_id,omitempty"`
}

// SearchAttributes are the values last upserted.
type SearchAttributes struct {
	CustomerID   string `json:"customer_id,omitempty"`
	Status       string `json:"status,omitempty"`
	DunningStage string `json:"dunning_stage,omitempty"`
}

// MaxInvoices bounds the invoices kept; the oldest settled ones go first.
const MaxInvoices = 100

// NewSubscription starts the state of subscription id.
func NewSubscription(id string) Subscription { return Subscription{ID: id} }

// Source is the access source name of the subscription.
func (s Subscription) Source() string { return "subscription/" + s.ID }

// Terminal reports a status Stripe never leaves (canceled,
// incomplete_expired). Events still apply after it (a late invoice.paid is
// recorded and receipted), so a workflow should linger before closing.
func (s Subscription) Terminal() bool { return terminal(s.Status) }

func terminal(status string) bool {
	return status == StatusCanceled || status == StatusIncompleteExpired
}

// DunningStage is the most advanced stage of the running campaigns.
func (s Subscription) DunningStage() string {
	stage := StageNone
	for _, c := range s.Campaigns {
		if stageRank(c.Stage()) > stageRank(stage) {
			stage = c.Stage()
		}
	}
	return stage
}

func stageRank(s string) int {
	return slices.Index([]string{StageNone, StageRetrying, StageAwaitingCustomer, StageSuspended, StageFinal}, s)
}

// ApplySubscription applies one Stripe event. p is the dunning policy a
// campaign started by this event adopts; running campaigns keep theirs.
func ApplySubscription(s Subscription, ev Event, p Policy, now time.Time) (Subscription, []Command) {
	s = s.clone()
	var dup bool
	if dup, s.Seen = seen(s.Seen, ev.ID); dup {
		return s, nil
	}
	st := s.begin(p, now)
	if s.CustomerID == "" {
		s.CustomerID = ev.CustomerID
	}
	if ev.Email != "" {
		s.Email = ev.Email
	}
	if ev.CustomerName != "" {
		s.CustomerName = ev.CustomerName
	}
	switch {
	case strings.HasPrefix(ev.Type, "customer.subscription."):
		st.snapshot(ev)
		if IsPaymentMethodUpdate(ev) && !s.Terminal() {
			st.paymentMethodUpdated(ev) // the subscription's own default_payment_method changed
		}
	case strings.HasPrefix(ev.Type, "invoice."):
		st.invoiceEvent(ev)
	case ev.Type == "charge.refunded":
		st.invoiceRefund(ev)
	case strings.HasPrefix(ev.Type, "charge.dispute."):
		st.invoiceDispute(ev)
	case ev.Type == "checkout.session.completed":
		st.note("checkout session %s completed", ev.CheckoutID)
	case IsPaymentMethodUpdate(ev):
		st.paymentMethodUpdated(ev) // cardupdate.go
	default:
		st.note("%s not handled by a subscription", ev.Type)
	}
	return s, st.finish()
}

// snapshot applies customer.subscription.*: status, items, period.
func (st *subStep) snapshot(ev Event) {
	s := st.s
	key := snapshotKey(ev)
	if !key.after(s.Snapshot) {
		st.note("%s (%s) older than the snapshot applied: ignored", ev.Type, ev.Status)
		return
	}
	s.Snapshot = key
	status := ev.Status
	if ev.Type == "customer.subscription.deleted" && !terminal(status) {
		status = StatusCanceled
	}
	if status != "" && !(terminal(s.Status) && !terminal(status)) {
		s.Status = status
	}
	if len(ev.Items) > 0 {
		s.Items = slices.Clone(ev.Items)
	}
	if ev.CurrentPeriodEnd > 0 {
		s.CurrentPeriodStart, s.CurrentPeriodEnd = ev.CurrentPeriodStart, ev.CurrentPeriodEnd
	}
	s.CancelAtPeriodEnd, s.PauseCollection = ev.CancelAtPeriodEnd, ev.PauseCollection
	s.TrialEnd = max(s.TrialEnd, ev.TrialEnd)
	s.CollectionMethod = firstNonEmpty(ev.CollectionMethod, s.CollectionMethod)
	st.note("%s: %s", ev.Type, s.Status)
	st.stripeEndsCampaigns(s.Status)
	if s.Terminal() {
		for len(s.Campaigns) > 0 {
			st.endCampaign(s.Campaigns[0].InvoiceID, "subscription "+s.Status)
		}
	}
	if ev.Type == "customer.subscription.trial_will_end" && ev.TrialEnd > 0 && !s.Terminal() {
		vars := map[string]string{}
		setEmailUnix(vars, "trial_end", ev.TrialEnd)
		st.email(fmt.Sprintf("trial-%d", ev.TrialEnd), PurposeTrialEnding, vars)
	}
}

func snapshotKey(ev Event) SnapshotKey {
	status := 1
	switch {
	case ev.Status == StatusIncomplete:
		status = 0
	case terminal(ev.Status) || ev.Type == "customer.subscription.deleted":
		status = 2
	}
	kind := 1
	switch ev.Type {
	case "customer.subscription.created":
		kind = 0
	case "customer.subscription.deleted":
		kind = 2
	}
	return SnapshotKey{Created: ev.Created, Rank: status*10 + kind, EventID: ev.ID}
}

func (k SnapshotKey) after(o SnapshotKey) bool {
	return cmp.Or(cmp.Compare(k.Created, o.Created), cmp.Compare(k.Rank, o.Rank), cmp.Compare(k.EventID, o.EventID)) > 0
}

// wantAccess is what the subscription's status and campaigns mean for
// its products; "" before any snapshot (no opinion yet).
func (s Subscription) wantAccess() string {
	if o := s.AccessOverride; o != nil && s.Status != "" {
		return o.Access
	}
	var want string
	switch s.Status {
	case "":
		return ""
	case StatusCanceled, StatusIncompleteExpired, StatusUnpaid, StatusIncomplete:
		return AccessRevoked
	case StatusPaused: // a trial ended without a payment method: no invoices until resumed
		want = AccessSuspended
	default: // active, trialing, past_due (pause_collection keeps access: Stripe's "free service" pause)
		want = AccessGranted
	}
	for _, c := range s.Campaigns {
		if c.Final && (c.Policy.FinalAction == FinalCancel || c.Policy.FinalAction == FinalUnpaid) {
			want = worst(want, AccessRevoked)
		} else if c.Suspended {
			want = worst(want, AccessSuspended)
		}
	}
	return want
}

// subStep collects the commands of one call.
type subStep struct {
	s      *Subscription
	p      Policy
	now    time.Time
	cmds   []Command
	record RecordSubscription
}

func (s *Subscription) begin(p Policy, now time.Time) *subStep {
	return &subStep{s: s, p: p, now: now.UTC(), record: s.recordView()}
}

func (st *subStep) emit(c ...Command) { st.cmds = append(st.cmds, c...) }

func (st *subStep) note(format string, args ...any) {
	st.emit(Note{What: fmt.Sprintf(format, args...)})
}

func (st *subStep) email(step, purpose string, vars map[string]string) {
	if vars == nil {
		vars = map[string]string{}
	}
	vars["subscription_id"] = st.s.ID
	if st.s.CustomerName != "" {
		vars["customer_name"] = st.s.CustomerName
	}
	st.emit(SendEmail{DedupeKey: st.s.Source() + "/" + step, Purpose: purpose, To: st.s.Email,
		CustomerID: st.s.CustomerID, Vars: vars})
}

// finish derives what follows from the state: access per product, the
// subscription row, the search attributes; then orders the commands.
func (st *subStep) finish() []Command {
	s := st.s
	want := s.wantAccess()
	reason := "subscription " + s.Status
	if stage := s.DunningStage(); stage != StageNone {
		reason += ", dunning " + stage
	}
	var access []Command
	if products := itemProducts(s.Items); len(products) > 0 {
		s.Access, access = syncGrants(s.CustomerID, s.Source(), s.Access, products, want, s.CurrentPeriodEnd, reason)
	}
	st.emit(access...)
	if rec := s.recordView(); rec.Status != "" && !rec.equal(st.record) {
		st.emit(rec)
	}
	if s.Status != "" {
		sa := SearchAttributes{CustomerID: s.CustomerID, Status: s.Status, DunningStage: s.DunningStage()}
		if sa != s.Search {
			s.Search = sa
			st.emit(UpsertSearchAttributes(sa))
		}
	}
	s.boundInvoices()
	return orderCommands(st.cmds)
}

func (s Subscription) recordView() RecordSubscription {
	return RecordSubscription{SubscriptionID: s.ID, CustomerID: s.CustomerID, Email: s.Email, Status: s.Status,
		DunningStage: s.DunningStage(), Items: slices.Clone(s.Items), CurrentPeriodEnd: s.CurrentPeriodEnd,
		CancelAtPeriodEnd: s.CancelAtPeriodEnd, StripeCreated: s.Snapshot.Created}
}

func (r RecordSubscription) equal(o RecordSubscription) bool {
	return r.SubscriptionID == o.SubscriptionID && r.CustomerID == o.CustomerID && r.Email == o.Email &&
		r.Status == o.Status && r.DunningStage == o.DunningStage && slices.Equal(r.Items, o.Items) &&
		r.CurrentPeriodEnd == o.CurrentPeriodEnd && r.CancelAtPeriodEnd == o.CancelAtPeriodEnd &&
		r.StripeCreated == o.StripeCreated
}

// orderCommands puts records first, then access, Stripe calls, timers,
// search attributes, emails and notes, keeping the order within each kind:
// a crash between commands never leaves an email about a change that was
// not recorded.
func orderCommands(cmds []Command) []Command {
	rank := func(c Command) int {
		switch c.(type) {
		case RecordSubscription, RecordInvoice, RecordOrder, RecordRefund, RecordDispute:
			return 0
		case SetAccess:
			return 1
		case RetryCharge, RecheckInvoice, CancelSubscription, LookupPaymentOwner, NotifyOwner, FetchDecline,
			TakeOverInvoice, HandBackInvoice, MarkInvoiceUncollectible, PauseCollection, ResumeCollection:
			return 2
		case CancelTimers, ScheduleTimer:
			return 3
		case UpsertSearchAttributes:
			return 4
		case SendEmail:
			return 5
		}
		return 6
	}
	slices.SortStableFunc(cmds, func(a, b Command) int { return cmp.Compare(rank(a), rank(b)) })
	return cmds
}

func (s Subscription) clone() Subscription {
	s.Items = slices.Clone(s.Items)
	s.Invoices = slices.Clone(s.Invoices)
	s.Access = slices.Clone(s.Access)
	s.Seen = slices.Clone(s.Seen)
	if s.AccessOverride != nil {
		o := *s.AccessOverride
		s.AccessOverride = &o
	}
	s.Campaigns = slices.Clone(s.Campaigns)
	for i := range s.Campaigns {
		s.Campaigns[i] = s.Campaigns[i].clone()
	}
	return s
}
