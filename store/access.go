package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/payflow/payflow"
)

const accessColumns = `customer_id, product_id, source, status, valid_until, reason,
	granted_at, suspended_at, revoked_at, updated_at, account`

func scanAccess(r rowScanner) (payflow.AccessSource, error) {
	var a payflow.AccessSource
	err := r.Scan(&a.CustomerID, &a.ProductID, &a.Source, &a.Status, nullTimeCol(&a.ValidUntil), &a.Reason,
		nullTimeCol(&a.GrantedAt), nullTimeCol(&a.SuspendedAt), nullTimeCol(&a.RevokedAt), timeCol(&a.UpdatedAt), &a.Account)
	return a, err
}

// SetAccessSource writes what one source does to one product of the
// customer — status, valid_until (nil: no end) and reason — and returns
// the product's rows after it. Changed says whether the source's row
// changed; each change increments the product's version. A retried write
// changes nothing and returns the current rows and version.
//
// Writers of one (customer, product) take turns: the transaction first
// takes the product's access_versions row (a row lock in PostgreSQL; SQLite
// serialises write transactions), so the rows it reads back include every
// other source's committed change and the versions it hands out follow the
// order of the writes.
//
// Entering a status stamps its timestamp (granted_at for granted, and so
// on) from the matching field of a, or now when that is nil; staying in a
// status keeps the stamp, and the other stamps keep the last time the row
// was in those states.
func (db *DB) SetAccessSource(ctx context.Context, a payflow.AccessSource) (payflow.AccessUpdate, error) {
	if a.CustomerID == "" || a.ProductID == "" || a.Source == "" {
		return payflow.AccessUpdate{}, fmt.Errorf("store: set access %q/%q from %q: empty customer, product or source",
			a.CustomerID, a.ProductID, a.Source)
	}
	var stamp **time.Time
	var stampColumn string
	switch a.Status {
	case payflow.AccessGranted:
		stamp, stampColumn = &a.GrantedAt, "granted_at"
	case payflow.AccessSuspended:
		stamp, stampColumn = &a.SuspendedAt, "suspended_at"
	case payflow.AccessRevoked:
		stamp, stampColumn = &a.RevokedAt, "revoked_at"
	default:
		return payflow.AccessUpdate{}, fmt.Errorf("store: set access %s/%s from %s: unknown status %q",
			a.CustomerID, a.ProductID, a.Source, a.Status)
	}
	now := time.Now()
	if *stamp == nil {
		*stamp = &now
	}
	updated := db.ts(orNow(a.UpdatedAt, now))

	var out payflow.AccessUpdate
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO access_versions (customer_id, product_id, version, updated_at) VALUES ($1, $2, 0, $3)
			ON CONFLICT (customer_id, product_id) DO NOTHING`,
			a.CustomerID, a.ProductID, updated); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx,
			`SELECT version FROM access_versions WHERE customer_id = $1 AND product_id = $2`+db.dialect.forUpdate,
			a.CustomerID, a.ProductID).Scan(&out.Version); err != nil {
			return err
		}
		changed, err := execOne(ctx, tx,
			`INSERT INTO access (`+accessColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (customer_id, product_id, source) DO NOTHING`,
			a.CustomerID, a.ProductID, a.Source, a.Status, db.nullTS(a.ValidUntil), a.Reason,
			db.nullTS(a.GrantedAt), db.nullTS(a.SuspendedAt), db.nullTS(a.RevokedAt), updated, a.Account)
		if err != nil {
			return err
		}
		if !changed {
			changed, err = execOne(ctx, tx,
				`UPDATE access SET
					`+stampColumn+` = CASE WHEN status = $4 AND `+stampColumn+` IS NOT NULL THEN `+stampColumn+` ELSE $7 END,
					status = $4,
					valid_until = $5,
					reason = $6,
					updated_at = $8,
					account = CASE WHEN account = '' THEN $9 ELSE account END
				WHERE customer_id = $1 AND product_id = $2 AND source = $3
					AND (status <> $4 OR valid_until IS DISTINCT FROM $5 OR reason <> $6)`,
				a.CustomerID, a.ProductID, a.Source, a.Status, db.nullTS(a.ValidUntil), a.Reason,
				db.ts(**stamp), updated, a.Account)
			if err != nil {
				return err
			}
		}
		if changed {
			out.Changed = true
			out.Version++
			if _, err := tx.ExecContext(ctx,
				`UPDATE access_versions SET version = $3, updated_at = $4 WHERE customer_id = $1 AND product_id = $2`,
				a.CustomerID, a.ProductID, out.Version, updated); err != nil {
				return err
			}
		}
		out.Sources, err = getAll(ctx, tx, scanAccess,
			`SELECT `+accessColumns+` FROM access WHERE customer_id = $1 AND product_id = $2 ORDER BY source`,
			a.CustomerID, a.ProductID)
		return err
	})
	if err != nil {
		return payflow.AccessUpdate{}, fmt.Errorf("store: set access %s/%s from %s to %s: %w",
			a.CustomerID, a.ProductID, a.Source, a.Status, err)
	}
	return out, nil
}

// AccessFor lists the customer's source rows for productID, or for every
// product when productID is empty, sorted by product and source. A
// customer with none gets an empty list, not payflow.ErrNotFound.
func (db *DB) AccessFor(ctx context.Context, customerID, productID string) ([]payflow.AccessSource, error) {
	if customerID == "" {
		return nil, errors.New("store: access: empty customer ID")
	}
	rows, err := getAll(ctx, db.sql, scanAccess,
		`SELECT `+accessColumns+` FROM access
		WHERE customer_id = $1 AND ($2 = '' OR product_id = $2)
		ORDER BY product_id, source`,
		customerID, productID)
	if err != nil {
		return nil, fmt.Errorf("store: access of %s: %w", customerID, err)
	}
	return rows, nil
}
