// Package config reads payflow's settings from the environment, validates
// them with a message naming the bad variable, and prints them with secrets
// masked.
package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/payflow/payflow/billing"
	"github.com/payflow/payflow/internal/portallink"
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
	{"PAYFLOW_PUBLIC_URL", "", "Public base URL of the receiver (https://pay.example.com); with PAYFLOW_LINK_SECRET and STRIPE_BILLING_PORTAL_RETURN_URL, dunning emails link to the billing portal through it", false},
	{"PAYFLOW_LINK_SECRET", "", "HMAC-SHA256 key (at least 32 bytes) signing those billing portal links", true},
	{"STRIPE_BILLING_PORTAL_RETURN_URL", "", "Where Stripe's billing portal sends the customer back", false},
	{"STRIPE_BILLING_PORTAL_CONFIGURATION", "", "Portal configuration bpc_… (default: the account's default configuration)", false},
	{"PAYFLOW_PORTAL_LINK_TTL", "720h", "How long a billing portal link in an email works", false},
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
	{"DUNNING_RETRY_DELAYS", "72h,120h,168h", "Retry times counted from the failure (Go durations), for every decline category without a schedule of its own", false},
	{"DUNNING_SCHEDULE", "authentication_required=none", "Retry times per decline category (soft, insufficient_funds, authentication_required), e.g. insufficient_funds=96h,168h; soft=24h,72h,168h; none: no automatic retry, wait for the customer. Hard declines never retry", false},
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
	// Billing portal links in dunning emails (PortalLinks): all of
	// PublicURL, LinkSecret and PortalReturnURL, or none.
	PublicURL           string
	LinkSecret          string
	PortalReturnURL     string
	PortalConfiguration string
	PortalLinkTTL       time.Duration
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
	// PAYFLOW_LINK_SECRET is taken as given (not trimmed): it is a key.
	c.PublicURL = strings.TrimRight(get("PAYFLOW_PUBLIC_URL", ""), "/")
	c.LinkSecret = getenv("PAYFLOW_LINK_SECRET")
	c.PortalReturnURL = get("STRIPE_BILLING_PORTAL_RETURN_URL", "")
	c.PortalConfiguration = get("STRIPE_BILLING_PORTAL_CONFIGURATION", "")
	c.PortalLinkTTL = dur("PAYFLOW_PORTAL_LINK_TTL", "720h")
	if d, err := time.ParseDuration(get("PAYFLOW_PORTAL_LINK_TTL", "720h")); err == nil && d == 0 {
		bad("PAYFLOW_PORTAL_LINK_TTL", "want a positive Go duration such as 720h, got %q", get("PAYFLOW_PORTAL_LINK_TTL", ""))
	}
	errs = append(errs, c.checkPortal()...)
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
	schedules, serr := billing.ParseSchedules(get("DUNNING_SCHEDULE", billing.FormatSchedules(billing.DefaultSchedules())))
	if serr != nil {
		bad("DUNNING_SCHEDULE", "%v", serr)
	}
	c.Dunning = billing.Policy{
		Mode: get("DUNNING_MODE", billing.ModePayflow), RetryDelays: delays,
		Grace: dur("DUNNING_GRACE", "144h"), FinalAction: get("DUNNING_FINAL_ACTION", billing.FinalCancel),
		HardDeclines: billing.DefaultHardDeclines(), Schedules: schedules,
	}
	if err == nil && serr == nil {
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

// PortalLinks reports whether dunning emails carry billing portal links
// and the receiver serves them: PAYFLOW_PUBLIC_URL, PAYFLOW_LINK_SECRET and
// STRIPE_BILLING_PORTAL_RETURN_URL are all set (Load refuses a part of
// them).
func (c Config) PortalLinks() bool {
	return c.PublicURL != "" && c.LinkSecret != "" && c.PortalReturnURL != ""
}

// checkPortal validates the billing portal variables: all three required
// ones or none, each of the right shape. No message contains the secret.
func (c Config) checkPortal() []error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	required := []struct{ name, value string }{
		{"PAYFLOW_PUBLIC_URL", c.PublicURL},
		{"PAYFLOW_LINK_SECRET", c.LinkSecret},
		{"STRIPE_BILLING_PORTAL_RETURN_URL", c.PortalReturnURL},
	}
	var set, missing []string
	for _, r := range required {
		if r.value != "" {
			set = append(set, r.name)
		} else {
			missing = append(missing, r.name)
		}
	}
	if c.PortalConfiguration != "" {
		set = append(set, "STRIPE_BILLING_PORTAL_CONFIGURATION")
	}
	if len(set) > 0 && len(missing) > 0 {
		for _, name := range missing {
			bad(name, "required for billing portal links in dunning emails (%s set): set all of PAYFLOW_PUBLIC_URL, PAYFLOW_LINK_SECRET and STRIPE_BILLING_PORTAL_RETURN_URL, or none",
				strings.Join(set, " and "))
		}
	}
	for _, u := range []struct{ name, value string }{
		{"PAYFLOW_PUBLIC_URL", c.PublicURL}, {"STRIPE_BILLING_PORTAL_RETURN_URL", c.PortalReturnURL},
	} {
		if u.value == "" {
			continue
		}
		p, err := url.Parse(u.value)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad(u.name, "want an absolute http(s) URL, got %q", u.value)
		} else if u.name == "PAYFLOW_PUBLIC_URL" && (p.RawQuery != "" || p.Fragment != "" || p.User != nil) {
			bad(u.name, "want a base URL without query, fragment or credentials, got %q", u.value)
		}
	}
	if c.LinkSecret != "" && len(c.LinkSecret) < portallink.MinSecretLen {
		bad("PAYFLOW_LINK_SECRET", "too short: want at least %d bytes (e.g. openssl rand -hex 32)", portallink.MinSecretLen)
	}
	if c.PortalConfiguration != "" && !strings.HasPrefix(c.PortalConfiguration, "bpc_") {
		bad("STRIPE_BILLING_PORTAL_CONFIGURATION", "want a portal configuration ID bpc_…, got %q", c.PortalConfiguration)
	}
	return errs
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

// isSet shows only whether a secret with no recognisable prefix is set.
func isSet(s string) string {
	if s == "" {
		return ""
	}
	return "(set)"
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
		{"PAYFLOW_PUBLIC_URL", c.PublicURL},
		{"PAYFLOW_LINK_SECRET", isSet(c.LinkSecret)},
		{"STRIPE_BILLING_PORTAL_RETURN_URL", c.PortalReturnURL},
		{"STRIPE_BILLING_PORTAL_CONFIGURATION", c.PortalConfiguration},
		{"PAYFLOW_PORTAL_LINK_TTL", c.PortalLinkTTL.String()},
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
		{"DUNNING_SCHEDULE", billing.FormatSchedules(c.Dunning.Schedules)},
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
	printPlan(w, p.Plan())
	if p.Mode == billing.ModePayflow {
		// The other decline categories, when their timeline differs from
		// a soft decline's.
		soft := fmt.Sprint(p.Plan())
		for _, cat := range append(billing.ScheduledCategories[1:], billing.DeclineHard) {
			plan := p.PlanFor(cat)
			if fmt.Sprint(plan) == soft {
				fmt.Fprintf(w, "\nWhen the decline is %s: the same timeline.\n", cat)
				continue
			}
			fmt.Fprintf(w, "\nWhen the decline is %s (retries: %s):\n", cat, billing.FormatDelays(p.DelaysFor(cat)))
			printPlan(w, plan)
		}
		fmt.Fprintln(w, "\nA new payment method (card updated) retries every open campaign at once, whatever the category.")
	}
	for _, warn := range p.Warnings() {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
}

func printPlan(w io.Writer, steps []billing.PlanStep) {
	for _, s := range steps {
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
