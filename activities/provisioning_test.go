package activities_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/activities"
	"github.com/payflow/payflow/billing"
)

const provisioningSecret = "whsec_provisioning_test"

var grantA = billing.SetAccess{CustomerID: "cus_A", ProductID: "prod_A", Status: payflow.AccessGranted, Source: "order/pi_1"}

// alone is the effective access when ch's source is the product's only one.
func alone(ch billing.SetAccess) billing.ProductAccess {
	return billing.EffectiveAccess([]billing.AccessRow{ch.Row()})[0]
}

// merchant is the merchant's app: it records every request and answers
// with the next scripted status (200 once the script runs out).
type merchant struct {
	mu       sync.Mutex
	statuses []int
	got      []merchantRequest
}

type merchantRequest struct {
	header http.Header
	body   []byte
	event  activities.ProvisioningEvent
}

func (m *merchant) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev activities.ProvisioningEvent
	json.Unmarshal(body, &ev)
	m.mu.Lock()
	m.got = append(m.got, merchantRequest{header: r.Header.Clone(), body: body, event: ev})
	status := http.StatusOK
	if len(m.statuses) > 0 {
		status, m.statuses = m.statuses[0], m.statuses[1:]
	}
	m.mu.Unlock()
	w.WriteHeader(status)
}

func (m *merchant) requests() []merchantRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]merchantRequest(nil), m.got...)
}

func startMerchant(t *testing.T, statuses ...int) (*merchant, string) {
	t.Helper()
	m := &merchant{statuses: statuses}
	ts := httptest.NewServer(m)
	t.Cleanup(ts.Close)
	return m, ts.URL + "/hooks/payflow"
}

// verify checks the Payflow-Signature header the way a merchant would.
func verify(t *testing.T, header string, body []byte, secret string) time.Time {
	t.Helper()
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	if ts == "" || sig == "" {
		t.Fatalf("malformed Payflow-Signature %q", header)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	if want := hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(sig), []byte(want)) {
		t.Errorf("signature v1=%s, want v1=%s", sig, want)
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		t.Fatalf("timestamp %q: %v", ts, err)
	}
	return time.Unix(n, 0)
}

func TestProvisionerSendSignsAndIdentifies(t *testing.T) {
	ctx := context.Background()
	m, url := startMerchant(t)
	clock := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	p := &activities.Provisioner{URL: url, Secret: provisioningSecret, Now: func() time.Time { return clock }}

	until := time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
	grant := billing.SetAccess{CustomerID: "cus_A", ProductID: "prod_A", Status: payflow.AccessGranted,
		Source: "subscription/sub_A", ValidUntil: &until, Reason: "invoice paid"}
	if err := p.Send(ctx, grant, alone(grant), 1); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Minute) // a retry a minute later
	if err := p.Send(ctx, grant, alone(grant), 1); err != nil {
		t.Fatal(err)
	}
	suspend := grant
	suspend.Status, suspend.ValidUntil, suspend.Reason = payflow.AccessSuspended, nil, "payment overdue"
	if err := p.Send(ctx, suspend, alone(suspend), 2); err != nil {
		t.Fatal(err)
	}

	got := m.requests()
	if len(got) != 3 {
		t.Fatalf("merchant got %d requests, want 3", len(got))
	}
	for i, r := range got {
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("request %d: Content-Type %q", i, ct)
		}
		signedAt := verify(t, r.header.Get("Payflow-Signature"), r.body, provisioningSecret)
		if want := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(min(i, 1)) * time.Minute); !signedAt.Equal(want) {
			t.Errorf("request %d signed at %v, want %v", i, signedAt, want)
		}
		if id := r.header.Get("Payflow-Event-Id"); id == "" || id != r.event.ID {
			t.Errorf("request %d: Payflow-Event-Id %q, body id %q", i, id, r.event.ID)
		}
	}
	// A signature made with another secret does not verify.
	mac := hmac.New(sha256.New, []byte("whsec_other"))
	mac.Write([]byte("1709294400." + string(got[0].body)))
	if strings.Contains(got[0].header.Get("Payflow-Signature"), hex.EncodeToString(mac.Sum(nil))) {
		t.Error("signature does not depend on the secret")
	}

	ev := got[0].event
	if ev.CustomerID != "cus_A" || ev.ProductID != "prod_A" || ev.Access != payflow.AccessGranted ||
		ev.Source != "subscription/sub_A" || ev.SourceAccess != payflow.AccessGranted || ev.Reason != "invoice paid" ||
		ev.ValidUntil == nil || !ev.ValidUntil.Equal(until) || ev.SourceValidUntil == nil || !ev.SourceValidUntil.Equal(until) ||
		ev.Version != 1 || len(ev.Sources) != 1 || ev.Sources[0].Source != "subscription/sub_A" {
		t.Errorf("body %s", got[0].body)
	}
	if got[0].event.ID != got[1].event.ID {
		t.Errorf("two sends of one change have IDs %s and %s, want the same", got[0].event.ID, got[1].event.ID)
	}
	if got[0].event.ID != activities.ProvisioningEventID(grant) {
		t.Errorf("event ID %s, ProvisioningEventID %s", got[0].event.ID, activities.ProvisioningEventID(grant))
	}
	if got[2].event.ID == got[0].event.ID {
		t.Errorf("a different status has the same event ID %s", got[2].event.ID)
	}
	if got[2].event.ValidUntil != nil || !strings.Contains(string(got[2].body), `"access":"suspended"`) ||
		!strings.Contains(string(got[2].body), `"valid_until":null`) || got[2].event.Version != 2 {
		t.Errorf("suspension body %s", got[2].body)
	}
	if got[0].header.Get("Payflow-Signature") == got[1].header.Get("Payflow-Signature") {
		t.Error("the retry a minute later carries the first signature (timestamp not refreshed)")
	}
}

func TestProvisioningEventIDDependsOnTheChange(t *testing.T) {
	until := time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
	later := until.AddDate(0, 1, 0)
	base := billing.SetAccess{CustomerID: "cus_A", ProductID: "prod_A", Status: payflow.AccessGranted,
		Source: "order/pi_1", ValidUntil: &until, Reason: "order paid"}
	sameUntil := until.In(time.FixedZone("CET", 3600))

	same := base
	same.ValidUntil = &sameUntil // the same instant in another zone
	same.Reason = "retried"      // the reason is free text, not part of the change
	if activities.ProvisioningEventID(same) != activities.ProvisioningEventID(base) {
		t.Error("the same change has two IDs")
	}
	variants := map[string]func(*billing.SetAccess){
		"customer":    func(c *billing.SetAccess) { c.CustomerID = "cus_B" },
		"product":     func(c *billing.SetAccess) { c.ProductID = "prod_B" },
		"status":      func(c *billing.SetAccess) { c.Status = payflow.AccessRevoked },
		"source":      func(c *billing.SetAccess) { c.Source = "order/pi_2" },
		"valid until": func(c *billing.SetAccess) { c.ValidUntil = &later },
		"no validity": func(c *billing.SetAccess) { c.ValidUntil = nil },
	}
	seen := map[string]string{activities.ProvisioningEventID(base): "base"}
	for name, change := range variants {
		c := base
		change(&c)
		id := activities.ProvisioningEventID(c)
		if !strings.HasPrefix(id, "pfe_") || len(id) != len("pfe_")+24 {
			t.Errorf("%s: malformed ID %q", name, id)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("%s: same ID as %s", name, other)
		}
		seen[id] = name
	}
}

func TestProvisionerSendStatuses(t *testing.T) {
	cases := []struct {
		status    int
		wantErr   bool
		retryable bool
	}{
		{http.StatusOK, false, false},
		{http.StatusAccepted, false, false},
		{http.StatusNoContent, false, false},
		{http.StatusBadRequest, true, false},
		{http.StatusUnauthorized, true, false},
		{http.StatusNotFound, true, false},
		{http.StatusConflict, true, false},
		{http.StatusRequestTimeout, true, true},
		{http.StatusTooManyRequests, true, true},
		{http.StatusInternalServerError, true, true},
		{http.StatusBadGateway, true, true},
		{http.StatusServiceUnavailable, true, true},
		{http.StatusMovedPermanently, true, true}, // not followed for a POST without Location: retried
	}
	ch := billing.SetAccess{CustomerID: "cus_A", ProductID: "prod_A", Status: payflow.AccessRevoked, Source: "order/pi_1"}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			m, url := startMerchant(t, tc.status)
			p := &activities.Provisioner{URL: url, Secret: provisioningSecret}
			err := p.Send(context.Background(), ch, alone(ch), 1)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && isNonRetryable(err) == tc.retryable {
				t.Errorf("err = %v: non-retryable %v, want %v", err, isNonRetryable(err), !tc.retryable)
			}
			if n := len(m.requests()); n != 1 {
				t.Errorf("%d requests", n)
			}
		})
	}
}

func TestProvisionerUnreachableIsRetryable(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	p := &activities.Provisioner{URL: url, Secret: provisioningSecret}
	err := p.Send(context.Background(), grantA, alone(grantA), 1)
	if err == nil || isNonRetryable(err) {
		t.Fatalf("err = %v, want a retryable error", err)
	}

	bad := &activities.Provisioner{URL: "://not a url", Secret: provisioningSecret}
	if err := bad.Send(context.Background(), grantA, alone(grantA), 1); !isNonRetryable(err) {
		t.Errorf("malformed URL: err = %v, want non-retryable", err)
	}
}

func TestSetAccessWithProvisioner(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	var a *activities.Activities
	// The merchant's app reads the entitlement when it is called: the row
	// must already be written.
	var seenStatus []string
	m := &merchant{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rows, err := db.AccessFor(r.Context(), "cus_A", "prod_A")
		switch {
		case err != nil:
			seenStatus = append(seenStatus, "error: "+err.Error())
		case len(rows) != 1:
			seenStatus = append(seenStatus, fmt.Sprintf("%d rows", len(rows)))
		default:
			seenStatus = append(seenStatus, rows[0].Status)
		}
		m.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	a = newActivities(db)
	a.Provisioner = &activities.Provisioner{URL: ts.URL, Secret: provisioningSecret}

	until := time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
	ch := billing.SetAccess{CustomerID: "cus_A", ProductID: "prod_A", Status: payflow.AccessGranted,
		Source: "subscription/sub_A", ValidUntil: &until, Reason: "invoice paid"}
	for i := 0; i < 2; i++ { // the second call is a retried activity
		if err := a.SetAccess(ctx, ch); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	got := m.requests()
	if len(got) != 2 {
		t.Fatalf("merchant got %d requests, want 2", len(got))
	}
	if got[0].event.ID != got[1].event.ID || got[0].header.Get("Payflow-Event-Id") != got[1].header.Get("Payflow-Event-Id") {
		t.Errorf("event IDs %s, %s: want the same, so the merchant drops the duplicate", got[0].event.ID, got[1].event.ID)
	}
	for i, s := range seenStatus {
		if s != payflow.AccessGranted {
			t.Errorf("request %d: the entitlement read %q when the merchant was called", i, s)
		}
	}
	sum, err := db.CustomerSummary(ctx, "cus_A")
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Access) != 1 {
		t.Fatalf("%d access rows, want 1", len(sum.Access))
	}
	e := sum.Access[0]
	if e.Status != payflow.AccessGranted || e.Source != "subscription/sub_A" || e.ValidUntil == nil || !e.ValidUntil.Equal(until) ||
		e.Reason != "invoice paid" {
		t.Errorf("access row %+v", e)
	}
	if got[0].event.Version != 1 || got[1].event.Version != 1 {
		t.Errorf("versions %d, %d: a retry changes nothing, so the version stays", got[0].event.Version, got[1].event.Version)
	}

	// The merchant refusing the change for good is not retried; the
	// entitlement is written regardless.
	m2, url2 := startMerchant(t, http.StatusBadRequest)
	a.Provisioner = &activities.Provisioner{URL: url2, Secret: provisioningSecret}
	revoke := billing.SetAccess{CustomerID: "cus_A", ProductID: "prod_A", Status: payflow.AccessRevoked, Source: "subscription/sub_A"}
	if err := a.SetAccess(ctx, revoke); !isNonRetryable(err) {
		t.Errorf("merchant 400: err = %v, want non-retryable", err)
	}
	if len(m2.requests()) != 1 {
		t.Errorf("merchant got %d requests", len(m2.requests()))
	}
	if rows, err := db.AccessFor(ctx, "cus_A", "prod_A"); err != nil || len(rows) != 1 || rows[0].Status != payflow.AccessRevoked {
		t.Errorf("access %+v, %v", rows, err)
	}
}

func TestSetAccessWithoutProvisioner(t *testing.T) {
	ctx := context.Background()
	db := newStore(t)
	a := newActivities(db)
	if err := a.SetAccess(ctx, billing.SetAccess{CustomerID: "cus_A", ProductID: "prod_A", Status: payflow.AccessSuspended, Source: "subscription/sub_A"}); err != nil {
		t.Fatal(err)
	}
	if rows, err := db.AccessFor(ctx, "cus_A", "prod_A"); err != nil || len(rows) != 1 || rows[0].Status != payflow.AccessSuspended ||
		rows[0].SuspendedAt == nil {
		t.Errorf("access %+v, %v", rows, err)
	}
	for _, ch := range []billing.SetAccess{
		{ProductID: "prod_A", Status: payflow.AccessGranted, Source: "order/pi_1"},
		{CustomerID: "cus_A", Status: payflow.AccessGranted, Source: "order/pi_1"},
		{CustomerID: "cus_A", ProductID: "prod_A", Status: payflow.AccessGranted},
		{CustomerID: "cus_A", ProductID: "prod_A", Status: "paused", Source: "order/pi_1"},
	} {
		if err := a.SetAccess(ctx, ch); !isNonRetryable(err) {
			t.Errorf("%+v: err = %v, want non-retryable (no retry fixes it)", ch, err)
		}
	}
}

// dedupingMerchant applies each event ID once, as the README tells
// merchants to, and keeps the resulting access. It answers 503 to the
// first failFirst requests without applying them.
type dedupingMerchant struct {
	mu        sync.Mutex
	failFirst int
	ids       []string // of every request, in order
	seen      map[string]bool
	access    string
	dropped   int
}

func (m *dedupingMerchant) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev activities.ProvisioningEvent
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || ev.ID != r.Header.Get("Payflow-Event-Id") {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ids = append(m.ids, ev.ID)
	if m.failFirst > 0 {
		m.failFirst--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if m.seen[ev.ID] {
		m.dropped++
	} else {
		m.seen[ev.ID] = true
		m.access = ev.Access
	}
	w.WriteHeader(http.StatusOK)
}

func (m *dedupingMerchant) state() (ids []string, access string, dropped int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.ids...), m.access, m.dropped
}

// TestSetAccessRepeatedChangesReachTheMerchant runs the access changes of
// one subscription as separate activities (grant, pause, resume, a later
// pause): a merchant that drops duplicate event IDs must apply every one,
// even the ones equal to an earlier change, while a retried activity still
// carries the event ID of its first attempt.
func TestSetAccessRepeatedChangesReachTheMerchant(t *testing.T) {
	db := newStore(t)
	m := &dedupingMerchant{seen: map[string]bool{}, failFirst: 1}
	ts := httptest.NewServer(m)
	t.Cleanup(ts.Close)
	a := newActivities(db)
	a.Provisioner = &activities.Provisioner{URL: ts.URL, Secret: provisioningSecret}

	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(quietLog))
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterActivity(a)

	until := time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
	change := func(status, reason string) billing.SetAccess {
		ch := billing.SetAccess{CustomerID: "cus_A", ProductID: "prod_A", Status: status,
			Source: "subscription/sub_A", Reason: reason}
		if status == payflow.AccessGranted {
			ch.ValidUntil = &until
		}
		return ch
	}
	steps := []billing.SetAccess{
		change(payflow.AccessGranted, "invoice paid"), // its first attempt gets a 503
		change(payflow.AccessSuspended, "subscription paused"),
		change(payflow.AccessGranted, "subscription resumed"),
		change(payflow.AccessSuspended, "subscription paused"),
	}
	var accessAfter []string
	env.ExecuteWorkflow(func(ctx workflow.Context) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute,
			RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Millisecond, MaximumAttempts: 3},
		})
		for _, ch := range steps {
			if err := workflow.ExecuteActivity(ctx, a.SetAccess, ch).Get(ctx, nil); err != nil {
				return err
			}
			_, access, _ := m.state()
			accessAfter = append(accessAfter, access)
		}
		return nil
	})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	ids, _, dropped := m.state()
	if len(ids) != len(steps)+1 {
		t.Fatalf("merchant got %d requests, want %d", len(ids), len(steps)+1)
	}
	if ids[0] != ids[1] {
		t.Errorf("the retry carries event ID %s, its first attempt %s", ids[1], ids[0])
	}
	for i, ch := range steps {
		if i < len(accessAfter) && accessAfter[i] != ch.Status {
			t.Errorf("after step %d (%s: %s) the merchant's access is %q", i, ch.Status, ch.Reason, accessAfter[i])
		}
	}
	if dropped != 0 {
		t.Errorf("the merchant dropped %d distinct changes as duplicates (event IDs %v)", dropped, ids)
	}
	if rows, err := db.AccessFor(context.Background(), "cus_A", "prod_A"); err != nil || len(rows) != 1 || rows[0].Status != payflow.AccessSuspended {
		t.Errorf("access %+v, %v", rows, err)
	}
}
