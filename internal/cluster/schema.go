package cluster

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// Schemas are the schema tool's embedded schema names of the two databases
// (go.temporal.io/server's schema/postgresql/v12/{temporal,visibility},
// compiled into the tool at the server's version, so the tool and the
// server always agree).
const (
	mainSchema       = "postgresql/v12/temporal"
	visibilitySchema = "postgresql/v12/visibility"
)

func adminURL(o *Options, db string) string {
	return PostgresURL(o.PGHost, o.PGPort, o.PGUser, o.PGPassword, db)
}

// PostgresURL is the connection URL (pgx) of database db on a PostgreSQL
// server reached over TCP without TLS, as the cluster's tools and tests
// reach the local one.
func PostgresURL(host string, port int, user, password, db string) string {
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: "/" + db, RawQuery: "sslmode=disable&connect_timeout=5"}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return u.String()
}

func openAdmin(ctx context.Context, o *Options) (*sql.DB, error) {
	db, err := sql.Open("pgx", adminURL(o, "postgres"))
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("cluster: PostgreSQL at %s:%d (user %s) does not answer: %w (start it: pg_ctlcluster --skip-systemctl-redirect <version> main start)", o.PGHost, o.PGPort, o.PGUser, err)
	}
	return db, nil
}

// setupDatabases creates both databases if absent (after dropping them
// with Reset) and brings their schemas to the tool's version: the schema
// tool's setup-schema -v 0.0 and update-schema, both of which do nothing
// on a database already there.
func setupDatabases(ctx context.Context, o *Options) error {
	admin, err := openAdmin(ctx, o)
	if err != nil {
		return err
	}
	defer admin.Close()
	if o.Reset {
		if err := dropDatabases(ctx, admin, o); err != nil {
			return err
		}
	}
	for _, d := range []struct{ name, schema string }{{o.Database, mainSchema}, {o.VisibilityDatabase, visibilitySchema}} {
		var exists bool
		if err := admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, d.name).Scan(&exists); err != nil {
			return fmt.Errorf("cluster: look up database %s: %w", d.name, err)
		}
		if !exists {
			o.step("creating database %s", d.name)
			if err := sqlTool(ctx, o, d.name, "create-database"); err != nil {
				return err
			}
		}
		if err := sqlTool(ctx, o, d.name, "setup-schema", "-v", "0.0"); err != nil {
			return err
		}
		if err := sqlTool(ctx, o, d.name, "update-schema", "--schema-name", d.schema); err != nil {
			return err
		}
	}
	return nil
}

// waitInitialized waits until the main database holds the cluster's
// metadata and the system namespace, which the first server process writes
// when it starts on a new database (at once on one already used).
func (c *Cluster) waitInitialized(ctx context.Context) error {
	db, err := sql.Open("pgx", adminURL(&c.opts, c.opts.Database))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for {
		var done bool
		err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM cluster_metadata_info)
			AND EXISTS (SELECT 1 FROM namespaces WHERE name = 'temporal-system')`).Scan(&done)
		if err == nil && done {
			return nil
		}
		if exited := c.exitedEarly(); exited != nil {
			return exited
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: %s did not initialize database %s (%w; last: %v)", Services[0], c.opts.Database, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// sqlTool runs Temporal's SQL schema tool on one database.
func sqlTool(ctx context.Context, o *Options, db string, args ...string) error {
	full := []string{"--plugin", "postgres12", "--ep", o.PGHost, "-p", strconv.Itoa(o.PGPort), "-u", o.PGUser, "--db", db, "--quiet"}
	if o.PGPassword != "" {
		full = append(full, "--pw", o.PGPassword)
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, o.SQLToolBin, full...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cluster: %s %s on %s: %w\n%s", o.SQLToolBin, strings.Join(args, " "), db, err, lastLines(out.String(), 20))
	}
	return nil
}

// DropDatabases drops the cluster's two databases (Options.Database and
// VisibilityDatabase, defaults filled in). Run it with the cluster
// stopped; PostgreSQL refuses to drop a database in use.
func DropDatabases(ctx context.Context, opts Options) error {
	o := opts
	if err := o.databaseDefaults(); err != nil {
		return err
	}
	admin, err := openAdmin(ctx, &o)
	if err != nil {
		return err
	}
	defer admin.Close()
	return dropDatabases(ctx, admin, &o)
}

func dropDatabases(ctx context.Context, admin *sql.DB, o *Options) error {
	var errs []error
	for _, n := range []string{o.Database, o.VisibilityDatabase} {
		var exists bool
		if err := admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, n).Scan(&exists); err != nil {
			errs = append(errs, fmt.Errorf("cluster: look up database %s: %w", n, err))
			continue
		}
		if !exists {
			continue
		}
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()); err != nil {
			errs = append(errs, fmt.Errorf("cluster: drop database %s: %w", n, err))
		} else if o.Progress != nil {
			o.step("dropped database %s", n)
		}
	}
	return errors.Join(errs...)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
