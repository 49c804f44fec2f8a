package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payflow/payflow"
)

// The contract suite runs every test below against each backend: SQLite
// always, PostgreSQL when PAYFLOW_TEST_POSTGRES_URL names a server, e.g.
//
//	PAYFLOW_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test ./store/
//
// Each test gets a database of its own: a file in t.TempDir(), or a freshly
// created PostgreSQL database that is dropped when the test ends.

const postgresEnv = "PAYFLOW_TEST_POSTGRES_URL"

// backend hands out new, empty databases.
type backend struct {
	name   string
	newURL func(t *testing.T) string
}

const postgresSkip = postgresEnv + " is not set; set it to a PostgreSQL URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the suite against PostgreSQL"

// skipUnavailable skips the test when the backend has no server to run on.
func (b backend) skipUnavailable(t *testing.T) {
	t.Helper()
	if b.name == "postgres" && os.Getenv(postgresEnv) == "" {
		t.Skip(postgresSkip)
	}
}

var backends = []backend{
	{name: "sqlite", newURL: func(t *testing.T) string {
		// A directory that does not exist yet: Migrate must create it.
		return filepath.Join(t.TempDir(), "data", "payflow.db")
	}},
	{name: "postgres", newURL: newPostgresDatabase},
}

// newPostgresDatabase creates a uniquely named database on the server
// PAYFLOW_TEST_POSTGRES_URL points at, and drops it when the test ends.
func newPostgresDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv(postgresEnv)
	if base == "" {
		t.Skip(postgresSkip)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("%s: %v", postgresEnv, err)
	}
	defer admin.Close()
	var suffix [6]byte
	rand.Read(suffix[:])
	name := "payflow_test_" + hex.EncodeToString(suffix[:])
	if _, err := admin.ExecContext(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database via %s: %v", postgresEnv, err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer admin.Close()
		// FORCE ends connections a failed test may have left open.
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", postgresEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

var contract = []struct {
	name string
	run  func(t *testing.T, b backend)
}{
	{"Migrations", testMigrations},
	{"SchemaTooNew", testSchemaTooNew},
	{"OpenRefusesUnmigrated", testOpenRefusesUnmigrated},
	{"NotFound", testNotFound},
	{"Events", testEvents},
	{"Customers", testCustomers},
	{"Orders", testOrders},
	{"TimesRoundTrip", testTimesRoundTrip},
	{"SnapshotOrdering", testSnapshotOrdering},
	{"DunningStage", testDunningStage},
	{"EntitlementTransitions", testEntitlementTransitions},
	{"EmailLedger", testEmailLedger},
	{"ConcurrentIdempotentWrites", testConcurrentWrites},
	{"CustomerSummary", testCustomerSummary},
	{"Closed", testClosed},
}

func TestContract(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			b.skipUnavailable(t)
			for _, tc := range contract {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, b)
				})
			}
		})
	}
}

// openNew returns a store on a new, migrated database.
func openNew(t *testing.T, b backend) *DB {
	t.Helper()
	u := b.newURL(t)
	if _, err := Migrate(t.Context(), u); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	db, err := Open(t.Context(), u)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// count returns the number of rows in table matching where.
func count(t *testing.T, db *DB, table, where string, args ...any) int {
	t.Helper()
	var n int
	if err := db.sql.QueryRowContext(t.Context(), "SELECT count(*) FROM "+table+" WHERE "+where, args...).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// at returns a fixed UTC time, offset by d, so expectations are exact.
func at(d time.Duration) time.Time {
	return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).Add(d)
}

func ptr(t time.Time) *time.Time { return &t }

func fmtPtr(t *time.Time) string {
	if t == nil {
		return "nil"
	}
	return t.Format(time.RFC3339Nano)
}

func checkTime(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	if (got == nil) != (want == nil) || (got != nil && !got.Equal(*want)) {
		t.Errorf("%s = %s, want %s", what, fmtPtr(got), fmtPtr(want))
	}
}

func testMigrations(t *testing.T, b backend) {
	ctx := t.Context()
	u := b.newURL(t)
	latest := LatestSchemaVersion()

	n, err := Migrate(ctx, u)
	if err != nil {
		t.Fatalf("first Migrate: %v", err)
	}
	if n != latest {
		t.Errorf("first Migrate applied %d migrations, want %d", n, latest)
	}
	n, err = Migrate(ctx, u)
	if err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if n != 0 {
		t.Errorf("second Migrate applied %d migrations, want 0", n)
	}

	db, err := Open(ctx, u)
	if err != nil {
		t.Fatalf("Open after Migrate: %v", err)
	}
	defer db.Close()
	v, err := db.SchemaVersion(ctx)
	if err != nil || v != latest {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, latest)
	}
	if got := count(t, db, "schema_migrations", "version > 0"); got != latest {
		t.Errorf("schema_migrations holds %d rows, want %d", got, latest)
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func testSchemaTooNew(t *testing.T, b backend) {
	ctx := t.Context()
	u := b.newURL(t)
	if _, err := Migrate(ctx, u); err != nil {
		t.Fatal(err)
	}
	// Pretend a newer payflow migrated the database.
	db, err := connect(ctx, u, false)
	if err != nil {
		t.Fatal(err)
	}
	future := LatestSchemaVersion() + 1
	if _, err := db.sql.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, future, db.ts(time.Now())); err != nil {
		t.Fatal(err)
	}
	db.Close()

	wantMsg := fmt.Sprintf("schema version %d but this binary knows only up to version %d", future, LatestSchemaVersion())
	_, err = Migrate(ctx, u)
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), wantMsg) {
		t.Errorf("Migrate on a newer schema: %v; want ErrSchemaTooNew mentioning %q", err, wantMsg)
	}
	_, err = Open(ctx, u)
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), wantMsg) {
		t.Errorf("Open on a newer schema: %v; want ErrSchemaTooNew mentioning %q", err, wantMsg)
	}
}

func testOpenRefusesUnmigrated(t *testing.T, b backend) {
	ctx := t.Context()
	u := b.newURL(t)
	_, err := Open(ctx, u)
	if !errors.Is(err, ErrSchemaOutdated) || !strings.Contains(err.Error(), "payflow migrate") {
		t.Errorf("Open on an empty database: %v; want ErrSchemaOutdated mentioning `payflow migrate`", err)
	}
	if b.name == "sqlite" {
		if _, statErr := os.Stat(filepath.Dir(u)); !errors.Is(statErr, os.ErrNotExist) {
			t.Errorf("Open created %s (stat: %v); it should leave a missing database alone", filepath.Dir(u), statErr)
		}
	}

	// A database that is behind: migrated, then its history rolled back.
	if _, err := Migrate(ctx, u); err != nil {
		t.Fatal(err)
	}
	db, err := connect(ctx, u, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.sql.ExecContext(ctx, `DELETE FROM schema_migrations`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(ctx, u)
	if !errors.Is(err, ErrSchemaOutdated) || !strings.Contains(err.Error(), "payflow migrate") {
		t.Errorf("Open on an outdated schema: %v; want ErrSchemaOutdated mentioning `payflow migrate`", err)
	}
}

func testNotFound(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	calls := []struct {
		name string
		call func() error
	}{
		{"GetOrder", func() error { _, err := db.GetOrder(ctx, "pi_missing"); return err }},
		{"GetOrderByCharge", func() error { _, err := db.GetOrderByCharge(ctx, "ch_missing"); return err }},
		{"UpdateOrderStatus", func() error {
			_, err := db.UpdateOrderStatus(ctx, "pi_missing", payflow.OrderFulfilled, "", time.Now())
			return err
		}},
		{"GetSubscription", func() error { _, err := db.GetSubscription(ctx, "sub_missing"); return err }},
		{"SetDunningStage", func() error { return db.SetDunningStage(ctx, "sub_missing", "", "retry_1") }},
		{"GetEntitlement", func() error { _, err := db.GetEntitlement(ctx, "cus_missing", "prod_missing"); return err }},
		{"FinishEmail", func() error {
			return db.FinishEmail(ctx, "missing", payflow.EmailSent, "msg_1", time.Now())
		}},
		{"CustomerSummary", func() error { _, err := db.CustomerSummary(ctx, "cus_missing"); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, payflow.ErrNotFound) {
				t.Fatalf("err = %v, want payflow.ErrNotFound", err)
			}
			if !strings.HasPrefix(err.Error(), "store: ") || !strings.Contains(err.Error(), "missing") {
				t.Errorf("err = %q, want it to say what was missing", err)
			}
		})
	}
}

func testEvents(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	e := payflow.AppliedEvent{EventID: "evt_1", Type: "payment_intent.succeeded", ObjectID: "pi_1", Created: 1714564800}

	if ok, err := db.EventApplied(ctx, "evt_1"); err != nil || ok {
		t.Fatalf("EventApplied before = %v, %v; want false", ok, err)
	}
	for i, want := range []bool{true, false} {
		if ok, err := db.MarkEventApplied(ctx, e); err != nil || ok != want {
			t.Fatalf("MarkEventApplied #%d = %v, %v; want %v", i+1, ok, err, want)
		}
	}
	if ok, err := db.EventApplied(ctx, "evt_1"); err != nil || !ok {
		t.Fatalf("EventApplied after = %v, %v; want true", ok, err)
	}
	if _, err := db.MarkEventApplied(ctx, payflow.AppliedEvent{}); err == nil {
		t.Error("MarkEventApplied with no event ID succeeded")
	}
	// With an owner: the same owner (a retried activity) is told true
	// again, another owner (a later workflow run) false.
	owned := payflow.AppliedEvent{EventID: "evt_2", Type: "invoice.paid", Created: 1714564800, Owner: "subscription/sub_1@run-a"}
	for i, c := range []struct {
		owner string
		want  bool
	}{{"subscription/sub_1@run-a", true}, {"subscription/sub_1@run-a", true}, {"subscription/sub_1@run-b", false}} {
		owned.Owner = c.owner
		if ok, err := db.MarkEventApplied(ctx, owned); err != nil || ok != c.want {
			t.Fatalf("owned MarkEventApplied #%d (%s) = %v, %v; want %v", i+1, c.owner, ok, err, c.want)
		}
	}
}

func testCustomers(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	steps := []struct {
		c         payflow.Customer
		wantEmail string
	}{
		{payflow.Customer{ID: "cus_1", UpdatedAt: at(0)}, ""},
		{payflow.Customer{ID: "cus_1", Email: "a@example.com", UpdatedAt: at(time.Hour)}, "a@example.com"},
		// An event without the address must not erase it.
		{payflow.Customer{ID: "cus_1", UpdatedAt: at(2 * time.Hour)}, "a@example.com"},
		{payflow.Customer{ID: "cus_1", Email: "b@example.com", UpdatedAt: at(3 * time.Hour)}, "b@example.com"},
	}
	for i, s := range steps {
		if err := db.UpsertCustomer(ctx, s.c); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		sum, err := db.CustomerSummary(ctx, "cus_1")
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if sum.Customer.Email != s.wantEmail {
			t.Errorf("step %d: email = %q, want %q", i, sum.Customer.Email, s.wantEmail)
		}
	}
}

func testOrders(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()

	first := payflow.Order{ID: "pi_1", CustomerID: "cus_1", Amount: 1999, Currency: "usd", CreatedAt: at(0)}
	o, err := db.CreateOrder(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != payflow.OrderPending || o.Amount != 1999 || !o.CreatedAt.Equal(at(0)) || o.FulfilledAt != nil {
		t.Errorf("CreateOrder = %+v; want a pending order of 1999 created at %v", o, at(0))
	}

	// Fulfil, then a retried fulfilment: fulfilled_at keeps the first time.
	o, err = db.UpdateOrderStatus(ctx, "pi_1", payflow.OrderFulfilled, "", at(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	checkTime(t, "fulfilled_at", o.FulfilledAt, ptr(at(time.Minute)))
	o, err = db.UpdateOrderStatus(ctx, "pi_1", payflow.OrderFulfilled, "", at(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	checkTime(t, "fulfilled_at after retry", o.FulfilledAt, ptr(at(time.Minute)))
	if !o.UpdatedAt.Equal(at(time.Hour)) {
		t.Errorf("updated_at = %v, want %v", o.UpdatedAt, at(time.Hour))
	}

	// A late duplicate creation returns the stored order unchanged, apart
	// from filling in what it lacked.
	late := payflow.Order{ID: "pi_1", CustomerID: "cus_other", Email: "a@example.com", ChargeID: "ch_1",
		Amount: 1, Status: payflow.OrderPending, CreatedAt: at(2 * time.Hour)}
	o, err = db.CreateOrder(ctx, late)
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != payflow.OrderFulfilled || o.Amount != 1999 || o.CustomerID != "cus_1" ||
		o.Email != "a@example.com" || o.ChargeID != "ch_1" || !o.CreatedAt.Equal(at(0)) {
		t.Errorf("CreateOrder on an existing order = %+v; want the stored fulfilled order with email and charge filled in", o)
	}
	again, err := db.CreateOrder(ctx, late)
	if err != nil {
		t.Fatal(err)
	}
	if again.Status != o.Status || again.Email != o.Email || !again.UpdatedAt.Equal(o.UpdatedAt) {
		t.Errorf("repeated CreateOrder changed the order: %+v, then %+v", o, again)
	}

	byCharge, err := db.GetOrderByCharge(ctx, "ch_1")
	if err != nil || byCharge.ID != "pi_1" {
		t.Errorf("GetOrderByCharge = %+v, %v; want pi_1", byCharge, err)
	}

	// A refund keeps the fulfilment time; a failure reason is stored.
	o, err = db.UpdateOrderStatus(ctx, "pi_1", payflow.OrderRefunded, "requested_by_customer", at(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != payflow.OrderRefunded || o.FailureReason != "requested_by_customer" {
		t.Errorf("after refund: %+v", o)
	}
	checkTime(t, "fulfilled_at after refund", o.FulfilledAt, ptr(at(time.Minute)))

	got, err := db.GetOrder(ctx, "pi_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != o.Status || !got.UpdatedAt.Equal(o.UpdatedAt) {
		t.Errorf("GetOrder = %+v, want %+v", got, o)
	}
	if _, err := db.CreateOrder(ctx, payflow.Order{}); err == nil {
		t.Error("CreateOrder with no ID succeeded")
	}
}

func testTimesRoundTrip(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	// Nanoseconds and a zone: stored as UTC to the microsecond, the
	// precision both backends keep.
	in := time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.FixedZone("CET", 3600))
	want := time.Date(2024, 2, 29, 22, 59, 59, 123456000, time.UTC)

	o, err := db.CreateOrder(ctx, payflow.Order{ID: "pi_t", CreatedAt: in, UpdatedAt: in})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.GetOrder(ctx, "pi_t")
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range []time.Time{o.CreatedAt, o.UpdatedAt, got.CreatedAt, got.UpdatedAt} {
		if !tm.Equal(want) || tm.Location() != time.UTC {
			t.Errorf("time read back = %v (%v), want %v in UTC", tm, tm.Location(), want)
		}
	}
}

func testSnapshotOrdering(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	sub := func(created int64, status string, cancel bool) payflow.Subscription {
		return payflow.Subscription{ID: "sub_1", CustomerID: "cus_1", Status: status,
			CurrentPeriodEnd: 1717243200, CancelAtPeriodEnd: cancel, StripeCreated: created}
	}
	steps := []struct {
		name       string
		in         payflow.Subscription
		wantWrote  bool
		wantStatus string
		wantCancel bool
	}{
		{"first snapshot", sub(100, "active", false), true, "active", false},
		{"newer", sub(200, "past_due", false), true, "past_due", false},
		{"older arrives late", sub(150, "active", false), false, "past_due", false},
		{"redelivery of the newest", sub(200, "past_due", false), false, "past_due", false},
		{"same second, different", sub(200, "past_due", true), true, "past_due", true},
		{"much older", sub(1, "incomplete", false), false, "past_due", true},
		{"newest", sub(300, "canceled", false), true, "canceled", false},
	}
	for _, s := range steps {
		wrote, err := db.UpsertSubscription(ctx, s.in)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, err := db.GetSubscription(ctx, "sub_1")
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if wrote != s.wantWrote || got.Status != s.wantStatus || got.CancelAtPeriodEnd != s.wantCancel {
			t.Errorf("%s: wrote=%v stored status=%s cancel=%v; want wrote=%v status=%s cancel=%v",
				s.name, wrote, got.Status, got.CancelAtPeriodEnd, s.wantWrote, s.wantStatus, s.wantCancel)
		}
	}

	// Invoices and disputes share the guard.
	invSteps := []struct {
		in        payflow.Invoice
		wantWrote bool
	}{
		{payflow.Invoice{ID: "in_1", CustomerID: "cus_1", SubscriptionID: "sub_1", Amount: 500, Currency: "usd", Status: "paid", StripeCreated: 20}, true},
		{payflow.Invoice{ID: "in_1", Amount: 500, Currency: "usd", Status: "open", StripeCreated: 10}, false},
		{payflow.Invoice{ID: "in_1", Amount: 500, Currency: "usd", Status: "paid", StripeCreated: 20}, false}, // empty IDs keep the stored ones
	}
	for i, s := range invSteps {
		if wrote, err := db.UpsertInvoice(ctx, s.in); err != nil || wrote != s.wantWrote {
			t.Errorf("UpsertInvoice step %d = %v, %v; want %v", i, wrote, err, s.wantWrote)
		}
	}
	if n := count(t, db, "invoices", "id = $1 AND status = 'paid' AND customer_id = 'cus_1' AND subscription_id = 'sub_1'", "in_1"); n != 1 {
		t.Errorf("invoice in_1 went backwards or lost its IDs")
	}

	disSteps := []struct {
		in        payflow.Dispute
		wantWrote bool
	}{
		{payflow.Dispute{ID: "dp_1", ChargeID: "ch_1", Amount: 500, Currency: "usd", Status: "needs_response", StripeCreated: 10}, true},
		{payflow.Dispute{ID: "dp_1", ChargeID: "ch_1", Amount: 500, Currency: "usd", Status: "won", StripeCreated: 30}, true},
		{payflow.Dispute{ID: "dp_1", ChargeID: "ch_1", Amount: 500, Currency: "usd", Status: "under_review", StripeCreated: 20}, false},
	}
	for i, s := range disSteps {
		if wrote, err := db.UpsertDispute(ctx, s.in); err != nil || wrote != s.wantWrote {
			t.Errorf("UpsertDispute step %d = %v, %v; want %v", i, wrote, err, s.wantWrote)
		}
	}
	if n := count(t, db, "disputes", "id = $1 AND status = 'won'", "dp_1"); n != 1 {
		t.Errorf("dispute dp_1 went backwards")
	}
}

func testDunningStage(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	if _, err := db.UpsertSubscription(ctx, payflow.Subscription{ID: "sub_1", CustomerID: "cus_1", Status: "past_due", StripeCreated: 100}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetDunningStage(ctx, "sub_1", "", "retry_1"); err != nil {
		t.Fatal(err)
	}
	s, _ := db.GetSubscription(ctx, "sub_1")
	if s.DunningStage != "retry_1" || s.Status != "past_due" {
		t.Errorf("after SetDunningStage(retry_1): %+v", s)
	}
	// A newer Stripe snapshot, which knows nothing of dunning, keeps the stage.
	if _, err := db.UpsertSubscription(ctx, payflow.Subscription{ID: "sub_1", CustomerID: "cus_1", Status: "past_due", StripeCreated: 200, CurrentPeriodEnd: 5}); err != nil {
		t.Fatal(err)
	}
	s, _ = db.GetSubscription(ctx, "sub_1")
	if s.DunningStage != "retry_1" || s.CurrentPeriodEnd != 5 {
		t.Errorf("after a newer snapshot: %+v; want dunning stage retry_1 kept", s)
	}
	if err := db.SetDunningStage(ctx, "sub_1", "unpaid", "final"); err != nil {
		t.Fatal(err)
	}
	s, _ = db.GetSubscription(ctx, "sub_1")
	if s.DunningStage != "final" || s.Status != "unpaid" || s.StripeCreated != 200 {
		t.Errorf("after SetDunningStage(unpaid, final): %+v", s)
	}
}

func testEntitlementTransitions(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	ent := func(status, source string, validUntil *time.Time) payflow.Entitlement {
		return payflow.Entitlement{CustomerID: "cus_1", ProductID: "prod_1", Status: status, Source: source, ValidUntil: validUntil}
	}
	withStamp := func(e payflow.Entitlement, granted, suspended, revoked *time.Time) payflow.Entitlement {
		e.GrantedAt, e.SuspendedAt, e.RevokedAt = granted, suspended, revoked
		return e
	}
	t1, t2, t3, t4 := at(time.Hour), at(2*time.Hour), at(3*time.Hour), at(4*time.Hour)
	end := at(30 * 24 * time.Hour)
	later := at(60 * 24 * time.Hour)

	steps := []struct {
		name        string
		in          payflow.Entitlement
		wantChanged bool
		wantStatus  string
		wantSource  string
		wantValid   *time.Time
		wantGranted *time.Time
		wantSusp    *time.Time
		wantRevoked *time.Time
	}{
		{"grant", withStamp(ent(payflow.AccessGranted, "subscription/sub_1", &end), &t1, nil, nil),
			true, payflow.AccessGranted, "subscription/sub_1", &end, &t1, nil, nil},
		{"grant again (retry)", withStamp(ent(payflow.AccessGranted, "subscription/sub_1", &end), &t2, nil, nil),
			false, payflow.AccessGranted, "subscription/sub_1", &end, &t1, nil, nil},
		{"renewal extends", withStamp(ent(payflow.AccessGranted, "", &later), &t2, nil, nil),
			true, payflow.AccessGranted, "subscription/sub_1", &later, &t1, nil, nil},
		{"suspend", withStamp(ent(payflow.AccessSuspended, "dunning/sub_1", &later), nil, &t2, nil),
			true, payflow.AccessSuspended, "dunning/sub_1", &later, &t1, &t2, nil},
		{"suspend again", withStamp(ent(payflow.AccessSuspended, "dunning/sub_1", &later), nil, &t3, nil),
			false, payflow.AccessSuspended, "dunning/sub_1", &later, &t1, &t2, nil},
		{"regrant", withStamp(ent(payflow.AccessGranted, "subscription/sub_1", &later), &t3, nil, nil),
			true, payflow.AccessGranted, "subscription/sub_1", &later, &t3, &t2, nil},
		{"revoke, no end", withStamp(ent(payflow.AccessRevoked, "dispute/dp_1", nil), nil, nil, &t4),
			true, payflow.AccessRevoked, "dispute/dp_1", nil, &t3, &t2, &t4},
		{"revoke again", withStamp(ent(payflow.AccessRevoked, "dispute/dp_1", nil), nil, nil, &t1),
			false, payflow.AccessRevoked, "dispute/dp_1", nil, &t3, &t2, &t4},
	}
	for _, s := range steps {
		changed, err := db.SetEntitlement(ctx, s.in)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, err := db.GetEntitlement(ctx, "cus_1", "prod_1")
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if changed != s.wantChanged || got.Status != s.wantStatus || got.Source != s.wantSource {
			t.Errorf("%s: changed=%v status=%s source=%s; want changed=%v status=%s source=%s",
				s.name, changed, got.Status, got.Source, s.wantChanged, s.wantStatus, s.wantSource)
		}
		checkTime(t, s.name+": valid_until", got.ValidUntil, s.wantValid)
		checkTime(t, s.name+": granted_at", got.GrantedAt, s.wantGranted)
		checkTime(t, s.name+": suspended_at", got.SuspendedAt, s.wantSusp)
		checkTime(t, s.name+": revoked_at", got.RevokedAt, s.wantRevoked)
	}

	// A nil stamp means now.
	before := time.Now().Add(-time.Second)
	if _, err := db.SetEntitlement(ctx, ent(payflow.AccessGranted, "order/pi_2", nil)); err != nil {
		t.Fatal(err)
	}
	got, _ := db.GetEntitlement(ctx, "cus_1", "prod_1")
	if got.GrantedAt == nil || got.GrantedAt.Before(before) || got.GrantedAt.After(time.Now()) {
		t.Errorf("granted_at = %s, want about now", fmtPtr(got.GrantedAt))
	}
	if _, err := db.SetEntitlement(ctx, ent("paused", "", nil)); err == nil {
		t.Error("SetEntitlement accepted an unknown status")
	}
}

func testEmailLedger(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	e := payflow.Email{DedupeKey: "order/pi_1/receipt", To: "a@example.com", Purpose: "receipt",
		Subject: "Your receipt", Body: "Thanks", CreatedAt: at(0)}

	stored, claimed, err := db.ClaimEmail(ctx, e)
	if err != nil || !claimed || stored.Status != payflow.EmailPending || stored.Subject != "Your receipt" {
		t.Fatalf("first ClaimEmail = %+v, %v, %v; want a claimed pending email", stored, claimed, err)
	}
	e2 := e
	e2.Subject = "A different subject"
	stored, claimed, err = db.ClaimEmail(ctx, e2)
	if err != nil || claimed || stored.Subject != "Your receipt" {
		t.Fatalf("second ClaimEmail = %+v, %v, %v; want the first claim, not claimed", stored, claimed, err)
	}

	if err := db.FinishEmail(ctx, e.DedupeKey, payflow.EmailSent, "msg_1", at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A retried finish keeps the first send time and provider ID.
	if err := db.FinishEmail(ctx, e.DedupeKey, payflow.EmailSent, "", at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	stored, claimed, err = db.ClaimEmail(ctx, e)
	if err != nil || claimed {
		t.Fatalf("ClaimEmail after sending = %v, %v", claimed, err)
	}
	if stored.Status != payflow.EmailSent || stored.ProviderMessageID != "msg_1" || !stored.CreatedAt.Equal(at(0)) {
		t.Errorf("after FinishEmail: %+v", stored)
	}
	checkTime(t, "sent_at", stored.SentAt, ptr(at(time.Minute)))

	// Failures leave sent_at empty.
	if _, _, err := db.ClaimEmail(ctx, payflow.Email{DedupeKey: "k2", To: "b@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishEmail(ctx, "k2", payflow.EmailFailed, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "emails", "dedupe_key = 'k2' AND status = 'failed' AND sent_at IS NULL"); n != 1 {
		t.Error("a failed email got a sent_at")
	}
}

// testConcurrentWrites races many writers on one key: exactly one wins, the
// rest see its row, and none fails (no SQLITE_BUSY).
func testConcurrentWrites(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	const n = 50

	var (
		mu                     sync.Mutex
		claims, marks, changes int
		orders                 []payflow.Order
		errs                   []error
	)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err1 := db.CreateOrder(ctx, payflow.Order{ID: "pi_race", CustomerID: "cus_1", Amount: int64(100 + i), CreatedAt: at(0)})
			_, claimed, err2 := db.ClaimEmail(ctx, payflow.Email{DedupeKey: "race", To: "a@example.com", Subject: fmt.Sprint(i)})
			marked, err3 := db.MarkEventApplied(ctx, payflow.AppliedEvent{EventID: "evt_race", Type: "t", Created: 1})
			changed, err4 := db.SetEntitlement(ctx, payflow.Entitlement{CustomerID: "cus_1", ProductID: "prod_1", Status: payflow.AccessGranted})
			mu.Lock()
			defer mu.Unlock()
			for _, err := range []error{err1, err2, err3, err4} {
				if err != nil {
					errs = append(errs, err)
				}
			}
			orders = append(orders, o)
			if claimed {
				claims++
			}
			if marked {
				marks++
			}
			if changed {
				changes++
			}
		}()
	}
	wg.Wait()

	for _, err := range errs {
		t.Errorf("concurrent write failed: %v", err)
	}
	if claims != 1 || marks != 1 || changes != 1 {
		t.Errorf("winners: %d email claims, %d event marks, %d entitlement changes; want exactly 1 each", claims, marks, changes)
	}
	for _, o := range orders {
		if o.Amount != orders[0].Amount || o.ID != "pi_race" {
			t.Errorf("CreateOrder returned different rows: %+v and %+v", o, orders[0])
			break
		}
	}
	for table, where := range map[string]string{
		"orders":        "id = 'pi_race'",
		"emails":        "dedupe_key = 'race'",
		"stripe_events": "event_id = 'evt_race'",
		"entitlements":  "customer_id = 'cus_1'",
	} {
		if got := count(t, db, table, where); got != 1 {
			t.Errorf("%s: %d rows, want 1", table, got)
		}
	}
}

func testCustomerSummary(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.UpsertCustomer(ctx, payflow.Customer{ID: "cus_1", Email: "Alice@Example.com", UpdatedAt: at(0)}))
	// Created out of order: the summary sorts by time.
	for _, o := range []payflow.Order{
		{ID: "pi_2", CustomerID: "cus_1", Email: "alice@example.com", ChargeID: "ch_2", Amount: 500, Currency: "usd", CreatedAt: at(2 * time.Hour)},
		{ID: "pi_1", CustomerID: "cus_1", Email: "alice.work@example.com", ChargeID: "ch_1", Amount: 1999, Currency: "usd", CreatedAt: at(time.Hour)},
		{ID: "pi_other", CustomerID: "cus_2", Email: "bob@example.com", ChargeID: "ch_9", CreatedAt: at(0)},
	} {
		_, err := db.CreateOrder(ctx, o)
		must(err)
	}
	_, err := db.UpsertSubscription(ctx, payflow.Subscription{ID: "sub_b", CustomerID: "cus_1", Status: "active", StripeCreated: 200})
	must(err)
	_, err = db.UpsertSubscription(ctx, payflow.Subscription{ID: "sub_a", CustomerID: "cus_1", Status: "canceled", StripeCreated: 100})
	must(err)
	_, err = db.SetEntitlement(ctx, payflow.Entitlement{CustomerID: "cus_1", ProductID: "prod_1", Status: payflow.AccessGranted, UpdatedAt: at(time.Hour)})
	must(err)
	_, err = db.SetEntitlement(ctx, payflow.Entitlement{CustomerID: "cus_2", ProductID: "prod_1", Status: payflow.AccessGranted})
	must(err)
	for _, e := range []payflow.Email{
		{DedupeKey: "e2", To: "alice@example.com", Purpose: "receipt", CreatedAt: at(3 * time.Hour)},
		{DedupeKey: "e1", To: "ALICE.WORK@example.com", Purpose: "receipt", CreatedAt: at(time.Hour)},
		{DedupeKey: "e3", To: "bob@example.com", Purpose: "receipt", CreatedAt: at(0)},
	} {
		_, _, err := db.ClaimEmail(ctx, e)
		must(err)
	}
	for _, d := range []payflow.Dispute{
		{ID: "dp_named", CustomerID: "cus_1", StripeCreated: 50},
		{ID: "dp_by_charge", ChargeID: "ch_1", StripeCreated: 40},
		{ID: "dp_by_intent", PaymentIntent: "pi_2", StripeCreated: 60},
		{ID: "dp_other", ChargeID: "ch_9", CustomerID: "cus_2", StripeCreated: 10},
	} {
		_, err := db.UpsertDispute(ctx, d)
		must(err)
	}

	s, err := db.CustomerSummary(ctx, "cus_1")
	must(err)
	ids := func(n int, id func(int) string) string {
		var out []string
		for i := range n {
			out = append(out, id(i))
		}
		return strings.Join(out, ",")
	}
	checks := []struct{ what, got, want string }{
		{"customer", s.Customer.ID + " " + s.Customer.Email, "cus_1 Alice@Example.com"},
		{"orders", ids(len(s.Orders), func(i int) string { return s.Orders[i].ID }), "pi_1,pi_2"},
		{"subscriptions", ids(len(s.Subscriptions), func(i int) string { return s.Subscriptions[i].ID }), "sub_a,sub_b"},
		{"entitlements", ids(len(s.Entitlements), func(i int) string { return s.Entitlements[i].CustomerID + "/" + s.Entitlements[i].ProductID }), "cus_1/prod_1"},
		{"emails", ids(len(s.Emails), func(i int) string { return s.Emails[i].DedupeKey }), "e1,e2"},
		{"disputes", ids(len(s.Disputes), func(i int) string { return s.Disputes[i].ID }), "dp_by_charge,dp_named,dp_by_intent"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("summary %s = %q, want %q", c.what, c.got, c.want)
		}
	}

	// A customer known only through an order still has a summary.
	s, err = db.CustomerSummary(ctx, "cus_2")
	if err != nil || s.Customer.ID != "cus_2" || len(s.Orders) != 1 {
		t.Errorf("summary of cus_2 = %+v, %v; want its one order", s, err)
	}
}

func testClosed(t *testing.T, b backend) {
	db := openNew(t, b)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// A database that is gone surfaces as an error, never as success.
	if _, err := db.MarkEventApplied(t.Context(), payflow.AppliedEvent{EventID: "evt_1"}); err == nil {
		t.Error("MarkEventApplied on a closed store succeeded")
	}
	if err := db.Ping(t.Context()); err == nil {
		t.Error("Ping on a closed store succeeded")
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in, dialect, dsn string
		wantErr          string
	}{
		{in: "", wantErr: "DATABASE_URL"},
		{in: "payflow.db", dialect: "sqlite", dsn: "payflow.db"},
		{in: "./.payflow/payflow.db", dialect: "sqlite", dsn: "./.payflow/payflow.db"},
		{in: "/var/lib/payflow/payflow.db", dialect: "sqlite", dsn: "/var/lib/payflow/payflow.db"},
		{in: "sqlite:payflow.db", dialect: "sqlite", dsn: "payflow.db"},
		{in: "sqlite://payflow.db", dialect: "sqlite", dsn: "payflow.db"},
		{in: "sqlite:///var/lib/payflow.db", dialect: "sqlite", dsn: "/var/lib/payflow.db"},
		{in: "file:/tmp/p.db", dialect: "sqlite", dsn: "/tmp/p.db"},
		{in: "file:///tmp/p.db", dialect: "sqlite", dsn: "/tmp/p.db"},
		{in: "postgres://u:p@db:5432/payflow?sslmode=disable", dialect: "postgres", dsn: "postgres://u:p@db:5432/payflow?sslmode=disable"},
		{in: "postgresql://db/payflow", dialect: "postgres", dsn: "postgresql://db/payflow"},
		{in: "mysql://db/payflow", wantErr: `unsupported database URL scheme "mysql"`},
		{in: "sqlite://", wantErr: "names no file"},
		{in: "sqlite:///tmp/p.db?mode=ro", wantErr: "query parameters"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, dsn, err := parseURL(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseURL(%q) error = %v, want one mentioning %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || d.name != tt.dialect || dsn != tt.dsn {
				t.Fatalf("parseURL(%q) = %v, %q, %v; want %s, %q", tt.in, d, dsn, err, tt.dialect, tt.dsn)
			}
		})
	}
}

func TestMigrationsMatchAcrossDialects(t *testing.T) {
	lite, err := loadMigrations(sqliteDialect.name)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loadMigrations(postgresDialect.name)
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) == 0 || len(lite) != len(pg) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL ones; want the same, non-zero", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].version != pg[i].version || lite[i].version != i+1 {
			t.Errorf("migration %d: SQLite %s, PostgreSQL %s; want both numbered %d", i, lite[i].name, pg[i].name, i+1)
		}
	}
}

func TestSQLitePragmas(t *testing.T) {
	db := openNew(t, backends[0])
	ctx := t.Context()
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"busy_timeout": "5000",
		"foreign_keys": "1",
		"synchronous":  "1", // NORMAL
	} {
		var got string
		if err := db.sql.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

// TestSQLiteLockedSurfacesError holds the write lock from another
// connection, as another process would: a write must fail with an error
// (so the activity retries) once its context ends, and leave nothing behind.
func TestSQLiteLockedSurfacesError(t *testing.T) {
	u := backends[0].newURL(t)
	if _, err := Migrate(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	db, err := Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	other, err := sql.Open("sqlite", u)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = db.CreateOrder(ctx, payflow.Order{ID: "pi_locked"})
	if err == nil {
		t.Fatal("CreateOrder against a locked database succeeded")
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("CreateOrder took %v to give up; it should honour its context", time.Since(start))
	}
	if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetOrder(t.Context(), "pi_locked"); !errors.Is(err, payflow.ErrNotFound) {
		t.Errorf("after the failed write, GetOrder = %v; want not found", err)
	}
}

func TestOpenPostgresDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := Open(ctx, "postgres://payflow:secret@127.0.0.1:1/payflow?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("Open against a server that is down succeeded")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks the password: %v", err)
	}
}
