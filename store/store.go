// Package store is payflow's database: the payflow.Store interface over
// SQLite (the default, one file, for `payflow dev`) or PostgreSQL.
//
// Both backends share one database/sql implementation. The SQL is written
// once, in the subset the two dialects have in common (ON CONFLICT upserts,
// RETURNING, $n placeholders, IS DISTINCT FROM); the dialect type below holds
// the few differences: the driver, how a timestamp is stored, and how the
// migrations are serialised.
//
// Open connects to a database whose schema is current and refuses any other;
// Migrate brings the schema up to date. Keeping the two apart lets `payflow
// serve` and `payflow worker` fail fast with a clear message against a
// database nobody migrated, while `payflow dev` and `payflow migrate` call
// Migrate first.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver (pure Go)

	"github.com/payflow/payflow"
)

// DefaultDatabaseURL is where `payflow dev` keeps its SQLite database when
// DATABASE_URL is not set.
const DefaultDatabaseURL = "./.payflow/payflow.db"

// DB is a payflow.Store backed by SQLite or PostgreSQL. It is safe for
// concurrent use.
type DB struct {
	sql     *sql.DB
	dialect *dialect
	target  string // the database, for messages; a PostgreSQL password is redacted
}

var _ payflow.Store = (*DB)(nil)

// dialect is what differs between the two backends.
type dialect struct {
	name   string // "sqlite" or "postgres"; also the migrations directory
	driver string // database/sql driver name

	// tableExists reports whether the table named $1 exists.
	tableExists string
	// createMigrationsTable creates schema_migrations if it is missing.
	createMigrationsTable string
	// lockMigrations, when set, runs first in the migration transaction so
	// that two processes migrating at once take turns. SQLite needs none:
	// its transactions begin IMMEDIATE, which already takes the write lock.
	lockMigrations string
	// encodeTime turns a normalised UTC time into the value the driver
	// stores.
	encodeTime func(time.Time) any
	// forUpdate ends a SELECT that reads a row the transaction is about to
	// change, so concurrent writers of the row take turns. SQLite needs
	// none: its write transactions begin IMMEDIATE and hold the lock.
	forUpdate string
}

// sqliteTimeLayout is how SQLite stores timestamps: fixed-width UTC text, so
// values sort correctly as strings and read back exactly as written, and the
// sqlite3 shell shows them legibly.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z"

var sqliteDialect = &dialect{
	name:        "sqlite",
	driver:      "sqlite",
	tableExists: `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)`,
	createMigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_at TEXT NOT NULL
) STRICT`,
	encodeTime: func(t time.Time) any { return t.Format(sqliteTimeLayout) },
}

var postgresDialect = &dialect{
	name:        "postgres",
	driver:      "pgx",
	tableExists: `SELECT to_regclass($1) IS NOT NULL`,
	createMigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_at TIMESTAMPTZ NOT NULL
)`,
	// An arbitrary constant that identifies payflow's migrations among
	// other users of advisory locks on the same server.
	lockMigrations: `SELECT pg_advisory_xact_lock(7170237461697760)`,
	encodeTime:     func(t time.Time) any { return t },
	forUpdate:      ` FOR UPDATE`,
}

// sqlitePragmas configure every SQLite connection. busy_timeout makes a
// writer wait for another process's lock instead of failing at once; WAL lets
// readers run beside the writer; synchronous=NORMAL is durable enough in WAL
// mode and much faster than FULL. _txlock=immediate makes BEGIN take the
// write lock up front, so two transactions never deadlock upgrading a read
// lock (which SQLite reports as SQLITE_BUSY without waiting). Read-only
// transactions still begin DEFERRED.
const sqlitePragmas = "_pragma=busy_timeout(5000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(NORMAL)" +
	"&_txlock=immediate"

// parseURL picks the backend for a DATABASE_URL. postgres:// and
// postgresql:// URLs go to PostgreSQL unchanged. Anything else is a SQLite
// file: a plain path, or a path behind sqlite:, sqlite://, file: or file://
// (so sqlite:///var/lib/payflow.db is absolute and sqlite://payflow.db is
// relative).
func parseURL(databaseURL string) (*dialect, string, error) {
	if databaseURL == "" {
		return nil, "", errors.New("store: no database configured: set DATABASE_URL to a SQLite path or a postgres:// URL")
	}
	lower := strings.ToLower(databaseURL)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		return postgresDialect, databaseURL, nil
	}
	path := databaseURL
	matched := false
	for _, prefix := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if strings.HasPrefix(lower, prefix) {
			path, matched = databaseURL[len(prefix):], true
			break
		}
	}
	if !matched {
		if scheme, _, ok := strings.Cut(databaseURL, "://"); ok {
			return nil, "", fmt.Errorf("store: unsupported database URL scheme %q: use a SQLite path or a postgres:// URL", scheme)
		}
	}
	if path == "" {
		return nil, "", fmt.Errorf("store: database URL %q names no file", databaseURL)
	}
	// The pragmas travel in the DSN's query string, so a path carrying its
	// own would be misread; refuse it rather than guess.
	if strings.ContainsAny(path, "?#") {
		return nil, "", fmt.Errorf("store: SQLite database URL %q: query parameters are not supported", databaseURL)
	}
	return sqliteDialect, path, nil
}

// Open connects to the database DATABASE_URL names and checks that its schema
// is the one this binary was built for. It never migrates: a database whose
// schema is missing or behind fails with ErrSchemaOutdated (run `payflow
// migrate`), one that is ahead with ErrSchemaTooNew. A SQLite file that does
// not exist is reported the same way rather than created empty.
func Open(ctx context.Context, databaseURL string) (*DB, error) {
	db, err := connect(ctx, databaseURL, false)
	if err != nil {
		return nil, err
	}
	if err := db.checkSchema(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// connect opens the connection pool and checks the database answers. create
// says whether a missing SQLite file (and its directory) may be created.
func connect(ctx context.Context, databaseURL string, create bool) (*DB, error) {
	d, dsn, err := parseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	db := &DB{dialect: d, target: dsn}
	if d == postgresDialect {
		if u, err := url.Parse(dsn); err == nil {
			db.target = u.Redacted()
		}
	} else {
		if err := prepareSQLiteFile(dsn, create); err != nil {
			return nil, err
		}
		dsn += "?" + sqlitePragmas
	}

	db.sql, err = sql.Open(d.driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s database %s: %w", d.name, db.target, err)
	}
	if d == sqliteDialect {
		// One connection serialises this process's writers in Go, where
		// they queue without polling and honour their contexts; the busy
		// timeout and IMMEDIATE transactions cover other processes on the
		// same file. payflow's transactions are a few short statements,
		// so one connection keeps up with a development workload.
		db.sql.SetMaxOpenConns(1)
		db.sql.SetMaxIdleConns(1)
		db.sql.SetConnMaxLifetime(0)
	} else {
		db.sql.SetMaxOpenConns(20)
		db.sql.SetMaxIdleConns(20)
		db.sql.SetConnMaxIdleTime(5 * time.Minute)
	}
	if err := db.sql.PingContext(ctx); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("store: connect to %s database %s: %w", d.name, db.target, err)
	}
	return db, nil
}

// prepareSQLiteFile checks, or with create makes, the directory of a SQLite
// database file.
func prepareSQLiteFile(path string, create bool) error {
	if create {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("store: create directory for SQLite database %s: %w", path, err)
		}
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: SQLite database %s does not exist; run `payflow migrate` to create it", ErrSchemaOutdated, path)
		}
		return fmt.Errorf("store: SQLite database %s: %w", path, err)
	}
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping %s database %s: %w", db.dialect.name, db.target, err)
	}
	return nil
}

// WriteCheck proves the database accepts writes: it upserts the one row of
// payflow_health (migration 2) and commits. A ping answers on a database
// that can no longer be written — a read-only or immutable SQLite file, a
// full disk, a PostgreSQL standby — so the readiness of a process that
// writes asks for this instead.
func (db *DB) WriteCheck(ctx context.Context) error {
	_, err := db.sql.ExecContext(ctx,
		`INSERT INTO payflow_health (id, checked_at, checks) VALUES (1, $1, 1)
		ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at, checks = payflow_health.checks + 1`,
		db.ts(time.Now()))
	if err != nil {
		return fmt.Errorf("store: %s database %s does not accept writes: %w", db.dialect.name, db.target, err)
	}
	return nil
}

// Close closes the connection pool.
func (db *DB) Close() error {
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("store: close %s database %s: %w", db.dialect.name, db.target, err)
	}
	return nil
}

// Backend names the database kind: "sqlite" or "postgres".
func (db *DB) Backend() string { return db.dialect.name }

// String describes the database for logs and messages, without a password.
func (db *DB) String() string { return db.dialect.name + " " + db.target }

// inTx runs fn in one read-write transaction and commits it, or rolls it back
// when fn or the commit fails, so a call never half-writes.
func (db *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	return db.runTx(ctx, nil, fn)
}

// inReadTx runs fn in a read-only transaction that sees one snapshot.
// (SQLite begins it DEFERRED, so it takes no write lock.)
func (db *DB) inReadTx(ctx context.Context, fn func(*sql.Tx) error) error {
	return db.runTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, fn)
}

func (db *DB) runTx(ctx context.Context, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Timestamps are normalised to UTC at microsecond precision before they are
// stored: PostgreSQL keeps no more, and truncating in both backends makes
// them hand back identical values, so code tested against SQLite behaves the
// same on PostgreSQL.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// ts encodes t for the backend.
func (db *DB) ts(t time.Time) any { return db.dialect.encodeTime(normTime(t)) }

// nullTS encodes an optional time; nil is NULL.
func (db *DB) nullTS(t *time.Time) any {
	if t == nil {
		return nil
	}
	return db.ts(*t)
}

// orNow returns t, or now when t is the zero time (the caller left it unset).
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// timeDest scans a timestamp from either backend: PostgreSQL's driver hands
// back a time.Time, SQLite the text sqliteTimeLayout wrote. Exactly one of
// t (a NOT NULL column) and null (a nullable one) is set.
type timeDest struct {
	t    *time.Time
	null **time.Time
}

func timeCol(t *time.Time) timeDest      { return timeDest{t: t} }
func nullTimeCol(t **time.Time) timeDest { return timeDest{null: t} }

func (d timeDest) Scan(src any) error {
	var t time.Time
	switch v := src.(type) {
	case nil:
		if d.null == nil {
			return errors.New("NULL in a NOT NULL timestamp column")
		}
		*d.null = nil
		return nil
	case time.Time:
		t = v
	case string:
		return d.parse(v)
	case []byte:
		return d.parse(string(v))
	default:
		return fmt.Errorf("cannot read %T as a timestamp", src)
	}
	return d.set(t)
}

func (d timeDest) parse(s string) error {
	t, err := time.Parse(sqliteTimeLayout, s)
	if err != nil {
		// Accept any RFC 3339 text too, in case a person edited a row.
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("read timestamp %q: %w", s, err)
		}
	}
	return d.set(t)
}

func (d timeDest) set(t time.Time) error {
	t = t.UTC()
	if d.null != nil {
		*d.null = &t
	} else {
		*d.t = t
	}
	return nil
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// getOne reads one row, turning "no rows" into payflow.ErrNotFound.
func getOne[T any](ctx context.Context, q querier, scan func(rowScanner) (T, error), query string, args ...any) (T, error) {
	v, err := scan(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return v, payflow.ErrNotFound
	}
	return v, err
}

// getAll reads every row of a query.
func getAll[T any](ctx context.Context, q querier, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{} // empty, not nil: JSON shows [] for "none"
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// execOne runs a statement and reports whether it touched a row.
func execOne(ctx context.Context, q querier, query string, args ...any) (bool, error) {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n > 0, nil
}
