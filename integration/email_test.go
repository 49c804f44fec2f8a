package integration

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
)

// SendGrid answers 503 to the receipt five times. The order's email step
// (an activity task) is retried by Temporal with back-off 1+2+4+8+16 s on
// the real server, each retry visible on the pending activity with the
// last failure. The receipt goes out exactly once, and since every failed
// attempt was a refusal the re-send is no possible duplicate. It runs in
// parallel with the other parallel tests to hide its half minute.
func TestReceiptRetriedThroughOutage(t *testing.T) {
	t.Parallel()
	cus, pi, email := "cus_outage", "pi_outage", "outage@example.com"
	key := "order/" + pi + "/receipt"
	sys.sendgrid.FailFor(email, 5, http.StatusServiceUnavailable)
	mustDeliver(t, build(t, "payment_intent.succeeded", fixtures.Options{CustomerID: cus, PaymentIntentID: pi, Email: email}))
	id := routing.OrderID(pi)
	sawRetry := ""
	waitFor(t, 90*time.Second, id+" completed", func() (bool, string) {
		if d, err := sys.temporal.DescribeWorkflowExecution(context.Background(), id, ""); err == nil {
			for _, pa := range d.PendingActivities {
				if pa.ActivityType.GetName() == "SendEmail" && pa.Attempt > 1 && strings.Contains(pa.LastFailure.GetMessage(), "status 503") {
					sawRetry = pa.LastFailure.GetMessage()
				}
			}
		}
		st, _ := describe(t, id)
		return st.String() == "Completed", st.String()
	})
	if got := sys.sendgrid.AttemptsTo(email); got != 6 {
		t.Errorf("SendGrid saw %d attempts to %s, want 6", got, email)
	}
	if got := sentWith("order/" + pi); got[key] != 1 {
		t.Errorf("receipt sent %v, want exactly once", got)
	}
	s := summary(t, cus)
	if e := emailKeys(s, "order/"+pi)[key]; e.Status != payflow.EmailSent {
		t.Errorf("ledger: %+v, want sent", e)
	}
	if sawRetry == "" {
		t.Error("never saw SendEmail pending with attempt > 1 and SendGrid's 503 as its last failure")
	}
	if h := historyOf(t, id); !h.tasks["SendEmail"] || h.local["SendEmail"] {
		t.Errorf("SendEmail ran as activity task %v / local activity %v; want an activity task", h.tasks["SendEmail"], h.local["SendEmail"])
	}
	if lines := devLogLines("may have it twice", key); len(lines) != 0 {
		t.Errorf("a send after refusals was counted as a possible duplicate:\n%s", strings.Join(lines, "\n"))
	}
}

// The database fails the ledger write after SendGrid accepted
// the receipt (here a trigger makes the ledger's UPDATE of this one row
// fail for a few seconds, longer than the activity retries the write
// itself; the claim before the send, an INSERT, still works). Temporal
// retries the activity, the retry finds SendGrid's acceptance in its
// heartbeat details and records it without sending again: exactly one
// receipt, and the ledger has SendGrid's message ID.
func TestReceiptLedgerFailsAfterSend(t *testing.T) {
	t.Parallel()
	cus, pi, email := "cus_ledgerdown", "pi_ledgerdown", "ledgerdown@example.com"
	key := "order/" + pi + "/receipt"
	db, err := sql.Open("sqlite", sys.dbURL+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const trigger = "payflow_test_ledger_down"
	if _, err := db.Exec(`CREATE TRIGGER ` + trigger + ` BEFORE UPDATE ON emails WHEN OLD.dedupe_key = '` + key + `'
		BEGIN SELECT RAISE(ABORT, 'ledger unwritable (test)'); END`); err != nil {
		t.Fatal(err)
	}
	dropped := false
	drop := func() {
		if !dropped {
			if _, err := db.Exec(`DROP TRIGGER IF EXISTS ` + trigger); err != nil {
				t.Errorf("drop trigger: %v", err)
			}
			dropped = true
		}
	}
	defer drop()

	mustDeliver(t, build(t, "payment_intent.succeeded", fixtures.Options{CustomerID: cus, PaymentIntentID: pi, Email: email}))
	id := routing.OrderID(pi)
	waitFor(t, 60*time.Second, "SendGrid accepted the receipt", func() (bool, string) {
		n := sentWith("order/" + pi)[key]
		return n >= 1, ""
	})
	// The activity retries the write for about 2 s, then fails; Temporal
	// retries it after 1 s, and again after 2 s.
	time.Sleep(6 * time.Second)
	if e := emailKeys(summary(t, cus), "order/"+pi)[key]; e.Status != payflow.EmailPending {
		t.Errorf("while the ledger fails the row is %q, want pending", e.Status)
	}
	drop()
	waitFor(t, 60*time.Second, id+" completed", func() (bool, string) {
		st, _ := describe(t, id)
		return st == enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, st.String()
	})

	if got := sentWith("order/" + pi)[key]; got != 1 {
		t.Errorf("SendGrid accepted the receipt %d times, want exactly 1", got)
	}
	var messageID string
	for _, m := range sys.sendgrid.Messages() {
		if m.CustomArgs["payflow_dedupe_key"] == key {
			messageID = m.MessageID
		}
	}
	if e := emailKeys(summary(t, cus), "order/"+pi)[key]; e.Status != payflow.EmailSent || e.ProviderMessageID != messageID {
		t.Errorf("ledger %q / %q, want sent / %q", e.Status, e.ProviderMessageID, messageID)
	}
	if lines := devLogLines("accepted by an earlier attempt", key); len(lines) == 0 {
		t.Errorf("no retry finished the ledger from the heartbeat (no log line); dev output:\n%s", tail(sys.output.String(), 3000))
	}
	if lines := devLogLines("may have it twice", key); len(lines) != 0 {
		t.Errorf("possible duplicate logged:\n%s", strings.Join(lines, "\n"))
	}
}

// devLogLines returns the lines payflow dev logged that contain every one
// of parts.
func devLogLines(parts ...string) []string {
	var out []string
	for _, line := range strings.Split(sys.output.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			out = append(out, line)
		}
	}
	return out
}
