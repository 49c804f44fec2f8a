package integration

import (
	"net/http"
	"testing"
	"time"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/workflows"
)

// SendGrid answers 503 to the receipt five times. The order's email step
// (a local activity) retries with back-off 1+2+4+8+16 s on the real server:
// the last wait is longer than a workflow task, so it is a durable timer in
// the history, and each failed attempt's error is in a marker. The receipt
// goes out exactly once and the order completes. It runs in parallel with
// the other parallel tests to hide its half minute.
func TestReceiptRetriedThroughOutage(t *testing.T) {
	t.Parallel()
	cus, pi, email := "cus_outage", "pi_outage", "outage@example.com"
	sys.sendgrid.FailFor(email, 5, http.StatusServiceUnavailable)
	mustDeliver(t, build(t, "payment_intent.succeeded", fixtures.Options{CustomerID: cus, PaymentIntentID: pi, Email: email}))
	id := workflows.OrderID(pi)
	waitFor(t, 90*time.Second, id+" completed", func() (bool, string) {
		st, _ := describe(t, id)
		return st.String() == "Completed", st.String()
	})
	if got := sys.sendgrid.AttemptsTo(email); got != 6 {
		t.Errorf("SendGrid saw %d attempts to %s, want 6", got, email)
	}
	if got := sentWith("order/" + pi); got["order/"+pi+"/receipt"] != 1 {
		t.Errorf("receipt sent %v, want exactly once", got)
	}
	s := summary(t, cus)
	if e := emailKeys(s, "order/"+pi)["order/"+pi+"/receipt"]; e.Status != payflow.EmailSent {
		t.Errorf("ledger: %+v, want sent", e)
	}
	h := historyOf(t, id)
	if h.timers == 0 || h.localFailures == 0 {
		t.Errorf("history has %d timers and %d failed local activity attempts; want the back-off and the errors visible", h.timers, h.localFailures)
	}
}
