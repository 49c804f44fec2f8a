package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/payflow/payflow/fixtures"
)

// -api-version renders the event for that version: its api_version, and
// its objects in that version's shapes.
func TestTriggerAPIVersion(t *testing.T) {
	var out bytes.Buffer
	err := runTrigger(context.Background(), []string{"invoice.paid", "-api-version", "2025-03-31.basil", "-subscription", "sub_1Trig", "-print"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		APIVersion string `json:"api_version"`
		Data       struct {
			Object map[string]any `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out.Bytes(), &ev); err != nil {
		t.Fatal(err)
	}
	in := ev.Data.Object
	parent, _ := in["parent"].(map[string]any)
	details, _ := parent["subscription_details"].(map[string]any)
	if ev.APIVersion != "2025-03-31.basil" || details["subscription"] != "sub_1Trig" {
		t.Errorf("api_version %q, parent %v", ev.APIVersion, in["parent"])
	}
	for _, k := range []string{"payment_intent", "charge", "paid"} {
		if _, ok := in[k]; ok {
			t.Errorf("basil invoice has %q", k)
		}
	}

	// Sent to a receiver: the posted, signed payload is that version's.
	var posted []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posted, _ = io.ReadAll(r.Body)
		if r.Header.Get("Stripe-Signature") == "" {
			t.Error("no Stripe-Signature")
		}
		w.Write([]byte(`{"received":true}`))
	}))
	defer srv.Close()
	out.Reset()
	err = runTrigger(context.Background(), []string{"customer.subscription.created", "-url", srv.URL, "-secret", "whsec_test", "-api-version", "2026-07-29.dahlia"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(posted, &ev); err != nil || ev.APIVersion != "2026-07-29.dahlia" {
		t.Fatalf("posted api_version %q (%v)", ev.APIVersion, err)
	}
	if _, ok := ev.Data.Object["current_period_end"]; ok {
		t.Error("dahlia subscription has current_period_end at the top")
	}
}

// An unknown or malformed version is refused before anything is built or
// sent, saying which versions are known.
func TestTriggerBadAPIVersion(t *testing.T) {
	for _, v := range []string{"2024-06-20", "2025-02-24.acacia", "2025-10-01.basil", "basil", "2025-13-01.basil"} {
		var out bytes.Buffer
		err := runTrigger(context.Background(), []string{"invoice.paid", "-api-version", v, "-url", "http://127.0.0.1:1/none", "-secret", "whsec_test"}, &out)
		if err == nil || !strings.Contains(err.Error(), "-api-version") || !strings.Contains(err.Error(), fixtures.APIVersionBasil) || out.Len() != 0 {
			t.Errorf("-api-version %s: err %v, output %q", v, err, out.String())
		}
	}
}

// The help lists the versions trigger renders.
func TestTriggerSynopsisListsVersions(t *testing.T) {
	s := triggerSynopsis()
	for _, v := range fixtures.KnownAPIVersions() {
		if !strings.Contains(s, "  "+v+" ") {
			t.Errorf("help lacks %s:\n%s", v, s)
		}
	}
	if !strings.Contains(s, "YYYY-MM-DD.release") || !strings.Contains(s, "invoice.paid") {
		t.Errorf("help:\n%s", s)
	}
}
