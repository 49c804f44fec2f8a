// Package sendgridapi is a fake of SendGrid's v3 Mail Send endpoint
// (POST /v3/mail/send). sendgrid-go builds its request URL as host +
// endpoint, so point it at the fake by passing the fake's URL as the host:
//
//	url, stop := sendgridapi.New("SG.key").Start()
//	defer stop()
//	req := sendgrid.GetRequest("SG.key", "/v3/mail/send", url)
//
// or, with sendgrid.NewSendClient, set client.BaseURL = url + "/v3/mail/send".
//
// The fake authenticates like SendGrid (Bearer key, 401 otherwise),
// validates the body the way Mail Send does for the fields payflow uses
// (400 with SendGrid's {"errors":[...]} list), answers 202 with an
// X-Message-Id and an empty body, and records the accepted messages.
//
// Dynamic templates: a message with template_id names a dynamic
// transactional template (d- and 32 hex digits; the fake knows no legacy
// templates and refuses any other ID), carries its values in each
// personalization's dynamic_template_data (a JSON object) and no content
// (the template has it; the fake refuses content beside a dynamic
// template, which is stricter than SendGrid, to keep payflow from sending
// words the template would not show). dynamic_template_data without a
// template_id is refused, as SendGrid does. Message.TemplateID and
// TemplateData record what was accepted.
package sendgridapi

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Message is one accepted mail send (in sandbox mode, one validated send,
// answered 200 without a message ID). To, CC and BCC gather the recipients of
// every personalization; Subject is the top-level subject, or the first
// personalization's; CustomArgs merges the top-level and personalization
// custom_args.
type Message struct {
	MessageID          string
	From, FromName     string
	ReplyTo            string
	To, CC, BCC        []string
	Subject            string
	Text, HTML         string
	TemplateID         string         // a dynamic template (d-…); then Subject, Text and HTML are empty
	TemplateData       map[string]any // the first personalization's dynamic_template_data
	CustomArgs         map[string]string
	Categories         []string
	Headers            map[string]string
	SendAt             int64
	Personalizations   int
	ReceivedAt         time.Time
	Raw                json.RawMessage
	SandboxModeEnabled bool
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	apiKey string

	mu         sync.Mutex
	messages   []Message
	attempts   int
	failN      int
	failStatus int
	failTo     map[string]*failScript // by recipient, checked after validation
	attemptsTo map[string]int

	failUntil       time.Time // FailUntil: every request fails until then
	failUntilStatus int
	hangUntil       time.Time // HangUntil: every request hangs until then
}

type failScript struct{ n, status int }

// New returns a fake that accepts apiKey.
func New(apiKey string) *Server { return &Server{apiKey: apiKey} }

// Start serves the fake on a loopback port; it returns the base URL (the
// "host" sendgrid-go expects) and a function that stops the server.
func (s *Server) Start() (url string, stop func()) {
	ts := httptest.NewServer(s.Handler())
	return ts.URL, ts.Close
}

// Messages returns the accepted messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Attempts returns how many authenticated send requests arrived, accepted
// or not.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// FailNext makes the next n authenticated send requests fail with status
// (429, 500, 503, ...) and SendGrid's error body; nothing is recorded for
// them.
func (s *Server) FailNext(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

// FailFor makes the next n valid requests to recipient fail with status,
// whatever else is sent meanwhile (tests that share the fake stay apart).
func (s *Server) FailFor(recipient string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failTo == nil {
		s.failTo = map[string]*failScript{}
	}
	s.failTo[strings.ToLower(recipient)] = &failScript{n: n, status: status}
}

// FailUntil makes every authenticated send request fail with status and
// SendGrid's error body until the time until (an outage of known length);
// nothing is recorded for them. FailNext's count is used up first.
func (s *Server) FailUntil(until time.Time, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failUntil, s.failUntilStatus = until, status
}

// HangUntil makes every authenticated send request that arrives before
// until hang: the fake accepts the connection and never answers. Each such
// request ends when its client gives up, or at until, when the fake drops
// the connection without a response. Nothing is recorded for them (they
// count in Attempts).
func (s *Server) HangUntil(until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hangUntil = until
}

// AttemptsTo returns how many valid requests addressed recipient, accepted
// or failed by FailFor.
func (s *Server) AttemptsTo(recipient string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attemptsTo[strings.ToLower(recipient)]
}

// scripted counts a valid request for its recipients and reports the
// FailFor status it must get, if any.
func (s *Server) scripted(msg Message) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attemptsTo == nil {
		s.attemptsTo = map[string]int{}
	}
	status := 0
	for _, to := range msg.To {
		to = strings.ToLower(to)
		s.attemptsTo[to]++
		if f := s.failTo[to]; f != nil && f.n > 0 {
			f.n--
			status = f.status
		}
	}
	return status
}

// Handler returns the fake's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/mail/send", s.send)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErrors(w, http.StatusNotFound, apiError{Message: "resource not found"})
	})
	return mux
}

// apiError is one entry of SendGrid's errors list; Field and Help are null
// when empty.
type apiError struct {
	Message, Field, Help string
}

func (e apiError) MarshalJSON() ([]byte, error) {
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	return json.Marshal(struct {
		Message string `json:"message"`
		Field   any    `json:"field"`
		Help    any    `json:"help"`
	}{e.Message, null(e.Field), null(e.Help)})
}

func writeErrors(w http.ResponseWriter, status int, errs ...apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": errs})
}

func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		writeErrors(w, http.StatusUnauthorized, apiError{Message: "authorization required"})
		return
	}
	if key, ok := strings.CutPrefix(auth, "Bearer "); !ok || key != s.apiKey {
		writeErrors(w, http.StatusUnauthorized, apiError{Message: "The provided authorization grant is invalid, expired, or revoked"})
		return
	}

	s.mu.Lock()
	s.attempts++
	now := time.Now()
	if hangUntil := s.hangUntil; now.Before(hangUntil) {
		s.mu.Unlock()
		hang(r, hangUntil)
		return
	}
	status := 0
	switch {
	case s.failN > 0:
		s.failN--
		status = s.failStatus
	case now.Before(s.failUntil):
		status = s.failUntilStatus
	}
	s.mu.Unlock()
	if status != 0 {
		if status == http.StatusTooManyRequests {
			w.Header().Set("X-RateLimit-Limit", "600")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", fmt.Sprint(time.Now().Add(time.Second).Unix()))
			writeErrors(w, status, apiError{Message: "too many requests"})
			return
		}
		writeErrors(w, status, apiError{Message: strings.ToLower(http.StatusText(status))})
		return
	}

	var body io.Reader = io.LimitReader(r.Body, 30<<20+1)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			writeErrors(w, http.StatusBadRequest, apiError{Message: "Bad Request"})
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	switch {
	case err != nil:
		writeErrors(w, http.StatusBadRequest, apiError{Message: "Bad Request"})
		return
	case len(raw) > 30<<20:
		writeErrors(w, http.StatusRequestEntityTooLarge, apiError{Message: "Payload Too Large"})
		return
	}
	var m mail
	if err := json.Unmarshal(raw, &m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			writeErrors(w, http.StatusBadRequest, apiError{Message: fmt.Sprintf("Invalid type. Expected: %s, given: %s.", jsonKind(te.Type.Kind().String()), te.Value),
				Field: te.Field, Help: helpURL(te.Field)})
			return
		}
		writeErrors(w, http.StatusBadRequest, apiError{Message: "Bad Request"})
		return
	}
	if errs := m.validate(); len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}

	msg := m.message(raw)
	if status := s.scripted(msg); status != 0 {
		writeErrors(w, status, apiError{Message: strings.ToLower(http.StatusText(status))})
		return
	}
	if msg.SandboxModeEnabled { // validated, not sent: 200 and no message ID
		s.record(msg)
		w.WriteHeader(http.StatusOK)
		return
	}
	msg.MessageID = messageID()
	s.record(msg)
	w.Header().Set("X-Message-Id", msg.MessageID)
	w.WriteHeader(http.StatusAccepted)
}

// hang holds r unanswered until its client goes away or until passes, then
// drops the connection without a response (http.ErrAbortHandler closes it
// and is not logged).
func hang(r *http.Request, until time.Time) {
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-t.C:
	}
	panic(http.ErrAbortHandler)
}

func (s *Server) record(msg Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, msg)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "struct", "map", "ptr":
		return "object"
	case "slice", "array":
		return "array"
	case "int", "int64", "int32":
		return "integer"
	case "bool":
		return "boolean"
	}
	return goKind
}

// messageID returns an ID shaped like SendGrid's X-Message-Id (22 URL-safe
// base64 characters).
func messageID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

type address struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

type personalization struct {
	To                  []address         `json:"to"`
	CC                  []address         `json:"cc"`
	BCC                 []address         `json:"bcc"`
	From                *address          `json:"from"`
	Subject             string            `json:"subject"`
	Headers             map[string]string `json:"headers"`
	Substitutions       map[string]string `json:"substitutions"`
	CustomArgs          map[string]string `json:"custom_args"`
	DynamicTemplateData map[string]any    `json:"dynamic_template_data"`
	SendAt              int64             `json:"send_at"`
}

type content struct {
	Type  *string `json:"type"`
	Value *string `json:"value"`
}

type mail struct {
	Personalizations []personalization `json:"personalizations"`
	From             *address          `json:"from"`
	ReplyTo          *address          `json:"reply_to"`
	Subject          string            `json:"subject"`
	Content          []content         `json:"content"`
	TemplateID       string            `json:"template_id"`
	Headers          map[string]string `json:"headers"`
	Categories       []string          `json:"categories"`
	CustomArgs       map[string]string `json:"custom_args"`
	SendAt           int64             `json:"send_at"`
	MailSettings     *struct {
		SandboxMode *struct {
			Enable bool `json:"enable"`
		} `json:"sandbox_mode"`
	} `json:"mail_settings"`
}

const helpBase = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"

func helpURL(field string) string {
	switch {
	case field == "":
		return ""
	case strings.HasPrefix(field, "personalizations"):
		if strings.Contains(field, ".to") {
			return helpBase + "#message.personalizations.to"
		}
		return helpBase + "#-Personalizations-Errors"
	}
	root, _, _ := strings.Cut(field, ".")
	return helpBase + "#message." + root
}

// validate applies Mail Send's checks for recipients, sender, subject and
// content, collecting every error as SendGrid does.
func (m *mail) validate() []apiError {
	var errs []apiError
	add := func(field, format string, args ...any) {
		errs = append(errs, apiError{Message: fmt.Sprintf(format, args...), Field: field, Help: helpURL(field)})
	}

	if m.From == nil || m.From.Email == "" {
		add("from.email", `The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.  e.g. {"email" : "example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.`)
	} else if !validEmail(m.From.Email) {
		add("from.email", "The from email does not contain a valid address.")
	}
	if m.ReplyTo != nil && !validEmail(m.ReplyTo.Email) {
		add("reply_to.email", "The reply_to email does not contain a valid address.")
	}

	total := 0
	everySubject := len(m.Personalizations) > 0
	switch n := len(m.Personalizations); {
	case n == 0:
		add("personalizations", "The personalizations field is required and must have at least one personalization.")
	case n > 1000:
		add("personalizations", "The personalizations field must not contain more than 1000 personalizations.")
	}
	for i, p := range m.Personalizations {
		prefix := fmt.Sprintf("personalizations.%d", i)
		if len(p.To) == 0 {
			add(prefix+".to", "The to array is required for all personalization objects, and must have at least one email object with a valid email address.")
		}
		seen := map[string]bool{}
		for _, list := range []struct {
			name  string
			addrs []address
		}{{"to", p.To}, {"cc", p.CC}, {"bcc", p.BCC}} {
			for j, a := range list.addrs {
				total++
				if !validEmail(a.Email) {
					add(fmt.Sprintf("%s.%s.%d.email", prefix, list.name, j), "Does not contain a valid address.")
					continue
				}
				k := strings.ToLower(a.Email)
				if seen[k] {
					add(prefix+".", "Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of [%s] in the %s.%s field.", a.Email, prefix, list.name)
				}
				seen[k] = true
			}
		}
		if p.From != nil && !validEmail(p.From.Email) {
			add(prefix+".from.email", "The from email does not contain a valid address.")
		}
		if strings.TrimSpace(p.Subject) == "" {
			everySubject = false
		}
	}
	if total > 1000 {
		add("personalizations", "The total number of recipients must be less than 1000. This includes all recipients defined within the to, cc, and bcc parameters, across each object that you include in the personalizations array.")
	}

	templateData := false
	for _, p := range m.Personalizations {
		templateData = templateData || p.DynamicTemplateData != nil
	}
	switch {
	case m.TemplateID == "" && templateData:
		add("template_id", "The template_id is required when using dynamic templates (dynamic_template_data).")
	case m.TemplateID != "" && !dynamicTemplateID(m.TemplateID):
		add("template_id", "The template_id must be a dynamic template ID: d- followed by 32 hexadecimal characters (got %q).", m.TemplateID)
	case m.TemplateID != "" && len(m.Content) > 0:
		add("content", "Content cannot be sent with a dynamic template (template_id %s): the template holds the subject and content, filled from dynamic_template_data.", m.TemplateID)
	}
	if m.TemplateID == "" {
		if strings.TrimSpace(m.Subject) == "" && !everySubject {
			add("subject", "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.")
		}
		if len(m.Content) == 0 {
			add("content", "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.")
		}
	}
	for i, c := range m.Content {
		field := fmt.Sprintf("content.%d", i)
		if c.Type == nil || *c.Type == "" {
			add(field+".type", "The content type must be a string at least one character in length.")
		} else if strings.ContainsAny(*c.Type, ";\r\n") {
			add(field+".type", "The content type cannot contain ';', or CRLF characters.")
		}
		if c.Value == nil || *c.Value == "" {
			add(field+".value", "The content value must be a string at least one character in length.")
		}
	}
	// text/plain first, then text/html, then anything else.
	rank := func(c content) int {
		switch {
		case c.Type == nil:
			return 2
		case strings.EqualFold(*c.Type, "text/plain"):
			return 0
		case strings.EqualFold(*c.Type, "text/html"):
			return 1
		}
		return 2
	}
	for i := 1; i < len(m.Content); i++ {
		if rank(m.Content[i]) < rank(m.Content[i-1]) {
			add("content", "If present, text/plain content must be first, followed by text/html, followed by any other content.")
			break
		}
	}
	return errs
}

// dynamicTemplateID: d- and 32 hex digits, as SendGrid names dynamic
// transactional templates.
func dynamicTemplateID(id string) bool {
	hex, ok := strings.CutPrefix(id, "d-")
	if !ok || len(hex) != 32 {
		return false
	}
	for _, c := range hex {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// validEmail accepts local@domain.tld without spaces or angle brackets.
func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && !strings.ContainsAny(s, " <>,;\"\t\r\n") &&
		!strings.Contains(domain, "@") && strings.Contains(strings.Trim(domain, "."), ".")
}

func (m *mail) message(raw []byte) Message {
	msg := Message{
		From:             m.From.Email,
		FromName:         m.From.Name,
		Subject:          m.Subject,
		TemplateID:       m.TemplateID,
		Categories:       m.Categories,
		Headers:          m.Headers,
		SendAt:           m.SendAt,
		Personalizations: len(m.Personalizations),
		ReceivedAt:       time.Now(),
		Raw:              json.RawMessage(bytes.Clone(raw)),
	}
	if m.ReplyTo != nil {
		msg.ReplyTo = m.ReplyTo.Email
	}
	if m.MailSettings != nil && m.MailSettings.SandboxMode != nil {
		msg.SandboxModeEnabled = m.MailSettings.SandboxMode.Enable
	}
	args := map[string]string{}
	for k, v := range m.CustomArgs {
		args[k] = v
	}
	for i, p := range m.Personalizations {
		for _, a := range p.To {
			msg.To = append(msg.To, a.Email)
		}
		for _, a := range p.CC {
			msg.CC = append(msg.CC, a.Email)
		}
		for _, a := range p.BCC {
			msg.BCC = append(msg.BCC, a.Email)
		}
		for k, v := range p.CustomArgs {
			args[k] = v
		}
		if i == 0 {
			if msg.Subject == "" {
				msg.Subject = p.Subject
			}
			msg.TemplateData = p.DynamicTemplateData
		}
	}
	if len(args) > 0 {
		msg.CustomArgs = args
	}
	for _, c := range m.Content {
		switch {
		case strings.EqualFold(*c.Type, "text/plain") && msg.Text == "":
			msg.Text = *c.Value
		case strings.EqualFold(*c.Type, "text/html") && msg.HTML == "":
			msg.HTML = *c.Value
		}
	}
	return msg
}
