package activities

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/payflow/payflow/billing"
)

// Provisioner tells the merchant's app about every change of access: a
// POST of JSON signed with HMAC-SHA256, header
// `Payflow-Signature: t=<unix>,v1=<hex(hmac(secret, "<t>.<body>"))>` (the
// same scheme as Stripe's, so merchants can reuse their verifier). The body
// says what the source did and the customer's effective access to the
// product after it, which is what the app enforces. The
// `Payflow-Event-Id` header and the body's `id` are stable for one change
// (every attempt of the activity making it), so the app can drop the
// duplicates a retry sends; `version` grows with every change of the
// (customer, product), so the app can ignore a call older than one it has
// applied.
type Provisioner struct {
	URL    string
	Secret string
	Client *http.Client
	Now    func() time.Time
}

// ProvisioningEvent is the body the merchant's app receives (README,
// "Provisioning webhook").
type ProvisioningEvent struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	ProductID  string `json:"product_id"`
	// Access is the customer's effective access to the product after the
	// change: granted if any source grants it, else suspended if any
	// suspends it, else revoked. ValidUntil is its end (null: no end, or
	// not granted).
	Access     string     `json:"access"`
	ValidUntil *time.Time `json:"valid_until"`
	// Version counts the changes of the (customer, product).
	Version int64 `json:"version"`
	// What the source did.
	Source           string     `json:"source"` // order/<payment_intent> or subscription/<subscription>
	SourceAccess     string     `json:"source_access"`
	SourceValidUntil *time.Time `json:"source_valid_until"`
	Reason           string     `json:"reason"`
	// Sources is every source's access to the product, sorted by source.
	Sources []ProvisioningSource `json:"sources"`
	// Account is the Stripe connected account the customer belongs to
	// (acct_…), absent for the platform's own customers: sources are
	// named in platform form (subscription/<sub>) whatever the account.
	Account string `json:"account_id,omitempty"`
}

// ProvisioningSource is one source's access to the product.
type ProvisioningSource struct {
	Source     string     `json:"source"`
	Access     string     `json:"access"`
	ValidUntil *time.Time `json:"valid_until"`
}

// ProvisioningEventID is stable for one change of access. It is the ID
// Send uses outside an activity; inside one, Send also names the activity
// execution (see sendEventID).
func ProvisioningEventID(ch billing.SetAccess) string { return provisioningEventID(ch, "") }

func provisioningEventID(ch billing.SetAccess, scope string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|", ch.Source, ch.CustomerID, ch.ProductID, ch.Status)
	if ch.ValidUntil != nil {
		fmt.Fprint(h, ch.ValidUntil.UTC().Unix())
	}
	if scope != "" {
		fmt.Fprint(h, "|", scope)
	}
	return "pfe_" + hex.EncodeToString(h.Sum(nil))[:24]
}

// sendEventID is the event ID of the change ctx's activity makes. A
// workflow can make an equal change twice (pause, resume, pause again;
// suspended in two dunning campaigns): were the ID the change's content
// alone, a merchant dropping duplicate IDs would drop the second one. So
// it also names the activity execution (workflow run and activity ID),
// which Temporal keeps across the attempts of one activity: a retry still
// carries the first attempt's ID.
func sendEventID(ctx context.Context, ch billing.SetAccess) string {
	if !activity.IsActivity(ctx) {
		return ProvisioningEventID(ch)
	}
	info := activity.GetInfo(ctx)
	return provisioningEventID(ch, info.WorkflowExecution.ID+"/"+info.WorkflowExecution.RunID+"/"+info.ActivityID)
}

// provisioningEvent builds the body for a change and the product's
// effective access after it.
func provisioningEvent(id string, ch billing.SetAccess, eff billing.ProductAccess, version int64) ProvisioningEvent {
	ev := ProvisioningEvent{ID: id, CustomerID: ch.CustomerID, ProductID: ch.ProductID, Access: eff.Status,
		ValidUntil: eff.ValidUntil, Version: version, Source: ch.Source, SourceAccess: ch.Status,
		SourceValidUntil: ch.ValidUntil, Reason: ch.Reason, Sources: []ProvisioningSource{}}
	for _, s := range eff.Sources {
		ev.Sources = append(ev.Sources, ProvisioningSource{Source: s.Source, Access: s.Status, ValidUntil: s.ValidUntil})
	}
	return ev
}

// SignProvisioning computes the Payflow-Signature header value.
func SignProvisioning(secret string, t time.Time, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	ts := strconv.FormatInt(t.Unix(), 10)
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Send posts one change with the effective access after it and the
// product's version. 2xx is success; 4xx other than 408/429 is a permanent
// refusal; anything else is retried by Temporal.
func (p *Provisioner) Send(ctx context.Context, ch billing.SetAccess, eff billing.ProductAccess, version int64) error {
	ev := provisioningEvent(sendEventID(ctx, ch), ch, eff, version)
	ev.Account = AccountOf(ctx)
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		return temporal.NewNonRetryableApplicationError("bad PROVISIONING_WEBHOOK_URL", "ProvisioningConfig", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Payflow-Event-Id", ev.ID)
	req.Header.Set("Payflow-Signature", SignProvisioning(p.Secret, now(), body))
	c := p.Client
	if c == nil {
		c = &http.Client{Timeout: 15 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("provisioning webhook: %w", err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429:
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("provisioning webhook refused event %s: status %d", ev.ID, resp.StatusCode), "ProvisioningRefused", nil)
	default:
		return fmt.Errorf("provisioning webhook: status %d", resp.StatusCode)
	}
}
