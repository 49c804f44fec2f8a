package stripeapi

import (
	"net/http"
	"strings"
)

// refusal is a request the fake refuses for good (Refuse).
type refusal struct {
	method, path string
	status       int
	message      string
}

// Refuse makes every request with method and path (exact, e.g.
// "/v1/subscriptions/sub_1"; a trailing "*" matches a prefix) fail with
// status (a 4xx) and Stripe's invalid_request_error — a request Stripe
// refuses for good, such as a permission the restricted key lacks (403) or
// an object in a state that forbids the call (400). The refusal is
// recorded like any request and is not stored for idempotent replay.
// Refuse(method, path, 0, "") lifts it.
func (s *Server) Refuse(method, path string, status int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.refusals[:0]
	for _, r := range s.refusals {
		if r.method != method || r.path != path {
			kept = append(kept, r)
		}
	}
	s.refusals = kept
	if status != 0 {
		if message == "" {
			message = "This request was refused."
		}
		s.refusals = append(s.refusals, refusal{method: method, path: path, status: status, message: message})
	}
}

// refused writes the refusal matching r, if any. Called under s.mu.
func (s *Server) refused(w http.ResponseWriter, r *http.Request) bool {
	for _, f := range s.refusals {
		match := f.path == r.URL.Path
		if p, ok := strings.CutSuffix(f.path, "*"); ok {
			match = strings.HasPrefix(r.URL.Path, p)
		}
		if f.method == r.Method && match {
			s.fail(w, "", f.status, apiError{Type: "invalid_request_error", Message: f.message})
			return true
		}
	}
	return false
}
