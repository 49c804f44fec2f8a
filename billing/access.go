package billing

import (
	"cmp"
	"slices"
	"time"

	"github.com/payflow/payflow"
)

// Access statuses (the store's and the provisioning webhook's words).
const (
	AccessGranted   = payflow.AccessGranted
	AccessSuspended = payflow.AccessSuspended
	AccessRevoked   = payflow.AccessRevoked
)

// Grant is what one source last did to one product; an entity keeps its
// own grants to know what to change when its state moves.
type Grant struct {
	ProductID  string `json:"product_id"`
	Status     string `json:"status"`
	ValidUntil int64  `json:"valid_until,omitempty"` // Unix seconds; 0: no end
}

// DefaultProduct is what a one-off payment buys when nothing names a
// product.
const DefaultProduct = "default"

// syncGrants moves a source's grants to the wanted status for products;
// products the source granted before and no longer covers are revoked (for
// this source only). want == "" means the source has no opinion yet. A
// product never granted is not "revoked". Without a customer there is
// nobody to hold access (a guest payment): nothing is recorded.
func syncGrants(customer, source string, grants []Grant, products []string, want string, validUntil int64, reason string) ([]Grant, []Command) {
	if customer == "" || want == "" {
		return grants, nil
	}
	if want != AccessGranted {
		validUntil = 0
	}
	var cmds []Command
	out := slices.Clone(grants)
	set := func(product, status string, until int64) {
		i := slices.IndexFunc(out, func(g Grant) bool { return g.ProductID == product })
		if i < 0 && status == AccessRevoked {
			return
		}
		if i >= 0 && out[i].Status == status && out[i].ValidUntil == until {
			return
		}
		g := Grant{ProductID: product, Status: status, ValidUntil: until}
		if i < 0 {
			out = append(out, g)
		} else {
			out[i] = g
		}
		cmds = append(cmds, SetAccess{CustomerID: customer, ProductID: product, Source: source, Status: status,
			ValidUntil: unixPtr(until), Reason: reason})
	}
	for _, g := range grants {
		if !slices.Contains(products, g.ProductID) {
			set(g.ProductID, AccessRevoked, 0)
		}
	}
	for _, p := range products {
		set(p, want, validUntil)
	}
	slices.SortFunc(out, func(a, b Grant) int { return cmp.Compare(a.ProductID, b.ProductID) })
	return out, cmds
}

// worst combines what several rules want of one source: revoked beats
// suspended beats granted.
func worst(a, b string) string {
	if accessRank(b) > accessRank(a) {
		return b
	}
	return a
}

func accessRank(s string) int {
	switch s {
	case AccessGranted:
		return 1
	case AccessSuspended:
		return 2
	case AccessRevoked:
		return 3
	}
	return 0
}

// AccessRow is one source's access to one product, as the store keeps it.
type AccessRow struct {
	CustomerID string     `json:"customer_id"`
	ProductID  string     `json:"product_id"`
	Source     string     `json:"source"`
	Status     string     `json:"status"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
}

// ProductAccess is a customer's effective access to one product.
type ProductAccess struct {
	CustomerID string      `json:"customer_id"`
	ProductID  string      `json:"product_id"`
	Status     string      `json:"status"`
	ValidUntil *time.Time  `json:"valid_until,omitempty"` // nil: no end (or not granted)
	Sources    []AccessRow `json:"sources"`
}

// Row turns a SetAccess command into the row it writes.
func (c SetAccess) Row() AccessRow {
	return AccessRow{CustomerID: c.CustomerID, ProductID: c.ProductID, Source: c.Source, Status: c.Status, ValidUntil: c.ValidUntil}
}

// EffectiveAccess folds source rows into one entry per (customer,
// product): granted if any source grants it, else suspended if any
// suspends it, else revoked. Rows are read in order; a later row for the
// same (customer, product, source) replaces an earlier one. The result and
// each entry's sources are sorted. ValidUntil is the latest end among the
// granting sources (nil when one of them has none).
func EffectiveAccess(rows []AccessRow) []ProductAccess {
	var out []ProductAccess
	for _, r := range rows {
		i := slices.IndexFunc(out, func(p ProductAccess) bool { return p.CustomerID == r.CustomerID && p.ProductID == r.ProductID })
		if i < 0 {
			out = append(out, ProductAccess{CustomerID: r.CustomerID, ProductID: r.ProductID})
			i = len(out) - 1
		}
		p := &out[i]
		j := slices.IndexFunc(p.Sources, func(s AccessRow) bool { return s.Source == r.Source })
		if j < 0 {
			p.Sources = append(p.Sources, r)
		} else {
			p.Sources[j] = r
		}
	}
	for i := range out {
		p := &out[i]
		slices.SortFunc(p.Sources, func(a, b AccessRow) int { return cmp.Compare(a.Source, b.Source) })
		p.Status = AccessRevoked
		var until *time.Time
		open := false
		for _, s := range p.Sources {
			switch s.Status {
			case AccessGranted:
				p.Status = AccessGranted
				if s.ValidUntil == nil {
					open = true
				} else if until == nil || s.ValidUntil.After(*until) {
					t := *s.ValidUntil
					until = &t
				}
			case AccessSuspended:
				if p.Status != AccessGranted {
					p.Status = AccessSuspended
				}
			}
		}
		if p.Status == AccessGranted && !open {
			p.ValidUntil = until
		}
	}
	slices.SortFunc(out, func(a, b ProductAccess) int {
		return cmp.Or(cmp.Compare(a.CustomerID, b.CustomerID), cmp.Compare(a.ProductID, b.ProductID))
	})
	return out
}

func unixPtr(sec int64) *time.Time {
	if sec <= 0 {
		return nil
	}
	t := time.Unix(sec, 0).UTC()
	return &t
}
