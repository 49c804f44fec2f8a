package stripeapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, e := range s.events {
		if e.id == id && e.account == s.curAccount {
			writeJSON(w, http.StatusOK, e.raw)
			return
		}
	}
	s.missing(w, "event", id)
}

// listEvents serves GET /v1/events with Stripe's list semantics: newest
// first, limit (1..100, default 10), starting_after / ending_before cursors,
// created (exact or [gt]/[gte]/[lt]/[lte]), type (with * wildcards) or
// types[], delivery_success.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	form := r.Form
	if p := unknownParam(form, "limit", "starting_after", "ending_before", "created", "type", "types", "delivery_success", "expand"); p != "" {
		s.invalid(w, p, "parameter_unknown", "Received unknown parameter: %s", p)
		return
	}
	limit := 10
	if v := form.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			s.invalid(w, "limit", "parameter_invalid_integer", "Invalid integer: %s", v)
			return
		case n < 1:
			s.invalid(w, "limit", "", "This value must be greater than or equal to 1.")
			return
		case n > 100:
			s.invalid(w, "limit", "", "This value must be less than or equal to 100.")
			return
		}
		limit = n
	}
	after, before := form.Get("starting_after"), form.Get("ending_before")
	if after != "" && before != "" {
		s.invalid(w, "ending_before", "parameters_exclusive", "You may only specify one of these parameters: ending_before, starting_after.")
		return
	}
	created, ok := s.createdFilter(w, form)
	if !ok {
		return
	}
	types := typesParam(form)
	if form.Get("type") != "" && len(types) > 0 {
		s.invalid(w, "types", "parameters_exclusive", "You may pass either type or types, but not both.")
		return
	}
	if t := form.Get("type"); t != "" {
		types = []string{t}
	}
	if len(types) > 20 {
		s.invalid(w, "types", "", "You may pass at most 20 types.")
		return
	}
	var delivered *bool
	if form.Has("delivery_success") {
		v, ok := s.boolParam(w, form, "delivery_success")
		if !ok {
			return
		}
		delivered = &v
	}

	// Newest first; events with the same created second keep the order
	// they were added in, later ones first.
	// Only the events of the requesting account (Stripe-Account; none:
	// the platform's own), as Stripe lists them.
	events := slices.DeleteFunc(slices.Clone(s.events), func(e storedEvent) bool { return e.account != s.curAccount })
	slices.SortFunc(events, func(a, b storedEvent) int {
		if a.created != b.created {
			return int(b.created - a.created)
		}
		return b.seq - a.seq
	})
	cursor := after + before
	pos := -1
	if cursor != "" {
		pos = slices.IndexFunc(events, func(e storedEvent) bool { return e.id == cursor })
		if pos < 0 {
			param := "starting_after"
			if before != "" {
				param = "ending_before"
			}
			s.fail(w, "", http.StatusNotFound, apiError{Type: "invalid_request_error", Code: "resource_missing", Param: param, Message: "No such event: '" + cursor + "'"})
			return
		}
	}
	switch {
	case after != "":
		events = events[pos+1:]
	case before != "":
		events = events[:pos]
	}
	matched := events[:0:0]
	for _, e := range events {
		if created(e.created) && matchTypes(types, e.typ) && (delivered == nil || *delivered == (e.pending == 0)) {
			matched = append(matched, e)
		}
	}
	hasMore := len(matched) > limit
	if hasMore {
		if before != "" { // the page nearest the cursor
			matched = matched[len(matched)-limit:]
		} else {
			matched = matched[:limit]
		}
	}
	data := make([]json.RawMessage, len(matched))
	for i, e := range matched {
		data[i] = e.raw
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": hasMore, "url": "/v1/events"})
}

// createdFilter parses created=<ts> or created[gt|gte|lt|lte]=<ts>.
func (s *Server) createdFilter(w http.ResponseWriter, form url.Values) (func(int64) bool, bool) {
	type bound struct {
		key string
		ok  func(created, v int64) bool
	}
	bounds := []bound{
		{"created", func(c, v int64) bool { return c == v }},
		{"created[gt]", func(c, v int64) bool { return c > v }},
		{"created[gte]", func(c, v int64) bool { return c >= v }},
		{"created[lt]", func(c, v int64) bool { return c < v }},
		{"created[lte]", func(c, v int64) bool { return c <= v }},
	}
	var checks []func(int64) bool
	for k := range form {
		if k != "created" && strings.HasPrefix(k, "created") && !slices.ContainsFunc(bounds, func(b bound) bool { return b.key == k }) {
			s.invalid(w, k, "parameter_unknown", "Received unknown parameter: %s", k)
			return nil, false
		}
	}
	for _, b := range bounds {
		raw := form.Get(b.key)
		if raw == "" {
			continue
		}
		v, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			s.invalid(w, b.key, "parameter_invalid_integer", "Invalid integer: %s", raw)
			return nil, false
		}
		checks = append(checks, func(c int64) bool { return b.ok(c, v) })
	}
	return func(c int64) bool {
		for _, ok := range checks {
			if !ok(c) {
				return false
			}
		}
		return true
	}, true
}

// typesParam collects types[]=a, types[0]=a (as stripe-go sends arrays) and
// repeated types=a.
func typesParam(form url.Values) []string {
	type indexed struct {
		i int
		v string
	}
	var out []indexed
	for k, vs := range form {
		rest, ok := strings.CutPrefix(k, "types")
		if !ok {
			continue
		}
		i := -1
		if idx, ok := strings.CutPrefix(rest, "["); ok && strings.HasSuffix(idx, "]") {
			if n, err := strconv.Atoi(strings.TrimSuffix(idx, "]")); err == nil {
				i = n
			}
		} else if rest != "" {
			continue
		}
		for _, v := range vs {
			if v != "" {
				out = append(out, indexed{i, v})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b indexed) int { return a.i - b.i })
	types := make([]string, len(out))
	for i, x := range out {
		types[i] = x.v
	}
	return types
}

// matchTypes reports whether typ matches one of the patterns, where * in a
// pattern matches any run of characters ("invoice.*", "*.updated").
func matchTypes(patterns []string, typ string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if glob(p, typ) {
			return true
		}
	}
	return false
}

func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
