package activities_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.temporal.io/sdk/temporal"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/fakes/sendgridapi"
	"github.com/payflow/payflow/fakes/stripeapi"
	"github.com/payflow/payflow/store"
)

const (
	stripeKey   = "sk_test_51PayflowActivitiesTests"
	sendgridKey = "SG.payflow-activities-tests"
	fromAddr    = "billing@payflow.example.com"
	alertAddr   = "ops@payflow.example.com"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// newStore migrates and opens a SQLite database in a temporary directory.
func newStore(t *testing.T) *store.DB {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "payflow.db")
	if _, err := store.Migrate(ctx, path); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// startStripe runs the Stripe fake and returns it with a client for it.
func startStripe(t *testing.T) (*stripeapi.Server, *activities.StripeAPI) {
	t.Helper()
	srv := stripeapi.New(stripeKey)
	url, stop := srv.Start()
	t.Cleanup(stop)
	return srv, activities.NewStripeAPI(stripeKey, url)
}

// startSendGrid runs the SendGrid fake and returns it with a mailer for it.
func startSendGrid(t *testing.T) (*sendgridapi.Server, *activities.SendGrid) {
	t.Helper()
	srv := sendgridapi.New(sendgridKey)
	url, stop := srv.Start()
	t.Cleanup(stop)
	return srv, &activities.SendGrid{APIKey: sendgridKey, Base: url, From: fromAddr}
}

// fixedNow is the clock of the activities under test.
var fixedNow = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func newActivities(db payflow.Store) *activities.Activities {
	return &activities.Activities{
		Store:      db,
		Policy:     billing.DefaultPolicy(),
		AlertEmail: alertAddr,
		Log:        quietLog,
		Now:        func() time.Time { return fixedNow },
	}
}

// ledger returns the email ledger's row for the dedupe key; the store has
// no plain lookup, so it claims the key again (which never changes an
// existing row) and fails the test when that claim inserted one.
func ledger(t *testing.T, db *store.DB, dedupeKey string) payflow.Email {
	t.Helper()
	// ClaimEmail returns the stored row without changing it when the key
	// exists; claimed must then be false.
	stored, claimed, err := db.ClaimEmail(context.Background(), payflow.Email{DedupeKey: dedupeKey, Status: "probe"})
	if err != nil {
		t.Fatalf("read ledger %s: %v", dedupeKey, err)
	}
	if claimed {
		t.Fatalf("ledger has no row for %s", dedupeKey)
	}
	return stored
}

// appErr returns err as a Temporal application error, or nil.
func appErr(err error) *temporal.ApplicationError {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}

func isNonRetryable(err error) bool {
	ae := appErr(err)
	return ae != nil && ae.NonRetryable()
}

// counterValue reads a counter. (prometheus/testutil needs a module this
// go.mod does not list, so the value is read through Write.)
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatalf("read counter: %v", err)
	}
	if m.Counter == nil {
		t.Fatalf("not a counter: %v", c.Desc())
	}
	return m.Counter.GetValue()
}
