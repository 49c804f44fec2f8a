package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Migrations live in migrations/<dialect>/NNNN_name.sql. Both dialects carry
// the same version numbers (a test checks it); a version is applied in one
// transaction together with its schema_migrations row.
//
//go:embed migrations
var migrationFiles embed.FS

var (
	// ErrSchemaTooNew means the database was migrated by a newer payflow
	// than this one; this binary refuses to touch it.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this payflow binary")
	// ErrSchemaOutdated means the database is missing migrations (or does
	// not exist yet); `payflow migrate` fixes it.
	ErrSchemaOutdated = errors.New("store: database schema is not up to date")
)

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads a dialect's migrations, ordered by version.
func loadMigrations(dialectName string) ([]migration, error) {
	dir := path.Join("migrations", dialectName)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %s/%s: name must start with a positive version number", dir, e.Name())
		}
		body, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("store: migrations %s and %s share version %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	return ms, nil
}

// LatestSchemaVersion is the schema version this binary creates and expects.
func LatestSchemaVersion() int {
	ms, err := loadMigrations(sqliteDialect.name)
	if err != nil || len(ms) == 0 {
		// The files are embedded at build time and checked by the
		// tests, so this cannot happen in a built binary.
		panic(fmt.Sprintf("store: embedded migrations are broken: %v", err))
	}
	return ms[len(ms)-1].version
}

// Migrate brings the database DATABASE_URL names up to the latest schema and
// reports how many migrations it applied; on an up-to-date database it
// applies none. It creates a SQLite file (and its directory) if missing. A
// database migrated by a newer payflow is refused with ErrSchemaTooNew and
// left untouched. All pending migrations apply in one transaction, so a
// failure leaves the schema as it was, and concurrent callers take turns.
func Migrate(ctx context.Context, databaseURL string) (applied int, err error) {
	db, err := connect(ctx, databaseURL, true)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return db.migrate(ctx)
}

func (db *DB) migrate(ctx context.Context) (int, error) { return db.migrateUpTo(ctx, 0) }

// migrateUpTo applies the migrations up to version upTo (0: all of them);
// tests use it to build a database of an older schema.
func (db *DB) migrateUpTo(ctx context.Context, upTo int) (int, error) {
	ms, err := loadMigrations(db.dialect.name)
	if err != nil {
		return 0, err
	}
	latest := ms[len(ms)-1].version
	applied := 0
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if db.dialect.lockMigrations != "" {
			if _, err := tx.ExecContext(ctx, db.dialect.lockMigrations); err != nil {
				return fmt.Errorf("lock migrations: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, db.dialect.createMigrationsTable); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		done, err := appliedVersions(ctx, tx)
		if err != nil {
			return err
		}
		if len(done) > 0 && done[len(done)-1] > latest {
			return tooNew(done[len(done)-1], latest)
		}
		now := time.Now()
		for _, m := range ms {
			if slices.Contains(done, m.version) || (upTo > 0 && m.version > upTo) {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
				m.version, db.ts(now)); err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
			applied++
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrSchemaTooNew) {
			return 0, err
		}
		return 0, fmt.Errorf("store: migrate %s: %w", db, err)
	}
	return applied, nil
}

// appliedVersions lists the versions recorded in schema_migrations, ascending.
func appliedVersions(ctx context.Context, q querier) ([]int, error) {
	vs, err := getAll(ctx, q, func(r rowScanner) (int, error) {
		var v int
		err := r.Scan(&v)
		return v, err
	}, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return vs, nil
}

func tooNew(have, latest int) error {
	return fmt.Errorf("%w: the database is at schema version %d but this binary knows only up to version %d; upgrade payflow", ErrSchemaTooNew, have, latest)
}

// SchemaVersion reports the highest migration applied to the database, 0
// when none is.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var exists bool
	if err := db.sql.QueryRowContext(ctx, db.dialect.tableExists, "schema_migrations").Scan(&exists); err != nil {
		return 0, fmt.Errorf("store: read schema version of %s: %w", db, err)
	}
	if !exists {
		return 0, nil
	}
	vs, err := appliedVersions(ctx, db.sql)
	if err != nil {
		return 0, fmt.Errorf("store: read schema version of %s: %w", db, err)
	}
	if len(vs) == 0 {
		return 0, nil
	}
	return vs[len(vs)-1], nil
}

// checkSchema refuses a database whose schema is not exactly the latest.
func (db *DB) checkSchema(ctx context.Context) error {
	have, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	latest := LatestSchemaVersion()
	switch {
	case have > latest:
		return tooNew(have, latest)
	case have == 0:
		return fmt.Errorf("%w: %s has no payflow schema; run `payflow migrate`", ErrSchemaOutdated, db)
	case have < latest:
		return fmt.Errorf("%w: %s is at schema version %d, this binary needs version %d; run `payflow migrate`", ErrSchemaOutdated, db, have, latest)
	}
	return nil
}
