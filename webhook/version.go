package webhook

import "fmt"

// Stripe names each API version YYYY-MM-DD, and since 2024-09-30 adds the
// name of its release: YYYY-MM-DD.acacia. A release begins with the one
// version that may break things; the monthly versions after it only add
// fields (Stripe's versioning policy), so every version of a release
// shapes an object as its first version does. The fields payflow reads sit
// at the same paths in every release up to acacia, and moved once, in
// 2025-03-31.basil; those are the two families the decoder reads.

// The API version families.
const (
	// FamilyClassic: 2023-10-16 through the acacia release (2024-09-30 …
	// 2025-02-24.acacia).
	FamilyClassic = "classic"
	// FamilyBasil: 2025-03-31.basil and every later release payflow
	// knows (clover, dahlia).
	FamilyBasil = "basil"
)

// Family is a group of API versions in which every field payflow reads
// sits at the same path. The path fields say where the decoder finds each
// field, in the order it tries them (the README's table of versions is
// this table).
type Family struct {
	Name     string
	From, To string   // the first and last version (To "": no later release known)
	Releases []string // the releases in it ("" stands for the dated versions before acacia)

	Subscription  string // of an invoice
	Invoice       string // of a payment intent or a charge
	PaymentIntent string // and charge, of an invoice
	Period        string // current_period_start / _end of a subscription
	Price         string // price and product of an invoice line
}

// Release is one of Stripe's API releases: the versions sharing its name.
type Release struct {
	Name string // "acacia", "basil", …; "" for the dated versions before acacia
	// First is the date of its first version. A named release has a
	// version every month or so from then on, each dated YYYY-MM-DD.name.
	First string
	// Versions lists the only versions of the unnamed release payflow
	// reads; nil for a named release (any date from First on).
	Versions []string
	Family   string
}

// The tables. Sources: Stripe's changelog (docs.stripe.com/changelog,
// the acacia, basil, clover and dahlia pages and the basil entries
// "adds-new-parent-field-to-invoicing-objects",
// "add-support-for-multiple-partial-payments-on-invoices",
// "invoice-pricing-configurations" and
// "deprecate-subscription-current-period-start-and-end"), the versions the
// SDKs pinned (stripe-dotnet 49.0.0 → 2025-09-30.clover, stripe-node
// 21.0.0 → 2026-03-25.dahlia) and Stripe's own fixture objects of
// 2023-10-16, 2025-03-31.basil and 2026-07-29.dahlia
// (testdata/stripe-fixtures). Clover and dahlia changed none of the paths
// payflow reads (clover 2025-12-15 made pricing.price_details.price
// expandable, which the decoder reads either way).
var (
	releases = [...]Release{
		{Name: "", First: "2023-10-16", Versions: []string{"2023-10-16", "2024-04-10", "2024-06-20"}, Family: FamilyClassic},
		{Name: "acacia", First: "2024-09-30", Family: FamilyClassic},
		{Name: "basil", First: "2025-03-31", Family: FamilyBasil},
		{Name: "clover", First: "2025-09-30", Family: FamilyBasil},
		{Name: "dahlia", First: "2026-03-25", Family: FamilyBasil},
	}
	families = [...]Family{
		{
			Name: FamilyClassic, From: "2023-10-16", To: "2025-02-24.acacia", Releases: []string{"", "acacia"},
			Subscription:  "subscription",
			Invoice:       "invoice (an ID, or the expanded invoice with its subscription)",
			PaymentIntent: "charge (payment_intent is kept off invoice events)",
			Period:        "current_period_start, current_period_end",
			Price:         "lines.data[0].price.id, .price.product",
		},
		{
			Name: FamilyBasil, From: "2025-03-31.basil", Releases: []string{"basil", "clover", "dahlia"},
			Subscription: "parent.subscription_details.subscription, else subscription, else " +
				"lines.data[].parent.subscription_item_details.subscription or .invoice_item_details.subscription",
			Invoice: "none: a payment names no invoice (the event is marked InvoiceLinkUnknown); " +
				"invoice_payment objects carry invoice and payment.payment_intent / payment.charge",
			PaymentIntent: "payments.data[].payment.charge when Stripe includes the list (the default payment, else a paid one, else the first)",
			Period:        "items.data[].current_period_start / _end (the item whose period ends first), else the top-level fields",
			Price:         "lines.data[0].pricing.price_details.price, .product (else .price)",
		},
	}
)

// APIFamilies lists the families payflow reads, oldest first.
func APIFamilies() []Family {
	out := families
	for i := range out {
		out[i].Releases = append([]string(nil), out[i].Releases...)
	}
	return out[:]
}

// APIReleases lists the releases payflow knows, oldest first.
func APIReleases() []Release {
	out := releases
	for i := range out {
		out[i].Versions = append([]string(nil), out[i].Versions...)
	}
	return out[:]
}

// OldestAPIVersion is the oldest version payflow reads.
const OldestAPIVersion = "2023-10-16"

// APIFamilyOf maps an event's api_version to the family the decoder reads
// it with. An empty version (Stripe always sends one; hand-written tests
// may not) is classic. A version that is not YYYY-MM-DD[.release], is
// older than OldestAPIVersion, names a release payflow does not know (a
// newer one, or none of Stripe's), or dates a release outside its span is
// an *Uninterpretable with the reason "unknown_api_version".
func APIFamilyOf(apiVersion string) (string, error) {
	f, u := familyOf(apiVersion)
	if u != nil {
		return "", u
	}
	return f, nil
}

// familyOf is APIFamilyOf without the interface conversion; it allocates
// only on failure.
func familyOf(v string) (string, *Uninterpretable) {
	if v == "" {
		return FamilyClassic, nil
	}
	date, name, ok := splitAPIVersion(v)
	if !ok {
		return "", unknownVersion(v, "not YYYY-MM-DD or YYYY-MM-DD.release")
	}
	if date < OldestAPIVersion {
		return "", unknownVersion(v, "older than the oldest version payflow reads, "+OldestAPIVersion)
	}
	newest := releases[len(releases)-1]
	for i, r := range releases {
		if r.Name != name {
			continue
		}
		if r.Versions != nil {
			for _, known := range r.Versions {
				if date == known {
					return r.Family, nil
				}
			}
			if date >= releases[i+1].First {
				return "", unknownVersion(v, "a version since "+releases[i+1].First+" without its release name")
			}
			return "", unknownVersion(v, "not a Stripe API version")
		}
		if date < r.First {
			return "", unknownVersion(v, "release "+r.Name+" begins with "+r.First)
		}
		if i+1 < len(releases) && date >= releases[i+1].First {
			return "", unknownVersion(v, "a version of release "+releases[i+1].Name+", not "+r.Name)
		}
		return r.Family, nil
	}
	if date > newest.First {
		return "", unknownVersion(v, fmt.Sprintf("release %q is newer than the newest payflow knows (%s, from %s): its objects may have moved fields", name, newest.Name, newest.First))
	}
	return "", unknownVersion(v, fmt.Sprintf("release %q is not one payflow knows", name))
}

// splitAPIVersion checks the form YYYY-MM-DD or YYYY-MM-DD.name (name: 1
// to 32 lower-case letters) and returns its parts, without allocating.
func splitAPIVersion(v string) (date, name string, ok bool) {
	if len(v) < 10 {
		return "", "", false
	}
	date = v[:10]
	for i := 0; i < 10; i++ {
		c := date[i]
		if i == 4 || i == 7 {
			if c != '-' {
				return "", "", false
			}
		} else if c < '0' || c > '9' {
			return "", "", false
		}
	}
	if m := date[5:7]; m < "01" || m > "12" {
		return "", "", false
	}
	if d := date[8:10]; d < "01" || d > "31" {
		return "", "", false
	}
	if len(v) == 10 {
		return date, "", true
	}
	if v[10] != '.' || len(v) == 11 || len(v) > 11+32 {
		return "", "", false
	}
	name = v[11:]
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 'a' || c > 'z' {
			return "", "", false
		}
	}
	return date, name, true
}

// maxInDetail bounds how much of a value from the payload an
// Uninterpretable's Detail repeats (it goes to logs and the quarantine).
const maxInDetail = 48

// clip shortens s to maxInDetail bytes for a Detail (%q quotes what is
// left, invalid UTF-8 included).
func clip(s string) string {
	if len(s) > maxInDetail {
		return s[:maxInDetail] + "…"
	}
	return s
}

func unknownVersion(v, why string) *Uninterpretable {
	return &Uninterpretable{Reason: ReasonUnknownAPIVersion, Detail: fmt.Sprintf("api_version %q: %s", clip(v), why)}
}

// Uninterpretable reasons the decoder returns.
const (
	// ReasonUnknownAPIVersion: the event's api_version maps to no family
	// payflow reads (APIFamilyOf).
	ReasonUnknownAPIVersion = "unknown_api_version"
	// ReasonMissingFields: a handled event type whose object lacks, in its
	// version's shape, a field routing needs (a subscription's invoice
	// that names no subscription anywhere).
	ReasonMissingFields = "missing_fields"
)
