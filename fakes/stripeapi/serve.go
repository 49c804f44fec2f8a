package stripeapi

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"

	"github.com/payflow/payflow/fixtures"
)

// idemEntry is a stored result for an Idempotency-Key. Stripe stores the
// result of a request that started executing (a success or a card error)
// and replays it for a retry with the same key and parameters.
type idemEntry struct {
	method, path string
	form         url.Values
	requestID    string
	status       int
	header       http.Header
	body         []byte
}

// apiError is Stripe's error object.
type apiError struct {
	Type, Code, DeclineCode, Message, Param, Charge string
}

// serve authenticates, applies idempotency, routes, and records. Requests
// are handled one at a time under s.mu, so handlers use the maps directly.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	form, formErr := url.ParseQuery(r.URL.RawQuery)
	if formErr == nil && len(body) > 0 {
		var bodyForm url.Values
		if bodyForm, formErr = url.ParseQuery(string(body)); formErr == nil {
			for k, v := range bodyForm {
				form[k] = append(form[k], v...)
			}
		}
	}
	r.Form, r.PostForm = form, form
	key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	account := strings.TrimSpace(r.Header.Get("Stripe-Account"))
	requestID := newID("req_", 14)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.curAccount = account
	out := httptest.NewRecorder()
	replayed := false
	entry := s.idempotency[scoped(account, key)] // Stripe keeps keys per account
	switch {
	case !s.authenticate(out, r):
	case s.refused(out, r):
	case formErr != nil:
		s.fail(out, requestID, http.StatusBadRequest, apiError{Type: "invalid_request_error", Message: "Invalid request: unable to parse the request parameters."})
	case r.Method == http.MethodPost && key != "" && entry != nil:
		if entry.method != r.Method || entry.path != r.URL.Path || !reflect.DeepEqual(entry.form, form) {
			s.fail(out, requestID, http.StatusBadRequest, apiError{Type: "idempotency_error",
				Message: fmt.Sprintf("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '%s' if you meant to execute a different request.", key)})
			break
		}
		for k, v := range entry.header {
			out.Header()[k] = v
		}
		out.Header().Set("Idempotent-Replayed", "true")
		out.Header().Set("Original-Request", entry.requestID)
		out.WriteHeader(entry.status)
		out.Write(entry.body)
		replayed = true
	default:
		s.curRequest = requestID
		mux.ServeHTTP(out, r)
		if r.Method == http.MethodPost && key != "" && (out.Code == http.StatusOK || out.Code == http.StatusPaymentRequired) {
			s.idempotency[scoped(account, key)] = &idemEntry{method: r.Method, path: r.URL.Path, form: form, requestID: requestID,
				status: out.Code, header: out.Header().Clone(), body: out.Body.Bytes()}
		}
	}

	for k, v := range out.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Request-Id", requestID)
	w.Header().Set("Stripe-Version", fixtures.APIVersion)
	if key != "" {
		w.Header().Set("Idempotency-Key", key)
	}
	w.WriteHeader(out.Code)
	w.Write(out.Body.Bytes())
	s.requests = append(s.requests, RecordedRequest{Method: r.Method, Path: r.URL.Path, IdempotencyKey: key,
		StripeAccount: account, Form: form, Status: out.Code, Replayed: replayed})
}

// authenticate accepts the key as Bearer auth or as the Basic auth user,
// like Stripe; otherwise it writes Stripe's 401.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) bool {
	key := ""
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		key = strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	} else if user, _, ok := r.BasicAuth(); ok {
		key = user
	}
	if key != "" && key == s.apiKey {
		return true
	}
	msg := "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/."
	if key != "" {
		msg = "Invalid API Key provided: " + redact(key)
	}
	w.Header().Set("Www-Authenticate", `Basic realm="Stripe"`)
	s.fail(w, "", http.StatusUnauthorized, apiError{Type: "invalid_request_error", Message: msg})
	return false
}

func redact(key string) string {
	if len(key) <= 12 {
		return strings.Repeat("*", len(key))
	}
	return key[:8] + strings.Repeat("*", len(key)-12) + key[len(key)-4:]
}

// fail writes a Stripe error object; requestID "" uses the current request.
func (s *Server) fail(w http.ResponseWriter, requestID string, status int, e apiError) {
	if requestID == "" {
		requestID = s.curRequest
	}
	body := map[string]any{"message": e.Message, "type": e.Type}
	if requestID != "" {
		body["request_log_url"] = "https://dashboard.stripe.com/test/logs/" + requestID + "?t=" + fmt.Sprint(s.now().Unix())
	}
	if e.Code != "" {
		body["code"] = e.Code
		body["doc_url"] = "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(e.Code, "_", "-")
	}
	for k, v := range map[string]string{"decline_code": e.DeclineCode, "param": e.Param, "charge": e.Charge} {
		if v != "" {
			body[k] = v
		}
	}
	if e.Type == "card_error" {
		w.Header().Set("Stripe-Should-Retry", "false")
	}
	writeJSON(w, status, map[string]any{"error": body})
}

func (s *Server) missing(w http.ResponseWriter, object, id string) {
	s.fail(w, "", http.StatusNotFound, apiError{Type: "invalid_request_error", Code: "resource_missing",
		Param: "id", Message: fmt.Sprintf("No such %s: '%s'", object, id)})
}

func (s *Server) invalid(w http.ResponseWriter, param, code, format string, args ...any) {
	s.fail(w, "", http.StatusBadRequest, apiError{Type: "invalid_request_error", Code: code, Param: param,
		Message: fmt.Sprintf(format, args...)})
}

// unknownParam returns the first form key outside allowed ("metadata" allows
// "metadata[...]" too), or "".
func unknownParam(form url.Values, allowed ...string) string {
	for k := range form {
		base, _, _ := strings.Cut(k, "[")
		if !contains(allowed, k) && !contains(allowed, base) {
			return k
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"type":"api_error","message":"fake: cannot encode response"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func newID(prefix string, n int) string {
	const chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rand.IntN(len(chars))]
	}
	if n >= 20 {
		b[0] = '1'
	}
	return prefix + string(b)
}
