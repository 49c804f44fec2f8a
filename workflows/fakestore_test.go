package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/payflow/payflow"
)

// fakeStore is an in-memory payflow.Store with the same idempotency and
// ordering semantics as store.DB (see store/records.go and the interface's
// doc comments). It is safe for concurrent use: the test environment runs
// activities on their own goroutines.
type fakeStore struct {
	mu sync.Mutex

	events     map[string]payflow.AppliedEvent
	customers  map[string]payflow.Customer
	orders     map[string]payflow.Order
	invoices   map[string]payflow.Invoice
	subs       map[string]payflow.Subscription
	ents       map[[2]string]payflow.Entitlement
	emails     map[string]payflow.Email
	emailOrder []string // dedupe keys in claim order
	disputes   map[string]payflow.Dispute

	// entLog records every entitlement change that changed something, in
	// order: "customer/product=status".
	entLog []string
	// orderLog records every order status update: "id=status".
	orderLog []string
}

var _ payflow.Store = (*fakeStore)(nil)

func newFakeStore() *fakeStore {
	return &fakeStore{
		events:    map[string]payflow.AppliedEvent{},
		customers: map[string]payflow.Customer{},
		orders:    map[string]payflow.Order{},
		invoices:  map[string]payflow.Invoice{},
		subs:      map[string]payflow.Subscription{},
		ents:      map[[2]string]payflow.Entitlement{},
		emails:    map[string]payflow.Email{},
		disputes:  map[string]payflow.Dispute{},
	}
}

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().UTC()
	}
	return t
}

func (s *fakeStore) MarkEventApplied(_ context.Context, e payflow.AppliedEvent) (bool, error) {
	if e.EventID == "" {
		return false, errors.New("fake store: empty event ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.events[e.EventID]; ok {
		return old.Owner == e.Owner, nil // a retry of the run that applied it
	}
	e.AppliedAt = orNow(e.AppliedAt)
	s.events[e.EventID] = e
	return true, nil
}

func (s *fakeStore) EventApplied(_ context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.events[id]
	return ok, nil
}

func (s *fakeStore) UpsertCustomer(_ context.Context, c payflow.Customer) error {
	if c.ID == "" {
		return errors.New("fake store: upsert customer: empty ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.customers[c.ID]
	if !ok {
		c.UpdatedAt = orNow(c.UpdatedAt)
		s.customers[c.ID] = c
		return nil
	}
	if c.Email != "" && c.Email != old.Email {
		old.Email, old.UpdatedAt = c.Email, orNow(c.UpdatedAt)
		s.customers[c.ID] = old
	}
	return nil
}

func (s *fakeStore) CreateOrder(_ context.Context, o payflow.Order) (payflow.Order, error) {
	if o.ID == "" {
		return payflow.Order{}, errors.New("fake store: create order: empty ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.orders[o.ID]
	if !ok {
		if o.Status == "" {
			o.Status = payflow.OrderPending
		}
		o.CreatedAt, o.UpdatedAt = orNow(o.CreatedAt), orNow(o.UpdatedAt)
		s.orders[o.ID] = o
		return o, nil
	}
	fill := func(dst *string, v string) {
		if *dst == "" && v != "" {
			*dst = v
		}
	}
	fill(&old.CustomerID, o.CustomerID)
	fill(&old.Email, o.Email)
	fill(&old.CheckoutID, o.CheckoutID)
	fill(&old.ChargeID, o.ChargeID)
	fill(&old.ProductID, o.ProductID)
	s.orders[o.ID] = old
	return old, nil
}

func (s *fakeStore) GetOrder(_ context.Context, id string) (payflow.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	if !ok {
		return payflow.Order{}, fmt.Errorf("fake store: get order %s: %w", id, payflow.ErrNotFound)
	}
	return o, nil
}

func (s *fakeStore) GetOrderByCharge(_ context.Context, chargeID string) (payflow.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []payflow.Order
	for _, o := range s.orders {
		if chargeID != "" && o.ChargeID == chargeID {
			found = append(found, o)
		}
	}
	if len(found) == 0 {
		return payflow.Order{}, fmt.Errorf("fake store: order by charge %s: %w", chargeID, payflow.ErrNotFound)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].CreatedAt.Before(found[j].CreatedAt) })
	return found[0], nil
}

func (s *fakeStore) UpdateOrderStatus(_ context.Context, id, status, reason string, at time.Time) (payflow.Order, error) {
	if status == "" {
		return payflow.Order{}, errors.New("fake store: update order: empty status")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	if !ok {
		return payflow.Order{}, fmt.Errorf("fake store: update order %s: %w", id, payflow.ErrNotFound)
	}
	at = orNow(at)
	o.Status, o.FailureReason, o.UpdatedAt = status, reason, at
	if status == payflow.OrderFulfilled && o.FulfilledAt == nil {
		t := at
		o.FulfilledAt = &t
	}
	s.orders[id] = o
	s.orderLog = append(s.orderLog, id+"="+status)
	return o, nil
}

// snapshotWins is the guard of store.snapshotUpsert: a later event wins,
// an event of the same second wins when it changes something.
func snapshotWins(newCreated, oldCreated int64, differs bool) bool {
	return newCreated > oldCreated || (newCreated == oldCreated && differs)
}

func sticky(newV, oldV string) string {
	if newV == "" {
		return oldV
	}
	return newV
}

func (s *fakeStore) UpsertInvoice(_ context.Context, inv payflow.Invoice) (bool, error) {
	if inv.ID == "" {
		return false, errors.New("fake store: upsert invoice: empty ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inv.UpdatedAt = orNow(inv.UpdatedAt)
	old, ok := s.invoices[inv.ID]
	if !ok {
		s.invoices[inv.ID] = inv
		return true, nil
	}
	inv.CustomerID = sticky(inv.CustomerID, old.CustomerID)
	inv.SubscriptionID = sticky(inv.SubscriptionID, old.SubscriptionID)
	differs := inv.CustomerID != old.CustomerID || inv.SubscriptionID != old.SubscriptionID ||
		inv.Amount != old.Amount || inv.Currency != old.Currency || inv.Status != old.Status
	if !snapshotWins(inv.StripeCreated, old.StripeCreated, differs) {
		return false, nil
	}
	s.invoices[inv.ID] = inv
	return true, nil
}

func (s *fakeStore) UpsertSubscription(_ context.Context, sub payflow.Subscription) (bool, error) {
	if sub.ID == "" {
		return false, errors.New("fake store: upsert subscription: empty ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sub.UpdatedAt = orNow(sub.UpdatedAt)
	old, ok := s.subs[sub.ID]
	if !ok {
		s.subs[sub.ID] = sub
		return true, nil
	}
	sub.CustomerID = sticky(sub.CustomerID, old.CustomerID)
	sub.DunningStage = sticky(sub.DunningStage, old.DunningStage)
	differs := sub.CustomerID != old.CustomerID || sub.DunningStage != old.DunningStage || sub.Status != old.Status ||
		sub.CurrentPeriodEnd != old.CurrentPeriodEnd || sub.CancelAtPeriodEnd != old.CancelAtPeriodEnd
	if !snapshotWins(sub.StripeCreated, old.StripeCreated, differs) {
		return false, nil
	}
	s.subs[sub.ID] = sub
	return true, nil
}

func (s *fakeStore) GetSubscription(_ context.Context, id string) (payflow.Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[id]
	if !ok {
		return payflow.Subscription{}, fmt.Errorf("fake store: get subscription %s: %w", id, payflow.ErrNotFound)
	}
	return sub, nil
}

func (s *fakeStore) SetDunningStage(_ context.Context, id, status, stage string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[id]
	if !ok {
		return fmt.Errorf("fake store: set dunning stage %s: %w", id, payflow.ErrNotFound)
	}
	sub.DunningStage = stage
	if status != "" {
		sub.Status = status
	}
	sub.UpdatedAt = time.Now().UTC()
	s.subs[id] = sub
	return nil
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func (s *fakeStore) SetEntitlement(_ context.Context, e payflow.Entitlement) (bool, error) {
	if e.CustomerID == "" || e.ProductID == "" {
		return false, errors.New("fake store: set entitlement: empty customer or product")
	}
	now := time.Now().UTC()
	var stamp **time.Time
	switch e.Status {
	case payflow.AccessGranted:
		stamp = &e.GrantedAt
	case payflow.AccessSuspended:
		stamp = &e.SuspendedAt
	case payflow.AccessRevoked:
		stamp = &e.RevokedAt
	default:
		return false, fmt.Errorf("fake store: set entitlement: unknown status %q", e.Status)
	}
	if *stamp == nil {
		*stamp = &now
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := [2]string{e.CustomerID, e.ProductID}
	old, ok := s.ents[key]
	if !ok {
		e.UpdatedAt = orNow(e.UpdatedAt)
		s.ents[key] = e
		s.entLog = append(s.entLog, e.CustomerID+"/"+e.ProductID+"="+e.Status)
		return true, nil
	}
	if old.Status == e.Status && sameTime(old.ValidUntil, e.ValidUntil) {
		return false, nil
	}
	switch e.Status {
	case payflow.AccessGranted:
		if old.Status != e.Status || old.GrantedAt == nil {
			old.GrantedAt = e.GrantedAt
		}
	case payflow.AccessSuspended:
		if old.Status != e.Status || old.SuspendedAt == nil {
			old.SuspendedAt = e.SuspendedAt
		}
	case payflow.AccessRevoked:
		if old.Status != e.Status || old.RevokedAt == nil {
			old.RevokedAt = e.RevokedAt
		}
	}
	old.Status, old.ValidUntil, old.UpdatedAt = e.Status, e.ValidUntil, orNow(e.UpdatedAt)
	old.Source = sticky(e.Source, old.Source)
	s.ents[key] = old
	s.entLog = append(s.entLog, e.CustomerID+"/"+e.ProductID+"="+e.Status)
	return true, nil
}

func (s *fakeStore) GetEntitlement(_ context.Context, customerID, productID string) (payflow.Entitlement, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.ents[[2]string{customerID, productID}]
	if !ok {
		return payflow.Entitlement{}, fmt.Errorf("fake store: entitlement %s/%s: %w", customerID, productID, payflow.ErrNotFound)
	}
	return e, nil
}

func (s *fakeStore) ClaimEmail(_ context.Context, e payflow.Email) (payflow.Email, bool, error) {
	if e.DedupeKey == "" {
		return payflow.Email{}, false, errors.New("fake store: claim email: empty dedupe key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.emails[e.DedupeKey]; ok {
		return old, false, nil
	}
	if e.Status == "" {
		e.Status = payflow.EmailPending
	}
	e.CreatedAt = orNow(e.CreatedAt)
	s.emails[e.DedupeKey] = e
	s.emailOrder = append(s.emailOrder, e.DedupeKey)
	return e, true, nil
}

func (s *fakeStore) FinishEmail(_ context.Context, key, status, providerID string, at time.Time) error {
	if status == "" {
		return errors.New("fake store: finish email: empty status")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.emails[key]
	if !ok {
		return fmt.Errorf("fake store: finish email %s: %w", key, payflow.ErrNotFound)
	}
	e.Status = status
	if providerID != "" {
		e.ProviderMessageID = providerID
	}
	if (status == payflow.EmailSent || status == payflow.EmailOutbox) && e.SentAt == nil {
		t := orNow(at)
		e.SentAt = &t
	}
	s.emails[key] = e
	return nil
}

func (s *fakeStore) UpsertDispute(_ context.Context, d payflow.Dispute) (bool, error) {
	if d.ID == "" {
		return false, errors.New("fake store: upsert dispute: empty ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d.UpdatedAt = orNow(d.UpdatedAt)
	old, ok := s.disputes[d.ID]
	if !ok {
		s.disputes[d.ID] = d
		return true, nil
	}
	d.ChargeID = sticky(d.ChargeID, old.ChargeID)
	d.PaymentIntent = sticky(d.PaymentIntent, old.PaymentIntent)
	d.CustomerID = sticky(d.CustomerID, old.CustomerID)
	differs := d.ChargeID != old.ChargeID || d.PaymentIntent != old.PaymentIntent || d.CustomerID != old.CustomerID ||
		d.Amount != old.Amount || d.Currency != old.Currency || d.Reason != old.Reason || d.Status != old.Status ||
		d.EvidenceDueBy != old.EvidenceDueBy
	if !snapshotWins(d.StripeCreated, old.StripeCreated, differs) {
		return false, nil
	}
	s.disputes[d.ID] = d
	return true, nil
}

func (s *fakeStore) CustomerSummary(_ context.Context, customerID string) (payflow.CustomerSummary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := payflow.CustomerSummary{Customer: payflow.Customer{ID: customerID}}
	c, known := s.customers[customerID]
	if known {
		sum.Customer = c
	}
	for _, o := range s.orders {
		if o.CustomerID == customerID {
			sum.Orders = append(sum.Orders, o)
		}
	}
	for _, sub := range s.subs {
		if sub.CustomerID == customerID {
			sum.Subscriptions = append(sum.Subscriptions, sub)
		}
	}
	for k, e := range s.ents {
		if k[0] == customerID {
			sum.Entitlements = append(sum.Entitlements, e)
		}
	}
	for _, key := range s.emailOrder {
		if e := s.emails[key]; known && c.Email != "" && strings.EqualFold(e.To, c.Email) {
			sum.Emails = append(sum.Emails, e)
		}
	}
	for _, d := range s.disputes {
		if d.CustomerID == customerID {
			sum.Disputes = append(sum.Disputes, d)
		}
	}
	if !known && len(sum.Orders)+len(sum.Subscriptions)+len(sum.Entitlements)+len(sum.Disputes) == 0 {
		return payflow.CustomerSummary{}, payflow.ErrNotFound
	}
	return sum, nil
}

func (s *fakeStore) Ping(context.Context) error       { return nil }
func (s *fakeStore) WriteCheck(context.Context) error { return nil }
func (s *fakeStore) Close() error                     { return nil }

// Test accessors.

// emailList returns the ledger in claim order.
func (s *fakeStore) emailList() []payflow.Email {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]payflow.Email, 0, len(s.emailOrder))
	for _, k := range s.emailOrder {
		out = append(out, s.emails[k])
	}
	return out
}

// purposes returns the purposes of the ledger's emails in claim order.
func (s *fakeStore) purposes() []string {
	var out []string
	for _, e := range s.emailList() {
		out = append(out, e.Purpose)
	}
	return out
}

func (s *fakeStore) email(key string) (payflow.Email, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.emails[key]
	return e, ok
}

func (s *fakeStore) order(id string) (payflow.Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	return o, ok
}

func (s *fakeStore) invoice(id string) (payflow.Invoice, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, ok := s.invoices[id]
	return inv, ok
}

func (s *fakeStore) subscription(id string) (payflow.Subscription, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[id]
	return sub, ok
}

func (s *fakeStore) dispute(id string) (payflow.Dispute, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.disputes[id]
	return d, ok
}

// access returns the entitlement's status, or "" when there is none.
func (s *fakeStore) access(customerID, productID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ents[[2]string{customerID, productID}].Status
}

func (s *fakeStore) entitlementLog() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.entLog...)
}

func (s *fakeStore) orderUpdates() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.orderLog...)
}

func (s *fakeStore) appliedEvent(id string) (payflow.AppliedEvent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.events[id]
	return e, ok
}

// Seeding (what an earlier run, or another process, left in the database).

func (s *fakeStore) putOrder(o payflow.Order) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o.CreatedAt, o.UpdatedAt = orNow(o.CreatedAt), orNow(o.UpdatedAt)
	s.orders[o.ID] = o
}

func (s *fakeStore) putEntitlement(e payflow.Entitlement) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.UpdatedAt = orNow(e.UpdatedAt)
	s.ents[[2]string{e.CustomerID, e.ProductID}] = e
}

func (s *fakeStore) putEvent(e payflow.AppliedEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.AppliedAt = orNow(e.AppliedAt)
	s.events[e.EventID] = e
}
