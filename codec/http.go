package codec

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/converter"
)

// MaxRequestBody bounds one /encode or /decode request: the Web UI sends
// one event's payloads at a time, each at most Temporal's 2 MB blob limit.
const MaxRequestBody = 8 << 20

// HandlerOptions configure the codec endpoints.
type HandlerOptions struct {
	// Namespace is the one Temporal namespace served. A request whose
	// X-Namespace header (the Web UI and the temporal CLI send one) names
	// another is answered 404, as Temporal's codec server protocol
	// suggests; the path is not read, so a proxy may mount the endpoints
	// under any prefix (the CLI's {namespace} template included).
	Namespace string
	// AllowedOrigins are the Web UI origins (scheme://host[:port]) whose
	// browsers may call the endpoints (CORS, with credentials). Empty: no
	// CORS headers; the CLI and other servers still may.
	AllowedOrigins []string
	// AuthToken, when set, is required as "Authorization: Bearer <token>"
	// (401 otherwise). CORS preflights carry no credentials and are not
	// checked.
	AuthToken string
	// Log records refused and failed requests (never a payload). Nil: none.
	Log *slog.Logger
}

// NewHandler serves Temporal's remote codec protocol for c: POST …/encode
// and POST …/decode (only the last path segment counts, so the endpoints may
// be mounted under any prefix), Payloads as protobuf JSON,
// through the SDK's converter.NewPayloadCodecHTTPHandler; plus CORS for
// the Web UI, the namespace check and the optional bearer token. GET
// /healthz answers 200 without a token, for load balancers.
func NewHandler(c converter.PayloadCodec, o HandlerOptions) http.Handler {
	return &handler{codec: converter.NewPayloadCodecHTTPHandler(c), o: o}
}

type handler struct {
	codec http.Handler
	o     HandlerOptions
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
		return
	}
	origin := r.Header.Get("Origin")
	allowed := origin != "" && slices.Contains(h.o.AllowedOrigins, origin)
	if allowed {
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Set("Access-Control-Allow-Credentials", "true")
		hd.Add("Vary", "Origin")
	}
	if r.Method == http.MethodOptions {
		if !allowed {
			h.refuse(w, r, http.StatusForbidden, "origin %q is not allowed (PAYFLOW_CODEC_CORS_ORIGIN)", origin)
			return
		}
		hd := w.Header()
		hd.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Namespace")
		hd.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	op := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	if op != "encode" && op != "decode" {
		h.refuse(w, r, http.StatusNotFound, "no such endpoint: want POST /encode or /decode")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		h.refuse(w, r, http.StatusMethodNotAllowed, "want POST")
		return
	}
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="payflow codec"`)
		h.refuse(w, r, http.StatusUnauthorized, "want Authorization: Bearer <PAYFLOW_CODEC_AUTH_TOKEN>")
		return
	}
	if ns := r.Header.Get("X-Namespace"); ns != "" && ns != h.o.Namespace {
		h.refuse(w, r, http.StatusNotFound, "namespace %q is not served here (payflow's is %q)", ns, h.o.Namespace)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBody)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	start := time.Now()
	h.codec.ServeHTTP(rec, r)
	if h.o.Log != nil && rec.status != http.StatusOK {
		h.o.Log.Warn("codec request failed", "op", op, "status", rec.status, "origin", origin,
			"remote", r.RemoteAddr, "duration", time.Since(start))
	}
}

func (h *handler) authorized(r *http.Request) bool {
	if h.o.AuthToken == "" {
		return true
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(h.o.AuthToken)) == 1
}

func (h *handler) refuse(w http.ResponseWriter, r *http.Request, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if h.o.Log != nil {
		h.o.Log.Warn("codec request refused", "status", status, "reason", msg, "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
	}
	http.Error(w, msg, status)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
