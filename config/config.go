// Package config reads payflow's settings from the environment, validates
// them with a message naming the bad variable, and prints them with secrets
// masked.
package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/webhook"
)

// Var documents one environment variable.
type Var struct {
	Name, Default, Help string
	Secret              bool
}

// Vars is every variable payflow reads (besides Temporal's own TEMPORAL_*
// client variables, read by the SDK's envconfig). The README's table and
// the compose-file test are checked against it.
var Vars = []Var{
	{"STRIPE_WEBHOOK_SECRET", "(dev: generated)", "Webhook signing secret(s) `whsec_…`, comma-separated while rotating", true},
	{"STRIPE_API_KEY", "", "Stripe secret key for customer look-ups, dunning retries, cancellation, reconcile", true},
	{"STRIPE_API_BASE", "https://api.stripe.com", "Override Stripe's API URL (e.g. a local fake)", false},
	{"SENDGRID_API_KEY", "", "SendGrid key; unset: emails stay in the local outbox table", true},
	{"SENDGRID_API_BASE", "https://api.sendgrid.com", "Override SendGrid's API URL", false},
	{"EMAIL_FROM", "payflow@example.com", "Sender address", false},
	{"ALERT_EMAIL", "", "Operator address for dispute alerts and side effects refused for good", false},
	{"DATABASE_URL", "./.payflow/payflow.db", "SQLite path or sqlite: URL, or postgres://…", true},
	{"TEMPORAL_ADDRESS", "localhost:7233", "Temporal frontend host:port (with TEMPORAL_TLS_*, TEMPORAL_API_KEY for Cloud)", false},
	{"TEMPORAL_NAMESPACE", "default", "Temporal namespace", false},
	{"TEMPORAL_TASK_QUEUE", "payflow", "Task queue of the worker", false},
	{"PAYFLOW_ADDR", ":4242", "Receiver listen address", false},
	{"PAYFLOW_METRICS_ADDR", ":9464", "Operations listener of each process (serve, worker, dev): /metrics, /healthz, /readyz; /metrics is never on PAYFLOW_ADDR", false},
	{"WEBHOOK_TOLERANCE", "300s", "Signature timestamp tolerance (past); the future is allowed 30s of clock skew", false},
	{"WEBHOOK_MAX_BODY", "1048576", "Largest accepted body in bytes (413 above)", false},
	{"WEBHOOK_MAX_CONNECTIONS", "512", "Connections the receiver serves at once (503 above); with WEBHOOK_MAX_BODY it bounds the receiver's memory", false},
	{"PROVISIONING_WEBHOOK_URL", "", "Merchant app URL told of every access change", false},
	{"PROVISIONING_WEBHOOK_SECRET", "", "HMAC-SHA256 key for Payflow-Signature on those calls", true},
	{"DUNNING_MODE", "payflow", "payflow: payflow retries the charge; stripe: Stripe's Smart Retries do", false},
	{"DUNNING_RETRY_DELAYS", "72h,120h,168h", "Retry times counted from the failure (Go durations)", false},
	{"DUNNING_GRACE", "144h", "Time after the failure until access is suspended (before the last retry, so suspension and final action are apart)", false},
	{"DUNNING_FINAL_ACTION", "cancel", "After the last retry: cancel, unpaid or none", false},
	{"LOG_LEVEL", "info", "debug, info, warn or error", false},
	{"LOG_FORMAT", "json (dev: text)", "json or text", false},
}

// Config is the effective configuration.
type Config struct {
	WebhookSecrets     []string
	WebhookTolerance   time.Duration
	WebhookMaxBody     int
	WebhookMaxConns    int
	StripeAPIKey       string
	StripeAPIBase      string
	SendGridAPIKey     string
	SendGridAPIBase    string
	EmailFrom          string
	AlertEmail         string
	DatabaseURL        string
	TemporalAddress    string
	TemporalNamespace  string
	TaskQueue          string
	Addr               string
	MetricsAddr        string
	ProvisioningURL    string
	ProvisioningSecret string
	// Dunning is the policy a dunning campaign adopts when it starts
	// (DUNNING_*, with the core's hard-decline codes).
	Dunning   billing.Policy
	LogLevel  slog.Level
	LogFormat string
}

// Load reads the configuration through getenv (os.Getenv in production).
// Every problem is reported, each naming its variable.
func Load(getenv func(string) string) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	dur := func(name, def string) time.Duration {
		d, err := time.ParseDuration(get(name, def))
		if err != nil || d < 0 {
			bad(name, "want a non-negative Go duration such as 72h or 30s, got %q", get(name, def))
		}
		return d
	}
	c := Config{
		WebhookSecrets:     webhook.ParseSecrets(getenv("STRIPE_WEBHOOK_SECRET")),
		StripeAPIKey:       get("STRIPE_API_KEY", ""),
		StripeAPIBase:      get("STRIPE_API_BASE", ""),
		SendGridAPIKey:     get("SENDGRID_API_KEY", ""),
		SendGridAPIBase:    get("SENDGRID_API_BASE", "https://api.sendgrid.com"),
		EmailFrom:          get("EMAIL_FROM", "payflow@example.com"),
		AlertEmail:         get("ALERT_EMAIL", ""),
		DatabaseURL:        get("DATABASE_URL", "./.payflow/payflow.db"),
		TemporalAddress:    get("TEMPORAL_ADDRESS", "localhost:7233"),
		TemporalNamespace:  get("TEMPORAL_NAMESPACE", "default"),
		TaskQueue:          get("TEMPORAL_TASK_QUEUE", "payflow"),
		Addr:               get("PAYFLOW_ADDR", ":4242"),
		MetricsAddr:        get("PAYFLOW_METRICS_ADDR", ":9464"),
		ProvisioningURL:    get("PROVISIONING_WEBHOOK_URL", ""),
		ProvisioningSecret: get("PROVISIONING_WEBHOOK_SECRET", ""),
		LogFormat:          get("LOG_FORMAT", ""),
	}
	c.WebhookTolerance = dur("WEBHOOK_TOLERANCE", "300s")
	if n, err := strconv.Atoi(get("WEBHOOK_MAX_BODY", "1048576")); err != nil || n < 1024 {
		bad("WEBHOOK_MAX_BODY", "want a byte count of at least 1024, got %q", get("WEBHOOK_MAX_BODY", ""))
	} else {
		c.WebhookMaxBody = n
	}
	if n, err := strconv.Atoi(get("WEBHOOK_MAX_CONNECTIONS", "512")); err != nil || n < 1 {
		bad("WEBHOOK_MAX_CONNECTIONS", "want a positive number of connections, got %q", get("WEBHOOK_MAX_CONNECTIONS", ""))
	} else {
		c.WebhookMaxConns = n
	}
	for _, s := range c.WebhookSecrets {
		if !strings.HasPrefix(s, "whsec_") {
			bad("STRIPE_WEBHOOK_SECRET", "each secret starts with whsec_ (got one starting %q)", mask(s))
		}
	}
	for name, v := range map[string]string{"STRIPE_API_BASE": c.StripeAPIBase, "SENDGRID_API_BASE": c.SendGridAPIBase, "PROVISIONING_WEBHOOK_URL": c.ProvisioningURL} {
		if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
			bad(name, "want an http(s) URL, got %q", v)
		}
	}
	if c.ProvisioningURL != "" && c.ProvisioningSecret == "" {
		bad("PROVISIONING_WEBHOOK_SECRET", "required when PROVISIONING_WEBHOOK_URL is set")
	}
	if c.SendGridAPIKey != "" && !strings.Contains(c.EmailFrom, "@") {
		bad("EMAIL_FROM", "want an email address, got %q", c.EmailFrom)
	}
	delays, err := billing.ParseDelays(get("DUNNING_RETRY_DELAYS", "72h,120h,168h"))
	if err != nil {
		bad("DUNNING_RETRY_DELAYS", "%v", err)
	}
	c.Dunning = billing.Policy{
		Mode: get("DUNNING_MODE", billing.ModePayflow), RetryDelays: delays,
		Grace: dur("DUNNING_GRACE", "144h"), FinalAction: get("DUNNING_FINAL_ACTION", billing.FinalCancel),
		HardDeclines: billing.DefaultHardDeclines(),
	}
	if err == nil {
		if perr := c.Dunning.Validate(); perr != nil {
			errs = append(errs, perr)
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL", "info"))); err != nil {
		bad("LOG_LEVEL", "want debug, info, warn or error, got %q", get("LOG_LEVEL", ""))
	}
	if c.LogFormat != "" && c.LogFormat != "json" && c.LogFormat != "text" {
		bad("LOG_FORMAT", "want json or text, got %q", c.LogFormat)
	}
	return c, errors.Join(errs...)
}

// FromEnv loads from the process environment.
func FromEnv() (Config, error) { return Load(os.Getenv) }

// mask keeps a secret's prefix (whsec_, sk_test_) so an operator can tell
// which one is set, and hides the rest.
func mask(s string) string {
	if s == "" {
		return ""
	}
	keep := 0
	if i := strings.LastIndex(s, "_"); i >= 0 && i < 12 {
		keep = i + 1
	}
	tail := s[keep:]
	if len(tail) > 4 {
		return s[:keep] + "…" + tail[len(tail)-4:]
	}
	return s[:keep] + "…"
}

// maskURL hides a password in a database URL.
func maskURL(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return u
	}
	creds := u[scheme+3 : at]
	if user, _, ok := strings.Cut(creds, ":"); ok {
		return u[:scheme+3] + user + ":****" + u[at:]
	}
	return u
}

// Print writes the effective configuration, secrets masked.
func (c Config) Print(w io.Writer) {
	secrets := make([]string, len(c.WebhookSecrets))
	for i, s := range c.WebhookSecrets {
		secrets[i] = mask(s)
	}
	delays := make([]string, len(c.Dunning.RetryDelays))
	for i, d := range c.Dunning.RetryDelays {
		delays[i] = d.String()
	}
	rows := [][2]string{
		{"STRIPE_WEBHOOK_SECRET", strings.Join(secrets, ",")},
		{"STRIPE_API_KEY", mask(c.StripeAPIKey)},
		{"STRIPE_API_BASE", c.StripeAPIBase},
		{"SENDGRID_API_KEY", mask(c.SendGridAPIKey)},
		{"SENDGRID_API_BASE", c.SendGridAPIBase},
		{"EMAIL_FROM", c.EmailFrom},
		{"ALERT_EMAIL", c.AlertEmail},
		{"DATABASE_URL", maskURL(c.DatabaseURL)},
		{"TEMPORAL_ADDRESS", c.TemporalAddress},
		{"TEMPORAL_NAMESPACE", c.TemporalNamespace},
		{"TEMPORAL_TASK_QUEUE", c.TaskQueue},
		{"PAYFLOW_ADDR", c.Addr},
		{"PAYFLOW_METRICS_ADDR", c.MetricsAddr},
		{"WEBHOOK_TOLERANCE", c.WebhookTolerance.String()},
		{"WEBHOOK_MAX_BODY", strconv.Itoa(c.WebhookMaxBody)},
		{"WEBHOOK_MAX_CONNECTIONS", strconv.Itoa(c.WebhookMaxConns)},
		{"PROVISIONING_WEBHOOK_URL", c.ProvisioningURL},
		{"PROVISIONING_WEBHOOK_SECRET", mask(c.ProvisioningSecret)},
		{"DUNNING_MODE", c.Dunning.Mode},
		{"DUNNING_RETRY_DELAYS", strings.Join(delays, ",")},
		{"DUNNING_GRACE", c.Dunning.Grace.String()},
		{"DUNNING_FINAL_ACTION", c.Dunning.FinalAction},
		{"LOG_LEVEL", c.LogLevel.String()},
		{"LOG_FORMAT", c.LogFormat},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%-28s %s\n", r[0], r[1])
	}
	PrintDunning(w, c.Dunning)
}

// PrintDunning writes the timeline a failed renewal follows under p (day 0
// failure, each retry, the suspension, the final action, with the email
// each sends) and a warning for each pair of steps that coincide.
func PrintDunning(w io.Writer, p billing.Policy) {
	fmt.Fprintf(w, "\nDunning timeline (%s mode; from the failed payment):\n", p.Mode)
	for _, s := range p.Plan() {
		when := "when Stripe says"
		if s.Known {
			when = billing.FormatAfter(s.After)
		}
		line := fmt.Sprintf("  %-18s %s", when, s.What)
		if s.Email != "" {
			line += " → email " + s.Email
		}
		fmt.Fprintln(w, line)
	}
	for _, warn := range p.Warnings() {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
}

// Logger builds the slog logger: JSON by default, text when asked.
func (c Config) Logger(w io.Writer, defaultFormat string) *slog.Logger {
	format := c.LogFormat
	if format == "" {
		format = defaultFormat
	}
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
