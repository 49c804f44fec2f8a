package activities

import (
	"bytes"
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sendgrid/sendgrid-go"
	"github.com/sendgrid/sendgrid-go/helpers/mail"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/payflow/payflow"
	"github.com/payflow/payflow/billing"
)

// Message is a rendered email for a Mailer: Subject with Body (the
// text/plain part) and HTML (the text/html part), or, when TemplateID is
// set, a provider-side template (a SendGrid dynamic template, d-…) filled
// with TemplateData instead of Subject, Body and HTML.
type Message struct {
	To, From, Subject, Body string
	DedupeKey               string
	HTML                    string
	// FromName is the sender's display name (EMAIL_BRAND_NAME), ReplyTo
	// where replies go (EMAIL_REPLY_TO); both may be empty.
	FromName, ReplyTo string
	TemplateID        string
	TemplateData      map[string]any
}

// EmailSettings are how customer emails look and go out (config's
// EMAIL_BRAND_NAME, EMAIL_REPLY_TO and SENDGRID_TEMPLATES).
type EmailSettings struct {
	// Brand: the merchant's name and support address, in every built-in
	// message, the sender's name and the reply-to of customer emails.
	Brand billing.Brand
	// Templates maps a purpose to a SendGrid dynamic template ID (d-…):
	// that purpose goes out as template_id with dynamic_template_data
	// (billing.TemplateData) instead of payflow's own subject and parts.
	Templates map[string]string
}

// Mailer hands a message to an email provider and returns its message ID.
type Mailer interface {
	Send(ctx context.Context, m Message) (string, error)
}

// SendEmail runs the core's SendEmail command: it renders the purpose with
// the core's words (billing.Render), claims the dedupe key in the ledger,
// then sends. Without a Mailer the message stays in the ledger as the local
// outbox (the dev default) and is logged. A key that was sent or queued
// before is a no-op.
//
// The provider's acceptance is recorded before the ledger is touched: in
// the activity's heartbeat details (the SDK sends an attempt's first
// heartbeat at once, and Temporal hands the last details to the next
// attempt) and in this process's memory. An attempt that finds it finishes
// the ledger row and never sends again, so a database that fails after the
// send cannot make a second email. What remains is the moment between the
// provider's acceptance and the heartbeat reaching Temporal (the answer lost
// on the way, the worker killed): an attempt that then finds the row still
// pending sends again, and counts that send as possible_duplicate.
func (a *Activities) SendEmail(ctx context.Context, req billing.SendEmail) (err error) {
	if req.DedupeKey == "" {
		return invalid("email without dedupe key")
	}
	// A connected account's workflow keeps its own ledger rows
	// (acct_…/subscription/<sub>/…): the core's keys are in platform form.
	req.DedupeKey = inAccount(ctx, req.DedupeKey)
	if m, ok := a.acceptedBefore(ctx, req.DedupeKey); ok {
		a.logger(ctx).Info("email accepted by an earlier attempt: recording it in the ledger without sending again",
			"dedupe_key", req.DedupeKey, "purpose", req.Purpose, "provider_id", m.MessageID)
		return a.finishSent(ctx, req.DedupeKey, m.MessageID)
	}
	// Until the provider is asked, this attempt sends nothing; the next
	// attempt learns so from the heartbeat details, and a send it makes
	// then is no possible duplicate.
	asking := false
	defer func() {
		if err != nil && !asking {
			a.noteNothingSent(ctx, req.DedupeKey)
		}
	}()
	rendered, err := billing.RenderEmail(req.Purpose, a.withPortalLink(ctx, req), a.Email.Brand)
	if err != nil {
		return invalid("%v", err)
	}
	// The ledger keeps the subject and the text part (with a SendGrid
	// template, payflow's own words for the same data).
	subject, body := rendered.Subject, rendered.Text
	to := req.To
	if req.ToOperator {
		to = a.AlertEmail
	}
	if to == "" && req.CustomerID != "" && !req.ToOperator {
		if to, err = a.customerEmail(ctx, req.CustomerID); err != nil {
			return err
		}
	}
	if to == "" {
		// Nowhere to send it: record it so an operator sees it, don't retry.
		a.logger(ctx).Warn("email has no recipient", "dedupe_key", req.DedupeKey, "purpose", req.Purpose)
		_, _, err := a.Store.ClaimEmail(ctx, payflow.Email{DedupeKey: req.DedupeKey, Purpose: req.Purpose,
			Subject: subject, Body: body, Status: payflow.EmailFailed, CreatedAt: a.now()})
		return err
	}
	stored, claimed, err := a.Store.ClaimEmail(ctx, payflow.Email{DedupeKey: req.DedupeKey, To: to, Purpose: req.Purpose,
		Subject: subject, Body: body, Status: payflow.EmailPending, CreatedAt: a.now()})
	if err != nil {
		return fmt.Errorf("claim email %s: %w", req.DedupeKey, err)
	}
	if !claimed && stored.Status != payflow.EmailPending {
		a.logger(ctx).Info("email already handled", "dedupe_key", req.DedupeKey, "status", stored.Status)
		return nil
	}
	if a.Mailer == nil {
		a.logger(ctx).Info("email kept in outbox (no SENDGRID_API_KEY)", "dedupe_key", req.DedupeKey, "purpose", req.Purpose, "subject", subject)
		a.countEmail(req.Purpose, "outbox")
		return a.Store.FinishEmail(ctx, req.DedupeKey, payflow.EmailOutbox, "", a.now())
	}
	// A pending row this call did not insert was left by an attempt that
	// did not finish. Unless that attempt is known to have sent nothing, the
	// provider may have accepted its message: this send may be a duplicate.
	possibleDuplicate := !claimed && !a.nothingSentBefore(ctx, req.DedupeKey)
	asking = true
	id, err := a.Mailer.Send(ctx, a.message(req, stored, rendered))
	if err != nil {
		// A refusal is an answer: nothing was accepted. Any other error (a
		// timeout, a dropped connection) leaves it unknown.
		var perm *PermanentError
		asking = !errors.As(err, &perm) && !errors.Is(err, ErrNotAccepted)
		if perm != nil {
			a.countEmail(req.Purpose, "failed")
			if ferr := a.Store.FinishEmail(ctx, req.DedupeKey, payflow.EmailFailed, "", a.now()); ferr != nil {
				return ferr
			}
			return temporal.NewNonRetryableApplicationError("email refused: "+perm.Error(), EmailRefusedType, err)
		}
		a.countEmail(req.Purpose, "retry")
		return fmt.Errorf("send email %s: %w", req.DedupeKey, err)
	}
	a.noteAccepted(ctx, req.DedupeKey, id)
	if possibleDuplicate {
		a.countEmail(req.Purpose, "possible_duplicate")
		a.logger(ctx).Warn("email sent again after an attempt whose outcome is unknown: the recipient may have it twice",
			"dedupe_key", req.DedupeKey, "purpose", req.Purpose, "provider_id", id)
	} else {
		a.countEmail(req.Purpose, "sent")
		a.logger(ctx).Info("email sent", "dedupe_key", req.DedupeKey, "purpose", req.Purpose, "provider_id", id)
	}
	return a.finishSent(ctx, req.DedupeKey, id)
}

// message is what the Mailer sends: the ledger row's subject and text (an
// attempt after a crash sends what the first one claimed), this
// rendering's HTML part, or the purpose's SendGrid template with the
// rendering's data. Customer emails reply to the support address.
func (a *Activities) message(req billing.SendEmail, stored payflow.Email, r billing.RenderedEmail) Message {
	m := Message{To: stored.To, Subject: stored.Subject, Body: stored.Body, HTML: r.HTML, DedupeKey: req.DedupeKey,
		FromName: a.Email.Brand.Name}
	if !req.ToOperator && !billing.IsOperatorPurpose(req.Purpose) {
		m.ReplyTo = a.Email.Brand.SupportEmail
	}
	if id := a.Email.Templates[req.Purpose]; id != "" {
		m.TemplateID, m.TemplateData = id, templateData(r.Data)
	}
	return m
}

// templateData is d as SendGrid's dynamic_template_data: its JSON object
// (the field names the README documents).
func templateData(d billing.TemplateData) map[string]any {
	raw, err := json.Marshal(d)
	if err != nil {
		return nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // amounts stay integers
	if err := dec.Decode(&m); err != nil {
		return nil
	}
	return m
}

// The ledger write after an accepted send is retried in the activity,
// ledgerTries times with a back-off from ledgerRetryDelay, each try bounded
// by ledgerWriteTimeout; then the attempt fails and Temporal retries it.
const (
	ledgerTries        = 4
	ledgerRetryDelay   = 250 * time.Millisecond
	ledgerWriteTimeout = 5 * time.Second
)

// finishSent marks an accepted email sent in the ledger. Each write gets
// its own few seconds even when the activity's context has ended (a worker
// stopping should still record what it sent); the waits between writes end
// with the context.
func (a *Activities) finishSent(ctx context.Context, dedupeKey, messageID string) error {
	delay := ledgerRetryDelay
	var err error
	for try := 1; ; try++ {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ledgerWriteTimeout)
		err = a.Store.FinishEmail(wctx, dedupeKey, payflow.EmailSent, messageID, a.now())
		cancel()
		if err == nil {
			a.sent.forget(dedupeKey)
			return nil
		}
		if try == ledgerTries || ctx.Err() != nil {
			break
		}
		a.logger(ctx).Warn("email accepted but the ledger write failed: retrying the write, not the send",
			"dedupe_key", dedupeKey, "try", try, "error", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		delay *= 2
	}
	return fmt.Errorf("email %s accepted by the provider (message %q) but not recorded in the ledger; the retried activity records it without sending again: %w",
		dedupeKey, messageID, err)
}

// sentMarker is SendEmail's heartbeat detail: what one attempt knows of
// the provider's answer, for the attempts after it.
type sentMarker struct {
	DedupeKey string `json:"dedupe_key"`
	// Accepted: the provider took the message; MessageID is its ID (which
	// a provider may leave empty).
	Accepted  bool   `json:"accepted"`
	MessageID string `json:"message_id,omitempty"`
	// Attempt that recorded the marker. Without Accepted, the marker says
	// that attempt ended knowing the provider accepted nothing.
	Attempt int32 `json:"attempt"`
}

// heartbeatMarker reads the marker an earlier attempt of this activity
// recorded, if any. Outside an activity, or in a local activity (which
// cannot heartbeat), there is none.
func heartbeatMarker(ctx context.Context, dedupeKey string) (sentMarker, bool) {
	var m sentMarker
	if !activity.IsActivity(ctx) || !activity.HasHeartbeatDetails(ctx) {
		return m, false
	}
	if err := activity.GetHeartbeatDetails(ctx, &m); err != nil || m.DedupeKey != dedupeKey {
		return sentMarker{}, false
	}
	return m, true
}

// attemptOf names the activity execution and attempt ctx runs, "" and 0
// outside an activity.
func attemptOf(ctx context.Context) (execution string, attempt int32) {
	if !activity.IsActivity(ctx) {
		return "", 0
	}
	info := activity.GetInfo(ctx)
	return info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID + "/" + info.ActivityID, info.Attempt
}

// acceptedBefore reports whether an earlier attempt had the message
// accepted: its heartbeat says so, or this process remembers it.
func (a *Activities) acceptedBefore(ctx context.Context, dedupeKey string) (sentMarker, bool) {
	if m, ok := heartbeatMarker(ctx, dedupeKey); ok && m.Accepted {
		return m, true
	}
	if id, ok := a.sent.accepted(dedupeKey); ok {
		return sentMarker{DedupeKey: dedupeKey, Accepted: true, MessageID: id}, true
	}
	return sentMarker{}, false
}

// nothingSentBefore reports whether the attempt just before this one is
// known to have ended without the provider accepting anything.
func (a *Activities) nothingSentBefore(ctx context.Context, dedupeKey string) bool {
	execution, attempt := attemptOf(ctx)
	if m, ok := heartbeatMarker(ctx, dedupeKey); ok && !m.Accepted && m.Attempt == attempt-1 {
		return true
	}
	return a.sent.nothingSent(dedupeKey, execution, attempt)
}

// noteAccepted records the provider's acceptance, before the ledger is
// written: in memory, and in a heartbeat that reaches Temporal before
// RecordHeartbeat returns (an attempt's first heartbeat is not batched).
func (a *Activities) noteAccepted(ctx context.Context, dedupeKey, messageID string) {
	a.sent.rememberAccepted(dedupeKey, messageID)
	if activity.IsActivity(ctx) {
		_, attempt := attemptOf(ctx)
		activity.RecordHeartbeat(ctx, sentMarker{DedupeKey: dedupeKey, Accepted: true, MessageID: messageID, Attempt: attempt})
	}
}

// noteNothingSent records that this attempt ends with nothing accepted.
func (a *Activities) noteNothingSent(ctx context.Context, dedupeKey string) {
	execution, attempt := attemptOf(ctx)
	a.sent.rememberNothingSent(dedupeKey, execution, attempt)
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, sentMarker{DedupeKey: dedupeKey, Attempt: attempt})
	}
}

// maxSendMemo bounds the emails a process remembers: far more than are
// ever in flight; the oldest are forgotten first.
const maxSendMemo = 10000

// sendMemo is the in-process record behind the heartbeat: emails the
// provider accepted whose ledger row is not finished, and attempts that
// ended with nothing accepted. It catches a retry on the same worker even
// when a heartbeat did not reach Temporal. The zero value is ready.
type sendMemo struct {
	mu    sync.Mutex
	byKey map[string]*list.Element // of *memoEntry
	order list.List                // oldest first
}

type memoEntry struct {
	key       string
	accepted  bool
	messageID string
	execution string // for nothing sent: the activity execution and attempt that sent nothing
	attempt   int32
}

func (s *sendMemo) put(e memoEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byKey == nil {
		s.byKey = map[string]*list.Element{}
	}
	if el, ok := s.byKey[e.key]; ok {
		s.order.Remove(el)
	}
	s.byKey[e.key] = s.order.PushBack(&e)
	for s.order.Len() > maxSendMemo {
		oldest := s.order.Front()
		s.order.Remove(oldest)
		delete(s.byKey, oldest.Value.(*memoEntry).key)
	}
}

func (s *sendMemo) get(key string) (memoEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byKey[key]; ok {
		return *el.Value.(*memoEntry), true
	}
	return memoEntry{}, false
}

func (s *sendMemo) rememberAccepted(key, messageID string) {
	s.put(memoEntry{key: key, accepted: true, messageID: messageID})
}

// rememberNothingSent never overwrites an acceptance: only the ledger
// write (forget) ends that.
func (s *sendMemo) rememberNothingSent(key, execution string, attempt int32) {
	if e, ok := s.get(key); ok && e.accepted {
		return
	}
	s.put(memoEntry{key: key, execution: execution, attempt: attempt})
}

func (s *sendMemo) accepted(key string) (string, bool) {
	e, ok := s.get(key)
	return e.messageID, ok && e.accepted
}

// nothingSent: the attempt before this one (of the same activity
// execution; outside an activity, the last call) ended with nothing
// accepted.
func (s *sendMemo) nothingSent(key, execution string, attempt int32) bool {
	e, ok := s.get(key)
	return ok && !e.accepted && e.execution == execution && (execution == "" || e.attempt == attempt-1)
}

func (s *sendMemo) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.byKey[key]; ok {
		s.order.Remove(el)
		delete(s.byKey, key)
	}
}

func (a *Activities) countEmail(purpose, outcome string) {
	if a.Metrics != nil {
		a.Metrics.Emails.WithLabelValues(purpose, outcome).Inc()
	}
}

// customerEmail asks Stripe for the customer's address and remembers it.
func (a *Activities) customerEmail(ctx context.Context, customerID string) (string, error) {
	if a.Stripe == nil {
		return "", nil
	}
	email, err := a.Stripe.CustomerEmail(ctx, customerID)
	if err != nil {
		return "", err
	}
	if email != "" {
		if err := a.Store.UpsertCustomer(ctx, payflow.Customer{ID: customerID, Email: email, UpdatedAt: a.now()}); err != nil {
			return "", err
		}
	}
	return email, nil
}

// EmailRefusedType is the error type of a SendEmail refused for good; the
// workflows record it and go on.
const EmailRefusedType = "EmailRefused"

// ErrNotAccepted marks a Mailer error that is the provider's answer that it
// did not take the message (SendGrid: 429, 5xx, 401, 403): sending again
// cannot duplicate it. Any other error (a timeout, a dropped connection, a
// gateway's 502 or 504) leaves it unknown whether the provider accepted it.
var ErrNotAccepted = errors.New("not accepted by the provider")

// PermanentError is a provider's refusal that no retry will change.
type PermanentError struct{ Msg string }

func (e *PermanentError) Error() string { return e.Msg }

// SendGrid sends through SendGrid's v3 Mail Send API.
type SendGrid struct {
	APIKey string
	Base   string // e.g. https://api.sendgrid.com; a fake in tests
	From   string
}

// Send posts one message. 4xx answers other than 401, 403 and 429 are
// permanent: the message itself is refused.
func (s *SendGrid) Send(ctx context.Context, m Message) (string, error) {
	msg := s.mail(m)
	// The dedupe key travels with the message so a duplicate (a crash
	// between send and ledger update) can be recognised in SendGrid's logs.
	msg.SetCustomArg("payflow_dedupe_key", m.DedupeKey)
	req := sendgrid.GetRequest(s.APIKey, "/v3/mail/send", strings.TrimRight(s.Base, "/"))
	req.Method = http.MethodPost
	req.Body = mail.GetRequestBody(msg)
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	resp, err := sendgrid.MakeRequestWithContext(sctx, req)
	if err != nil {
		return "", fmt.Errorf("sendgrid: %w", err)
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return firstHeader(resp.Headers, "X-Message-Id"), nil
	case resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout:
		// A proxy's answer: SendGrid behind it may have taken the message.
		return "", fmt.Errorf("sendgrid: status %d", resp.StatusCode)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return "", fmt.Errorf("sendgrid: status %d: %w", resp.StatusCode, ErrNotAccepted)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		// A revoked or rotated API key, or a sender identity not yet
		// verified: the operator's to fix, and then the email must still go
		// out. Temporal keeps retrying (back-off up to 5 minutes).
		return "", fmt.Errorf("sendgrid: status %d: API key or sender refused, fix SENDGRID_API_KEY / EMAIL_FROM; the email is retried: %w", resp.StatusCode, ErrNotAccepted)
	default:
		return "", &PermanentError{Msg: fmt.Sprintf("sendgrid: status %d: %s", resp.StatusCode, truncate(resp.Body, 300))}
	}
}

// mail builds the v3 Mail Send body: one personalization to m.To; with a
// template, template_id and the personalization's dynamic_template_data
// and no subject or content (the template has them); otherwise the
// subject and the text/plain part, then the text/html part (the order
// SendGrid requires).
func (s *SendGrid) mail(m Message) *mail.SGMailV3 {
	msg := mail.NewV3Mail()
	msg.SetFrom(mail.NewEmail(m.FromName, s.From))
	p := mail.NewPersonalization()
	p.AddTos(mail.NewEmail("", m.To))
	if m.TemplateID != "" {
		msg.SetTemplateID(m.TemplateID)
		for k, v := range m.TemplateData {
			p.SetDynamicTemplateData(k, v)
		}
	} else {
		msg.Subject = m.Subject
		msg.AddContent(mail.NewContent("text/plain", m.Body))
		if m.HTML != "" {
			msg.AddContent(mail.NewContent("text/html", m.HTML))
		}
	}
	msg.AddPersonalizations(p)
	if m.ReplyTo != "" {
		msg.SetReplyTo(mail.NewEmail(m.FromName, m.ReplyTo))
	}
	return msg
}

func firstHeader(h map[string][]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
