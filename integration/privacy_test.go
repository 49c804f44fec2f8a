package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/payflow/payflow/codec"
	"github.com/payflow/payflow/fixtures"
	"github.com/payflow/payflow/routing"
)

// usePayloadKeys reads the key payflow dev generated in its state folder
// and hands it to every payflow process the tests start afterwards (serve,
// worker, inspect, reconcile, quarantine replay inherit the environment),
// as an operator gives every process the same PAYFLOW_PAYLOAD_KEYS.
func usePayloadKeys() error {
	b, err := os.ReadFile(filepath.Join(sys.dir, "state", "payload_keys"))
	if err != nil {
		return fmt.Errorf("payflow dev kept no payload key: %w", err)
	}
	sys.payloadKeys = strings.TrimSpace(string(b))
	return os.Setenv("PAYFLOW_PAYLOAD_KEYS", sys.payloadKeys)
}

// codecInterceptors decrypt (and encrypt) payloads and failures at the
// gRPC layer with keys, so a client's callers read raw history events in
// the clear.
func codecInterceptors(keys string) ([]grpc.UnaryClientInterceptor, error) {
	ring, err := codec.ParseKeys(keys)
	if err != nil {
		return nil, err
	}
	c, err := codec.New(ring)
	if err != nil {
		return nil, err
	}
	return codec.GRPCInterceptors(c)
}

// What Temporal stores, read without the key (any client, its Web UI
// without a codec, a database dump), shows no customer data; the same
// payloads decrypted through payflow dev's codec endpoint, as the Web UI
// calls it, show it. The search attributes stay readable.
func TestPayloadsEncryptedInTemporal(t *testing.T) {
	const cus, pi, email = "cus_private", "pi_private", "private.person+payflow@example.com"
	id := routing.OrderID(pi)
	mustDeliver(t, build(t, "payment_intent.succeeded", fixtures.Options{CustomerID: cus, PaymentIntentID: pi, Email: email}))
	waitCompleted(t, id)

	plain, err := client.Dial(client.Options{HostPort: sys.temporalAdr, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	ctx := context.Background()
	keyID, _, _ := strings.Cut(sys.payloadKeys, ":")
	var payloads []*commonpb.Payload
	events := 0
	it := plain.GetWorkflowHistory(ctx, id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events++
		raw, err := proto.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(email)) || bytes.Contains(raw, []byte("private.person")) {
			t.Errorf("event %d (%s) shows the customer's email to a client without the key", ev.EventId, ev.EventType)
		}
		err = proxy.VisitFailures(ctx, ev, proxy.VisitFailuresOptions{Visitor: func(_ *proxy.VisitFailuresContext, f *failurepb.Failure) error {
			if f.GetMessage() != "Encoded failure" || f.GetStackTrace() != "" {
				t.Errorf("event %d (%s): failure message %q in the clear", ev.EventId, ev.EventType, f.GetMessage())
			}
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		err = proxy.VisitPayloads(ctx, ev, proxy.VisitPayloadsOptions{SkipSearchAttributes: true,
			Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
				for _, p := range ps {
					if enc := string(p.GetMetadata()[converter.MetadataEncoding]); enc != codec.EncodingEncrypted {
						t.Errorf("event %d (%s): a payload in %q, not encrypted", ev.EventId, ev.EventType, enc)
					} else if got := string(p.GetMetadata()[codec.MetadataKeyID]); got != keyID {
						t.Errorf("event %d: payload key ID %q, want dev's %q", ev.EventId, got, keyID)
					}
				}
				payloads = append(payloads, ps...)
				return ps, nil
			}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if events == 0 || len(payloads) < 3 {
		t.Fatalf("history of %s: %d events, %d payloads", id, events, len(payloads))
	}

	// Searchable: the customer ID (and statuses) in the clear, for
	// visibility queries and the UI's filters.
	d, err := plain.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	_ = json.Unmarshal(d.WorkflowExecutionInfo.GetSearchAttributes().GetIndexedFields()[routing.CustomerIDKey.GetName()].GetData(), &got)
	if got != cus {
		t.Errorf("StripeCustomerID %q without the key, want %q", got, cus)
	}
	// The state query answers, but its answer is sealed.
	if v, err := plain.QueryWorkflow(ctx, id, "", routing.QueryState); err == nil {
		var state map[string]any
		if err := v.Get(&state); err == nil {
			t.Errorf("state query read without the key: %v", state)
		}
	}

	// payflow dev's codec endpoint, called as the Web UI calls it from its
	// page: preflight, then POST /decode with X-Namespace.
	origin := strings.Replace(sys.uiURL, "127.0.0.1", "localhost", 1)
	req, _ := http.NewRequest(http.MethodOptions, sys.codecURL+"/decode", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("preflight from the dev UI's origin: %d %v", resp.StatusCode, resp.Header)
	}
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: payloads})
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodPost, sys.codecURL+"/decode", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	req.Header.Set("Origin", origin)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("decode: %d %v %s", resp.StatusCode, resp.Header, out)
	}
	var decoded commonpb.Payloads
	if err := protojson.Unmarshal(out, &decoded); err != nil {
		t.Fatal(err)
	}
	if len(decoded.Payloads) != len(payloads) {
		t.Fatalf("decoded %d payloads of %d", len(decoded.Payloads), len(payloads))
	}
	found := false
	for _, p := range decoded.Payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) == codec.EncodingEncrypted {
			t.Errorf("a payload still encrypted after /decode")
		}
		found = found || bytes.Contains(p.GetData(), []byte(email))
	}
	if !found {
		t.Errorf("no decoded payload of %s holds the customer's email", id)
	}

	// The dev server's Web UI was told where to decode.
	resp, err = http.Get(sys.uiURL + "/api/v1/settings")
	if err != nil {
		t.Fatal(err)
	}
	var settings struct{ Codec struct{ Endpoint string } }
	err = json.NewDecoder(resp.Body).Decode(&settings)
	resp.Body.Close()
	if err != nil || settings.Codec.Endpoint != sys.codecURL {
		t.Errorf("Web UI codec endpoint %q (%v), want %q", settings.Codec.Endpoint, err, sys.codecURL)
	}
}
