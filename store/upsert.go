package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// rowKind describes one table whose rows the billing core writes through
// merge-upserts: the stored row is read (locked) and merged with the new
// one in Go, where the rules read plainly — identifiers a write lacks keep
// the stored ones, statuses only move forward, cumulative amounts only
// grow, a snapshot older than the stored one changes nothing else — and
// written back only when the merge changed something.
type rowKind[T any] struct {
	table   string
	columns []string // the key's columns first
	keys    int      // how many leading columns form the key
	values  func(db *DB, row T) []any
	scan    func(r rowScanner) (T, error)
	// merge returns what to store given the stored row and a new one.
	merge func(stored, in T) T
	// touch sets the row's updated_at (the only field a write changes
	// without it counting as a change).
	touch func(row *T, from T)
}

func (k rowKind[T]) selectSQL(forUpdate string) string {
	return fmt.Sprintf(`SELECT %s FROM %s WHERE %s%s`, strings.Join(k.columns, ", "), k.table, k.keyWhere(), forUpdate)
}

func (k rowKind[T]) keyWhere() string {
	var where []string
	for i, c := range k.columns[:k.keys] {
		where = append(where, fmt.Sprintf("%s = $%d", c, i+1))
	}
	return strings.Join(where, " AND ")
}

func (k rowKind[T]) insertSQL() string {
	var ph []string
	for i := range k.columns {
		ph = append(ph, fmt.Sprintf("$%d", i+1))
	}
	return fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO NOTHING`,
		k.table, strings.Join(k.columns, ", "), strings.Join(ph, ", "), strings.Join(k.columns[:k.keys], ", "))
}

func (k rowKind[T]) updateSQL() string {
	var set []string
	for i, c := range k.columns[k.keys:] {
		set = append(set, fmt.Sprintf("%s = $%d", c, k.keys+i+1))
	}
	return fmt.Sprintf(`UPDATE %s SET %s WHERE %s`, k.table, strings.Join(set, ", "), k.keyWhere())
}

// upsert writes in within tx and returns the stored row and whether it
// changed (or inserted) it.
func (k rowKind[T]) upsert(ctx context.Context, db *DB, tx *sql.Tx, in T) (T, bool, error) {
	vals := k.values(db, in)
	inserted, err := execOne(ctx, tx, k.insertSQL(), vals...)
	if err != nil {
		return in, false, err
	}
	wrote := inserted
	if !inserted {
		stored, err := k.scan(tx.QueryRowContext(ctx, k.selectSQL(db.dialect.forUpdate), vals[:k.keys]...))
		if err != nil {
			return in, false, err
		}
		merged := k.merge(stored, in)
		if !reflect.DeepEqual(merged, stored) {
			k.touch(&merged, in)
			if _, err := tx.ExecContext(ctx, k.updateSQL(), k.values(db, merged)...); err != nil {
				return in, false, err
			}
			wrote = true
		}
	}
	out, err := k.scan(tx.QueryRowContext(ctx, k.selectSQL(""), vals[:k.keys]...))
	return out, wrote, err
}

// get reads one row by key, payflow.ErrNotFound when there is none.
func (k rowKind[T]) get(ctx context.Context, db *DB, key ...any) (T, error) {
	return getOne(ctx, db.sql, k.scan, k.selectSQL(""), key...)
}

// jsonText encodes v as the JSON text a column stores.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store: encode %T: %v", v, err)) // plain slices of plain structs always encode
	}
	return string(b)
}

// jsonDest scans a JSON text column into v.
type jsonDest struct{ v any }

func (d jsonDest) Scan(src any) error {
	var b []byte
	switch s := src.(type) {
	case nil:
		return nil
	case string:
		b = []byte(s)
	case []byte:
		b = s
	default:
		return fmt.Errorf("cannot read %T as JSON text", src)
	}
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, d.v)
}

// firstSet keeps a stored identifier, or takes the new one when none is
// stored: Stripe's identifiers of an object never change, and not every
// event carries them.
func firstSet(stored, in string) string {
	if stored != "" {
		return stored
	}
	return in
}

// newer takes the new value when it is set, else keeps the stored one.
func newer[T comparable](stored, in T) T {
	var zero T
	if in != zero {
		return in
	}
	return stored
}
