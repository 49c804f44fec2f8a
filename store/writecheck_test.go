package store

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The worker's readiness must see a database that answers but
// cannot be written. WriteCheck is a real write; Ping is not enough.

func TestWriteCheck(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			b.skipUnavailable(t)
			t.Parallel()
			ctx := t.Context()
			db := openNew(t, b)
			for i := 0; i < 3; i++ {
				if err := db.WriteCheck(ctx); err != nil {
					t.Fatalf("WriteCheck %d: %v", i+1, err)
				}
			}
			var checks int
			if err := db.sql.QueryRowContext(ctx, `SELECT checks FROM payflow_health WHERE id = 1`).Scan(&checks); err != nil {
				t.Fatal(err)
			}
			if checks != 3 {
				t.Errorf("payflow_health.checks = %d, want 3 (every probe writes)", checks)
			}
			if n := count(t, db, "payflow_health", "1 = 1"); n != 1 {
				t.Errorf("payflow_health holds %d rows, want 1", n)
			}
		})
	}
}

// migratedSQLite returns the path of a new, migrated SQLite database.
func migratedSQLite(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "payflow.db")
	if _, err := Migrate(t.Context(), path); err != nil {
		t.Fatal(err)
	}
	return path
}

func requireNotWritable(t *testing.T, db *DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v (the database should still answer)", err)
	}
	err := db.WriteCheck(ctx)
	if err == nil {
		t.Fatal("WriteCheck succeeded on a database that cannot be written")
	}
	if !strings.Contains(err.Error(), "does not accept writes") {
		t.Errorf("WriteCheck error %q does not say what is wrong", err)
	}
}

// A SQLite database opened read-only (as SQLite does by itself when the
// file's permissions forbid writing): Ping answers, WriteCheck fails.
func TestWriteCheckSQLiteReadOnly(t *testing.T) {
	path := migratedSQLite(t)
	conn, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	db := &DB{sql: conn, dialect: sqliteDialect, target: path}
	t.Cleanup(func() { db.Close() })
	requireNotWritable(t, db)
}

// The file made read-only before payflow opens it. Root ignores file
// modes, so this runs only for other users (TestWriteCheckSQLiteImmutable
// covers root).
func TestWriteCheckSQLiteFileModeReadOnly(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to read-only files; see TestWriteCheckSQLiteImmutable")
	}
	path := migratedSQLite(t)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o444); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(p, 0o644) })
	}
	db, err := Open(t.Context(), path)
	if err != nil {
		// SQLite may refuse to open a WAL database it cannot write at all:
		// as good as not ready.
		t.Skipf("Open on a read-only file: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	requireNotWritable(t, db)
}

// The file becomes unwritable while payflow has it open (immutable, which
// holds even for root and for descriptors already open): WriteCheck fails,
// and passes again once the file is writable.
func TestWriteCheckSQLiteImmutable(t *testing.T) {
	chattr, err := exec.LookPath("chattr")
	if err != nil {
		t.Skip("no chattr")
	}
	path := migratedSQLite(t)
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.WriteCheck(t.Context()); err != nil {
		t.Fatalf("WriteCheck on a writable file: %v", err)
	}
	files := []string{path, path + "-wal"}
	if out, err := exec.Command(chattr, append([]string{"+i"}, files...)...).CombinedOutput(); err != nil {
		t.Skipf("chattr +i not possible here (needs CAP_LINUX_IMMUTABLE and ext4-like storage): %v %s", err, out)
	}
	restore := func() {
		if out, err := exec.Command(chattr, append([]string{"-i"}, files...)...).CombinedOutput(); err != nil {
			t.Errorf("chattr -i: %v %s", err, out)
		}
	}
	t.Cleanup(restore) // never leave an undeletable file behind
	requireNotWritable(t, db)
	restore()
	if err := db.WriteCheck(t.Context()); err != nil {
		t.Errorf("WriteCheck once the file is writable again: %v", err)
	}
}

// Another process holds the write lock longer than the caller waits: not
// writable for now.
func TestWriteCheckSQLiteLocked(t *testing.T) {
	path := migratedSQLite(t)
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	other, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	tx, err := other.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	start := time.Now()
	if err := db.WriteCheck(ctx); err == nil {
		t.Error("WriteCheck succeeded while another connection holds the write lock")
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("WriteCheck took %s; it should give up with its context", d)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := db.WriteCheck(t.Context()); err != nil {
		t.Errorf("WriteCheck after the lock is released: %v", err)
	}
}

// A PostgreSQL database whose sessions are read-only (as on a standby, or
// with default_transaction_read_only): Ping answers, WriteCheck fails.
func TestWriteCheckPostgresReadOnly(t *testing.T) {
	u := newPostgresDatabase(t)
	ctx := t.Context()
	if _, err := Migrate(ctx, u); err != nil {
		t.Fatal(err)
	}
	setReadOnly := func(on bool) {
		t.Helper()
		pool, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		conn, err := pool.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		v := "off"
		if on {
			v = "on"
		}
		// This connection must be writable to change the setting back.
		if _, err := conn.ExecContext(ctx, "SET default_transaction_read_only = off"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, "ALTER DATABASE "+currentDatabase(t, conn)+" SET default_transaction_read_only = "+v); err != nil {
			t.Fatal(err)
		}
	}
	setReadOnly(true)
	db, err := Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	requireNotWritable(t, db)
	db.Close()

	setReadOnly(false)
	db, err = Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.WriteCheck(ctx); err != nil {
		t.Errorf("WriteCheck on a writable database: %v", err)
	}
}

func currentDatabase(t *testing.T, conn *sql.Conn) string {
	t.Helper()
	var name string
	if err := conn.QueryRowContext(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name
}
