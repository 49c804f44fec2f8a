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
	{"OrderStatusOnlyMovesForward", testOrderStatusOnlyMovesForward},
	{"TimesRoundTrip", testTimesRoundTrip},
	{"Invoices", testInvoices},
	{"Subscriptions", testSubscriptions},
	{"Refunds", testRefunds},
	{"Disputes", testDisputes},
	{"AccessSources", testAccessSources},
	{"AccessWritersTakeTurns", testAccessWritersTakeTurns},
	{"MigrationKeepsData", testMigrationKeepsData},
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
		{"FindOrderByPayment", func() error { _, err := db.FindOrderByPayment(ctx, "ch_missing", "pi_missing"); return err }},
		{"FindOrderByPayment without IDs", func() error { _, err := db.FindOrderByPayment(ctx, "", "missing"); return err }},
		{"GetInvoice", func() error { _, err := db.GetInvoice(ctx, "in_missing"); return err }},
		{"FindInvoiceByPayment", func() error { _, err := db.FindInvoiceByPayment(ctx, "ch_missing", ""); return err }},
		{"GetSubscription", func() error { _, err := db.GetSubscription(ctx, "sub_missing"); return err }},
		{"GetDispute", func() error { _, err := db.GetDispute(ctx, "dp_missing"); return err }},
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

func testTimesRoundTrip(t *testing.T, b backend) {
	db := openNew(t, b)
	ctx := t.Context()
	// Nanoseconds and a zone: stored as UTC to the microsecond, the
	// precision both backends keep.
	in := time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.FixedZone("CET", 3600))
	want := time.Date(2024, 2, 29, 22, 59, 59, 123456000, time.UTC)

	o, _, err := db.UpsertOrder(ctx, payflow.Order{ID: "pi_t", CreatedAt: in, UpdatedAt: in})
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
		mu                                  sync.Mutex
		claims, marks, changes, fulfilments int
		versions                            []int64
		errs                                []error
	)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, fulfilled, err1 := db.UpsertOrder(ctx, payflow.Order{ID: "pi_race", CustomerID: "cus_1", Amount: 100,
				Status: payflow.OrderFulfilled, CreatedAt: at(0)})
			_, claimed, err2 := db.ClaimEmail(ctx, payflow.Email{DedupeKey: "race", To: "a@example.com", Subject: fmt.Sprint(i)})
			marked, err3 := db.MarkEventApplied(ctx, payflow.AppliedEvent{EventID: "evt_race", Type: "t", Created: 1})
			up, err4 := db.SetAccessSource(ctx, payflow.AccessSource{CustomerID: "cus_1", ProductID: "prod_1",
				Source: "order/pi_race", Status: payflow.AccessGranted})
			mu.Lock()
			defer mu.Unlock()
			for _, err := range []error{err1, err2, err3, err4} {
				if err != nil {
					errs = append(errs, err)
				}
			}
			versions = append(versions, up.Version)
			if fulfilled {
				fulfilments++
			}
			if claimed {
				claims++
			}
			if marked {
				marks++
			}
			if up.Changed {
				changes++
			}
		}()
	}
	wg.Wait()

	for _, err := range errs {
		t.Errorf("concurrent write failed: %v", err)
	}
	if claims != 1 || marks != 1 || changes != 1 || fulfilments != 1 {
		t.Errorf("winners: %d email claims, %d event marks, %d access changes, %d fulfilments; want exactly 1 each",
			claims, marks, changes, fulfilments)
	}
	for _, v := range versions {
		if v != 1 {
			t.Errorf("access versions %v; want 1 for every writer (one change)", versions)
			break
		}
	}
	for table, where := range map[string]string{
		"orders":        "id = 'pi_race'",
		"emails":        "dedupe_key = 'race'",
		"stripe_events": "event_id = 'evt_race'",
		"access":        "customer_id = 'cus_1'",
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
		_, _, err := db.UpsertOrder(ctx, o)
		must(err)
	}
	_, err := db.UpsertSubscription(ctx, payflow.Subscription{ID: "sub_b", CustomerID: "cus_1", Status: "active", StripeCreated: 200})
	must(err)
	_, err = db.UpsertSubscription(ctx, payflow.Subscription{ID: "sub_a", CustomerID: "cus_1", Status: "canceled", StripeCreated: 100})
	must(err)
	// An invoice that names only the subscription still belongs to cus_1.
	for _, inv := range []payflow.Invoice{
		{ID: "in_b", SubscriptionID: "sub_b", Status: "paid", ChargeID: "ch_in_b", StripeCreated: 300},
		{ID: "in_a", CustomerID: "cus_1", SubscriptionID: "sub_a", Status: "void", StripeCreated: 150},
		{ID: "in_other", CustomerID: "cus_2", Status: "paid", StripeCreated: 10},
	} {
		_, err = db.UpsertInvoice(ctx, inv)
		must(err)
	}
	for _, a := range []payflow.AccessSource{
		{CustomerID: "cus_1", ProductID: "prod_1", Source: "subscription/sub_b", Status: payflow.AccessGranted},
		{CustomerID: "cus_1", ProductID: "prod_1", Source: "order/pi_1", Status: payflow.AccessRevoked},
		{CustomerID: "cus_1", ProductID: "prod_0", Source: "order/pi_2", Status: payflow.AccessSuspended},
		{CustomerID: "cus_2", ProductID: "prod_1", Source: "order/pi_other", Status: payflow.AccessGranted},
	} {
		_, err = db.SetAccessSource(ctx, a)
		must(err)
	}
	for _, r := range []payflow.Refund{
		{Source: "order/pi_1", ChargeID: "ch_1", AmountRefunded: 1999, Full: true, StripeCreated: 70},
		{Source: "subscription/sub_b", InvoiceID: "in_b", ChargeID: "ch_in_b", AmountRefunded: 100, StripeCreated: 80},
		{Source: "order/pi_other", ChargeID: "ch_9", AmountRefunded: 1, StripeCreated: 90},
	} {
		_, err = db.RecordRefund(ctx, r)
		must(err)
	}
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
		{ID: "dp_by_invoice", InvoiceID: "in_a", StripeCreated: 70},
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
		{"invoices", ids(len(s.Invoices), func(i int) string { return s.Invoices[i].ID }), "in_a,in_b"},
		{"access", ids(len(s.Access), func(i int) string { return s.Access[i].ProductID + "/" + s.Access[i].Source }),
			"prod_0/order/pi_2,prod_1/order/pi_1,prod_1/subscription/sub_b"},
		{"refunds", ids(len(s.Refunds), func(i int) string { return s.Refunds[i].Source }), "order/pi_1,subscription/sub_b"},
		{"emails", ids(len(s.Emails), func(i int) string { return s.Emails[i].DedupeKey }), "e1,e2"},
		{"disputes", ids(len(s.Disputes), func(i int) string { return s.Disputes[i].ID }), "dp_by_charge,dp_named,dp_by_intent,dp_by_invoice"},
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
	_, _, err = db.UpsertOrder(ctx, payflow.Order{ID: "pi_locked"})
	if err == nil {
		t.Fatal("UpsertOrder against a locked database succeeded")
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("UpsertOrder took %v to give up; it should honour its context", time.Since(start))
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
