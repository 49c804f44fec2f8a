package billing

import (
	"slices"
	"testing"

	"github.com/payflow/payflow"
)

// storedOrder is the row an earlier run left: a Checkout order for two
// products, read back for a later event (a refund or dispute weeks later).
func storedOrder(status string, refundedAmount int64) payflow.Order {
	return payflow.Order{ID: "pi_1", CustomerID: cus, Email: "ann@example.com", PaymentIntent: "pi_1", CheckoutID: "cs_1",
		ChargeID: "ch_1", Products: []string{"prod_a", "prod_b"}, ProductID: "prod_a", Amount: 5000,
		AmountRefunded: refundedAmount, Currency: "usd", Status: status}
}

var seedProducts = []string{"prod_a", "prod_b"}

// laterEvents are what may reach a new run of a finished order.
var laterEvents = []struct {
	name string
	ev   Event
}{
	{"partial refund", refunded("evt_r_partial", 2500)},
	{"full refund", refunded("evt_r_full", 5000)},
	{"dispute created", disputeEv("evt_d_created", "created", "needs_response")},
	{"dispute won", disputeEv("evt_d_won", "closed", "won")},
	{"dispute lost", disputeEv("evt_d_lost", "closed", "lost")},
	// Stripe redelivers the payment (a new run has seen no event ID yet).
	{"duplicate payment", piSucceeded("evt_1", "prod_a")},
}

// seedCase is what the first event of the new run must do: the order's own
// access to every product afterwards ("" when no SetAccess may be emitted),
// the status, and whether a refund is recorded and confirmed.
type seedCase struct {
	access       string
	status       string
	recordRefund bool
	refundEmail  bool
	// reissued: the receipt (same dedupe key, so the ledger sends it
	// once) and the grants are issued again, because the run that stored
	// "fulfilled" may have died before either.
	reissued bool
}

func TestOrderFromRecordPaidStatuses(t *testing.T) {
	for _, st := range []struct {
		status   string
		refunded int64
		access   string // what the store holds for the order's products
		events   map[string]seedCase
	}{
		{payflow.OrderFulfilled, 0, AccessGranted, map[string]seedCase{
			"partial refund":    {"", OrderPartiallyRefunded, true, false, false},
			"full refund":       {AccessRevoked, OrderRefunded, true, true, false},
			"dispute created":   {AccessSuspended, OrderFulfilled, false, false, false},
			"dispute won":       {"", OrderFulfilled, false, false, false},
			"dispute lost":      {AccessRevoked, OrderDisputed, false, false, false},
			"duplicate payment": {AccessGranted, OrderFulfilled, false, false, true},
		}},
		{payflow.OrderPartiallyRefunded, 1000, AccessGranted, map[string]seedCase{
			"partial refund":    {"", OrderPartiallyRefunded, true, false, false},
			"full refund":       {AccessRevoked, OrderRefunded, true, true, false},
			"dispute created":   {AccessSuspended, OrderPartiallyRefunded, false, false, false},
			"dispute won":       {"", OrderPartiallyRefunded, false, false, false},
			"dispute lost":      {AccessRevoked, OrderDisputed, false, false, false},
			"duplicate payment": {AccessGranted, OrderPartiallyRefunded, false, false, true},
		}},
		{payflow.OrderRefunded, 5000, AccessRevoked, map[string]seedCase{
			"partial refund":    {"", OrderRefunded, false, false, false}, // stale: already fully refunded
			"full refund":       {"", OrderRefunded, false, false, false}, // already recorded and confirmed
			"dispute created":   {"", OrderRefunded, false, false, false},
			"dispute won":       {"", OrderRefunded, false, false, false},
			"dispute lost":      {"", OrderRefunded, false, false, false},
			"duplicate payment": {"", OrderRefunded, false, false, false},
		}},
		{payflow.OrderDisputed, 0, AccessRevoked, map[string]seedCase{
			"partial refund":    {"", OrderDisputed, true, false, false},
			"full refund":       {"", OrderRefunded, true, true, false},
			"dispute created":   {"", OrderDisputed, false, false, false}, // a closed dispute never reopens
			"dispute won":       {"", OrderDisputed, false, false, false},
			"dispute lost":      {"", OrderDisputed, false, false, false},
			"duplicate payment": {"", OrderDisputed, false, false, false},
		}},
	} {
		t.Run(st.status, func(t *testing.T) {
			seed := OrderFromRecord(storedOrder(st.status, st.refunded))
			if seed.Status() != st.status || seed.Search.Status != st.status || !seed.Paid || !seed.Done() {
				t.Fatalf("seed status %s (search %s) paid %v", seed.Status(), seed.Search.Status, seed.Paid)
			}
			if !slices.Equal(seed.ProductsBought(), seedProducts) || seed.PaymentIntent != "pi_1" ||
				seed.AmountRefunded != st.refunded || seed.Email != "ann@example.com" {
				t.Errorf("seed %+v", seed)
			}
			for _, p := range seedProducts {
				if i := slices.IndexFunc(seed.Access, func(g Grant) bool { return g.ProductID == p }); i < 0 || seed.Access[i].Status != st.access {
					t.Errorf("seeded access of %s: %+v, the store holds %s", p, seed.Access, st.access)
				}
			}
			for _, le := range laterEvents {
				want, ok := st.events[le.name]
				if !ok {
					t.Fatalf("no expectation for %s", le.name)
				}
				t.Run(le.name, func(t *testing.T) {
					o, cmds := ApplyOrder(seed, le.ev, t0)
					checkSeededRun(t, seed, o, cmds, want)
				})
			}
		})
	}
}

func checkSeededRun(t *testing.T, seed, o Order, cmds []Command, want seedCase) {
	t.Helper()
	if o.Status() != want.status {
		t.Errorf("status %s, want %s (%s)", o.Status(), want.status, names(cmds))
	}
	access := of[SetAccess](cmds)
	if want.access == "" && len(access) != 0 {
		t.Errorf("spurious access change: %+v", access)
	}
	if want.access != "" {
		if len(access) != len(seedProducts) {
			t.Errorf("access %+v, want %s for %v", access, want.access, seedProducts)
		}
		for _, a := range access {
			if a.Status != want.access || a.Source != "order/pi_1" || !slices.Contains(seedProducts, a.ProductID) {
				t.Errorf("access %+v, want %s", a, want.access)
			}
		}
	}
	for _, r := range of[RecordOrder](cmds) {
		if !slices.Equal(r.Products, seedProducts) || r.Status != want.status {
			t.Errorf("RecordOrder %+v: products %v, want %v, status %s", r, r.Products, seedProducts, want.status)
		}
	}
	if got := len(of[RecordRefund](cmds)) > 0; got != want.recordRefund {
		t.Errorf("refund recorded %v, want %v (%s)", got, want.recordRefund, names(cmds))
	}
	receipts := 0
	for _, e := range of[SendEmail](cmds) {
		if e.Purpose == PurposeReceipt {
			receipts++
			if e.DedupeKey != "order/pi_1/receipt" {
				t.Errorf("re-issued receipt under another key %q: the ledger would send it twice", e.DedupeKey)
			}
		}
	}
	if want.reissued != (receipts == 1) || receipts > 1 {
		t.Errorf("%d receipts, re-issue wanted %v: %v", receipts, want.reissued, emailKeys(cmds))
	}
	if got := hasPurpose(cmds, PurposeRefund); got != want.refundEmail {
		t.Errorf("refund email %v, want %v: %v", got, want.refundEmail, emailKeys(cmds))
	}
	if got := len(of[UpsertSearchAttributes](cmds)) > 0; got != (want.status != seed.Status()) {
		t.Errorf("search attribute upsert %v for %s → %s", got, seed.Status(), want.status)
	}
}

// A worker died inside the first run's workflow task after its local steps
// stored the order fulfilled, before the receipt: the retried task starts
// from that row and must still issue the receipt and the grants.
func TestOrderFromRecordCrashAfterStoringFulfilled(t *testing.T) {
	o, cmds := ApplyOrder(OrderFromRecord(storedOrder(payflow.OrderFulfilled, 0)), piSucceeded("evt_1", "prod_a"), t0)
	if !hasPurpose(cmds, PurposeReceipt) || o.Restored {
		t.Fatalf("no receipt re-issued: %s", names(cmds))
	}
	for _, p := range seedProducts {
		if effective(rows(cmds), p) != AccessGranted {
			t.Errorf("%s not granted again: %+v", p, of[SetAccess](cmds))
		}
	}
	// A second payment event in the same run issues nothing more.
	if _, cmds := ApplyOrder(o, piSucceeded("evt_2", "prod_a"), t0); hasPurpose(cmds, PurposeReceipt) || len(of[SetAccess](cmds)) != 0 {
		t.Errorf("issued again: %s", names(cmds))
	}
}

// The scenarios from the report, run end to end over two runs.
func TestOrderFromRecordNoRegrantAfterLostDispute(t *testing.T) {
	o, cmds := applyOrder(OrderFromRecord(storedOrder(payflow.OrderDisputed, 0)), refunded("evt_r", 1000), refunded("evt_r2", 2000))
	if a := of[SetAccess](cmds); len(a) != 0 {
		t.Fatalf("access came back after a lost dispute: %+v", a)
	}
	if o.Status() != OrderDisputed || o.AmountRefunded != 2000 {
		t.Errorf("status %s refunded %d", o.Status(), o.AmountRefunded)
	}
}

func TestOrderFromRecordFullRefundAfterPartialRevokes(t *testing.T) {
	o, cmds := applyOrder(OrderFromRecord(storedOrder(payflow.OrderPartiallyRefunded, 1000)), refunded("evt_r", 5000))
	rs := rows(cmds)
	for _, p := range seedProducts {
		if got := effective(rs, p); got != AccessRevoked {
			t.Errorf("%s: %s after a full refund", p, got)
		}
	}
	if o.Status() != OrderRefunded || !hasPurpose(cmds, PurposeRefund) {
		t.Errorf("status %s, %s", o.Status(), names(cmds))
	}
}

func TestOrderFromRecordUnpaidStatuses(t *testing.T) {
	for _, tc := range []struct {
		stored, status string
		done           bool
	}{
		{payflow.OrderReceived, OrderReceived, false},
		{payflow.OrderPending, OrderReceived, false},
		{payflow.OrderAwaitingPayment, OrderAwaitingPayment, false},
		{payflow.OrderFailed, OrderPaymentFailed, false},
		{payflow.OrderCanceled, OrderCanceled, true},
		{payflow.OrderExpired, OrderExpired, true},
		{payflow.OrderAsyncFailed, OrderAsyncFailed, true},
	} {
		t.Run(tc.stored, func(t *testing.T) {
			r := storedOrder(tc.stored, 0)
			r.FailureReason = "card_declined"
			seed := OrderFromRecord(r)
			if seed.Status() != tc.status || seed.Search.Status != tc.status || seed.Done() != tc.done || seed.Paid || len(seed.Access) != 0 {
				t.Fatalf("seed status %s (search %s) done %v paid %v access %+v", seed.Status(), seed.Search.Status, seed.Done(), seed.Paid, seed.Access)
			}
			// Refunds and disputes of an unpaid order change no access and send nothing.
			for _, le := range laterEvents[:5] {
				o, cmds := ApplyOrder(seed, le.ev, t0)
				if len(of[SetAccess](cmds)) != 0 || len(of[SendEmail](cmds)) != 0 || o.Paid {
					t.Errorf("%s: %s", le.name, names(cmds))
				}
				for _, rec := range of[RecordOrder](cmds) {
					if !slices.Equal(rec.Products, seedProducts) {
						t.Errorf("%s: RecordOrder products %v", le.name, rec.Products)
					}
				}
			}
		})
	}
}

func TestOrderFromRecordAsyncFailedIsClosed(t *testing.T) {
	seed := OrderFromRecord(storedOrder(payflow.OrderAsyncFailed, 0))
	o, cmds := ApplyOrder(seed, Event{ID: "evt_af", Type: "checkout.session.async_payment_failed", PaymentIntent: "pi_1",
		CheckoutID: "cs_1", CustomerID: cus}, t0)
	if o.Status() != OrderAsyncFailed || len(of[SendEmail](cmds)) != 0 || len(of[RecordOrder](cmds)) != 0 {
		t.Errorf("redelivered failure: status %s, %s", o.Status(), names(cmds))
	}
}

func TestOrderFromRecordAwaitingThenPaid(t *testing.T) {
	seed := OrderFromRecord(storedOrder(payflow.OrderAwaitingPayment, 0))
	o, cmds := ApplyOrder(seed, Event{ID: "evt_as", Type: "checkout.session.async_payment_succeeded", PaymentIntent: "pi_1",
		CheckoutID: "cs_1", CustomerID: cus, Currency: "usd"}, t0)
	if o.Status() != OrderFulfilled || !hasPurpose(cmds, PurposeReceipt) {
		t.Errorf("status %s, %s", o.Status(), names(cmds))
	}
	for _, p := range seedProducts {
		if effective(rows(cmds), p) != AccessGranted {
			t.Errorf("%s not granted: %+v", p, of[SetAccess](cmds))
		}
	}
}

func TestOrderFromRecordProducts(t *testing.T) {
	t.Run("legacy single product", func(t *testing.T) {
		r := storedOrder(payflow.OrderFulfilled, 0)
		r.Products = nil
		if got := OrderFromRecord(r).ProductsBought(); !slices.Equal(got, []string{"prod_a"}) {
			t.Errorf("products %v", got)
		}
	})
	t.Run("default product", func(t *testing.T) {
		r := storedOrder(payflow.OrderFulfilled, 0)
		r.Products, r.ProductID = []string{DefaultProduct}, DefaultProduct
		o := OrderFromRecord(r)
		if len(o.Products) != 0 || !slices.Equal(o.ProductsBought(), []string{DefaultProduct}) {
			t.Fatalf("products %v bought %v", o.Products, o.ProductsBought())
		}
		// A source naming the product later replaces "default".
		o, cmds := ApplyOrder(o, checkoutCompleted("evt_cs", "prod_course"), t0)
		if effective(rows(cmds), "prod_course") != AccessGranted || effective(rows(cmds), DefaultProduct) != AccessRevoked {
			t.Errorf("%s", names(cmds))
		}
	})
	t.Run("weaker source never shrinks the stored list", func(t *testing.T) {
		seed := OrderFromRecord(storedOrder(payflow.OrderFulfilled, 0))
		ev := checkoutCompleted("evt_cs")
		ev.Products, ev.ProductFrom = []string{"prod_b"}, ProductFromCheckoutMetadata
		o, cmds := ApplyOrder(seed, ev, t0)
		if !slices.Equal(o.ProductsBought(), seedProducts) {
			t.Errorf("products %v, %s", o.ProductsBought(), names(cmds))
		}
		for _, a := range of[SetAccess](cmds) {
			if a.Status != AccessGranted || !slices.Contains(seedProducts, a.ProductID) {
				t.Errorf("access %+v", a)
			}
		}
	})
	t.Run("line items after the run closed on the payment", func(t *testing.T) {
		// payment_intent.succeeded (metadata) closed the first run; the
		// Checkout line items arrive in the next.
		r := storedOrder(payflow.OrderFulfilled, 0)
		r.Products, r.ProductID = []string{"prod_meta"}, "prod_meta"
		o, cmds := ApplyOrder(OrderFromRecord(r), checkoutCompleted("evt_cs", "prod_course"), t0)
		if !slices.Equal(o.ProductsBought(), []string{"prod_course"}) {
			t.Errorf("products %v, %s", o.ProductsBought(), names(cmds))
		}
		if effective(rows(cmds), "prod_course") != AccessGranted || effective(rows(cmds), "prod_meta") != AccessRevoked {
			t.Errorf("access %+v", of[SetAccess](cmds))
		}
	})
}

func TestOrderFromRecordRefundedBeforePaymentNeverGrants(t *testing.T) {
	seed := OrderFromRecord(storedOrder(payflow.OrderReceived, 5000))
	o, cmds := ApplyOrder(seed, piSucceeded("evt_1", "prod_a"), t0)
	if o.Status() != OrderRefunded || len(of[SetAccess](cmds)) != 0 || hasPurpose(cmds, PurposeReceipt) {
		t.Errorf("status %s, %s", o.Status(), names(cmds))
	}
}
