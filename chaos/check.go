package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/routing"
)

// observation is the effects of one burst as the outside world sees them:
// order rows in payflow's database, messages SendGrid accepted, and the
// order workflows' runs in Temporal.
type observation struct {
	status    map[string]string         // order ID (payment intent) → orders.status; invoice ID → invoices.status
	sends     map[string]map[string]int // recipient → dedupe key → accepted sends
	keySends  map[string]int            // dedupe key → accepted sends
	runs      map[string]map[string]int // workflow ID → status → runs
	running   int                       // runs of the burst's workflows still open
	listErr   error                     // Temporal could not be listed
	dbErr     error                     // the database could not be read
	taken     time.Time
	workflows int
	flagged   map[string]bool // dedupe keys the worker flagged as possible duplicates
}

// observe reads the three sources. Errors of one source are kept in the
// result (a source that cannot be read leaves the events incomplete).
func (s *system) observe(ctx context.Context, tag string) *observation {
	o := &observation{status: map[string]string{}, sends: map[string]map[string]int{}, keySends: map[string]int{},
		runs: map[string]map[string]int{}, taken: time.Now()}

	prefix := piPrefix(tag)
	qctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	rows, err := s.check.QueryContext(qctx, `SELECT id, status FROM orders WHERE id LIKE $1`, prefix+"%")
	if err == nil {
		for rows.Next() {
			var id, st string
			if err = rows.Scan(&id, &st); err != nil {
				break
			}
			o.status[id] = st
		}
		if err == nil {
			err = rows.Err()
		}
		rows.Close()
	}
	if err == nil {
		err = o.readStatuses(qctx, s, `SELECT id, status FROM invoices WHERE id LIKE $1`, invoicePrefix(tag)+"%")
	}
	o.dbErr = err

	for _, m := range s.sendgrid.Messages() {
		key := m.CustomArgs["payflow_dedupe_key"]
		o.keySends[key]++
		for _, to := range m.To {
			to = strings.ToLower(to)
			if o.sends[to] == nil {
				o.sends[to] = map[string]int{}
			}
			o.sends[to][key]++
		}
	}

	// Every run of the burst's order workflows (a closed run and a new one
	// of the same ID would be an order fulfilled twice).
	var token []byte
	for page := 0; page < 1000; page++ {
		lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		resp, err := s.tc.ListWorkflow(lctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, PageSize: 1000, NextPageToken: token,
			Query: fmt.Sprintf("WorkflowType = '%s' AND WorkflowId STARTS_WITH '%s'", routing.OrderWorkflowName, routing.OrderID(prefix)),
		})
		cancel()
		if err != nil {
			o.listErr = err
			break
		}
		for _, ex := range resp.GetExecutions() {
			id := ex.GetExecution().GetWorkflowId()
			if o.runs[id] == nil {
				o.runs[id] = map[string]int{}
			}
			st := ex.GetStatus()
			o.runs[id][statusName(st)]++
			if st == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				o.running++
			}
			o.workflows++
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	return o
}

// readStatuses adds the (id, status) rows of query to o.status.
func (o *observation) readStatuses(ctx context.Context, s *system, query string, args ...any) error {
	rows, err := s.check.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			return err
		}
		o.status[id] = st
	}
	return rows.Err()
}

// statusName is the status as the Temporal UI and visibility queries
// spell it (Running, Completed, ...).
func statusName(st enumspb.WorkflowExecutionStatus) string { return st.String() }

var completedName = statusName(enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)

// receipts is how many messages SendGrid accepted for the event (each
// order has its own address, and sends exactly one email: the receipt),
// and how many distinct dedupe keys they carried. A subscription's invoices
// share its address: an invoice's are the messages of its receipt's key.
func (o *observation) receipts(e *event) (sends, keys int) {
	if e.isInvoice() {
		if n := o.keySends[e.receiptKey()]; n > 0 {
			return n, 1
		}
		return 0, 0
	}
	for _, n := range o.sends[strings.ToLower(e.Email)] {
		sends += n
		keys++
	}
	return sends, keys
}

// done says whether the event's state change is in the database: the
// order fulfilled, the invoice paid.
func (o *observation) done(e *event) bool {
	if e.isInvoice() {
		return o.status[e.Invoice] == billing.InvoicePaid
	}
	return o.status[e.PI] == payflow.OrderFulfilled
}

// Result is one scenario's figures.
type Result struct {
	Scenario, DB, What string
	Sent, Acked        int
	Completed          int // fulfilled (paid) in the database, exactly one receipt (or two, flagged, where allowed)
	Duplicate          int // events with an effect twice: a receipt sent more than once
	Flagged            int // receipts sent twice that the worker flagged as possible duplicates (scenarios that allow them)
	Lost               int // acknowledged, never completed (no fulfilled order or paid invoice, or no receipt)
	Unacked            int // never acknowledged within the retry window
	ExtraReceipts      int // receipts beyond the first, all events together
	Posts              int64
	SendGridRequests   int // send requests that reached the fake, failed, hung or accepted
	SendGridAccepted   int
	Evidence           string // the worker's own failure counters: what the fault did inside
	Statuses           map[int]int64
	TransportErrors    int64
	PerReceiver        []int64       // acknowledgements each receiver gave
	Took               time.Duration // the whole scenario, start-up included
	Settle             time.Duration // from the last acknowledgement to every effect observed
	Skipped            string
	Err                error
	Notes              []string // what went wrong, for a reader: duplicates, losses, crashes
}

// Failed is a result that must fail `make chaos`.
func (r *Result) Failed() bool {
	return r.Skipped == "" && (r.Err != nil || r.Lost > 0 || r.Duplicate > 0 || r.Unacked > 0)
}

// settled says whether every acknowledged event has its effects and no
// order workflow of the burst is still open (so no retry is still to come).
func (o *observation) settled(evs []event, acked []bool) (bool, string) {
	if o.dbErr != nil {
		return false, "database: " + o.dbErr.Error()
	}
	if o.listErr != nil {
		return false, "temporal: " + o.listErr.Error()
	}
	missing := 0
	for i := range evs {
		if !acked[i] {
			continue
		}
		sends, _ := o.receipts(&evs[i])
		if !o.done(&evs[i]) || sends == 0 {
			missing++
		}
	}
	if missing > 0 || o.running > 0 {
		return false, fmt.Sprintf("%d acknowledged events without their effects, %d order workflows open", missing, o.running)
	}
	return true, ""
}

// tally fills r's counts from the final observation.
func (o *observation) tally(r *Result, evs []event, acked []bool) {
	var lost, dups []string
	for i := range evs {
		e := &evs[i]
		sends, keys := o.receipts(e)
		id := routing.OrderID(e.PI)
		if e.isInvoice() {
			id = routing.SubscriptionID(e.Sub)
		}
		completedRuns := o.runs[id][completedName]
		fulfilled := o.done(e)
		// A late or repeated delivery may start another run of a closed
		// order; that run starts from the stored order and the event
		// ledger, so it is no effect. An effect twice is a second receipt.
		dup := sends > 1
		if sends > 1 {
			r.ExtraReceipts += sends - 1
		}
		switch {
		case dup && o.allFlagged(e):
			r.Flagged++
			if fulfilled {
				r.Completed++
			}
		case dup:
			r.Duplicate++
			dups = append(dups, fmt.Sprintf("%s: %d receipts (%d dedupe keys), %d completed runs", e.name(), sends, keys, completedRuns))
		case fulfilled && sends == 1:
			r.Completed++
		}
		if acked[i] && (!fulfilled || sends == 0) {
			r.Lost++
			lost = append(lost, fmt.Sprintf("%s: status %q, %d receipts, workflow runs %v", e.name(), o.status[e.name()], sends, o.runs[id]))
		}
	}
	var repeated []string
	for k, n := range o.keySends {
		if n > 1 {
			repeated = append(repeated, fmt.Sprintf("%s ×%d", k, n))
		}
	}
	sort.Strings(repeated)
	if len(repeated) > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("dedupe keys SendGrid accepted more than once: %d, e.g. %s", len(repeated), strings.Join(first(repeated, 3), "; ")))
	}
	if len(dups) > 0 {
		r.Notes = append(r.Notes, "duplicates, e.g. "+strings.Join(first(dups, 3), "; "))
	}
	if len(lost) > 0 {
		r.Notes = append(r.Notes, "lost, e.g. "+strings.Join(first(lost, 3), "; "))
	}
	if o.dbErr != nil {
		r.Notes = append(r.Notes, "database could not be read: "+o.dbErr.Error())
	}
	if o.listErr != nil {
		r.Notes = append(r.Notes, "Temporal could not be listed: "+o.listErr.Error())
	}
	if o.running > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d order workflows still open at the end", o.running))
	}
}

// allFlagged says whether every dedupe key of e that SendGrid accepted more
// than once was flagged by the worker as a possible duplicate.
func (o *observation) allFlagged(e *event) bool {
	if e.isInvoice() {
		return o.flagged[e.receiptKey()]
	}
	for key, n := range o.sends[strings.ToLower(e.Email)] {
		if n > 1 && !o.flagged[key] {
			return false
		}
	}
	return true
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
