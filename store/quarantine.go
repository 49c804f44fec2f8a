package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/payflow/payflow"
)

// The quarantine table (migration 4): events payflow could not interpret,
// kept whole until a replay can hand them on (payflow.QuarantineStore).

// DefaultQuarantineLimit is how many events a listing returns when the
// filter sets no limit.
const DefaultQuarantineLimit = 100

// InsertQuarantined stores the event unless its ID is there already: a
// retried activity, or a second run for a redelivered event, changes
// nothing, and the first row (its payload and received_at) stays.
func (db *DB) InsertQuarantined(ctx context.Context, q payflow.QuarantinedEvent) (bool, error) {
	switch {
	case q.EventID == "":
		return false, errors.New("store: quarantine: empty event ID")
	case len(q.Payload) == 0:
		return false, fmt.Errorf("store: quarantine %s: empty payload", q.EventID)
	}
	inserted, err := execOne(ctx, db.sql,
		`INSERT INTO quarantine (event_id, type, api_version, livemode, account, reason, detail, payload, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (event_id) DO NOTHING`,
		q.EventID, q.Type, q.APIVersion, q.Livemode, q.Account, q.Reason, q.Detail, q.Payload,
		db.ts(orNow(q.ReceivedAt, time.Now())))
	if err != nil {
		return false, fmt.Errorf("store: quarantine %s: %w", q.EventID, err)
	}
	return inserted, nil
}

const quarantineMeta = `event_id, type, api_version, livemode, account, reason, detail, length(payload),
	received_at, replayed_at, replay_result`

func scanQuarantined(r rowScanner, extra ...any) (payflow.QuarantinedEvent, error) {
	var q payflow.QuarantinedEvent
	dest := append([]any{&q.EventID, &q.Type, &q.APIVersion, &q.Livemode, &q.Account, &q.Reason, &q.Detail,
		&q.PayloadSize, timeCol(&q.ReceivedAt), nullTimeCol(&q.ReplayedAt), &q.ReplayResult}, extra...)
	err := r.Scan(dest...)
	return q, err
}

// ListQuarantined lists the events the filter selects, newest first,
// without their payloads (PayloadSize says how large each is).
func (db *DB) ListQuarantined(ctx context.Context, f payflow.QuarantineFilter) ([]payflow.QuarantinedEvent, error) {
	var where []string
	var args []any
	if f.Reason != "" {
		args = append(args, f.Reason)
		where = append(where, "reason = $"+strconv.Itoa(len(args)))
	}
	if f.Pending {
		where = append(where, "replayed_at IS NULL")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultQuarantineLimit
	}
	args = append(args, limit)
	query := `SELECT ` + quarantineMeta + ` FROM quarantine`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY received_at DESC, event_id LIMIT $` + strconv.Itoa(len(args))
	out, err := getAll(ctx, db.sql, func(r rowScanner) (payflow.QuarantinedEvent, error) { return scanQuarantined(r) }, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list quarantine: %w", err)
	}
	return out, nil
}

// GetQuarantined returns one event with its payload.
func (db *DB) GetQuarantined(ctx context.Context, eventID string) (payflow.QuarantinedEvent, error) {
	var payload []byte
	q, err := getOne(ctx, db.sql, func(r rowScanner) (payflow.QuarantinedEvent, error) { return scanQuarantined(r, &payload) },
		`SELECT `+quarantineMeta+`, payload FROM quarantine WHERE event_id = $1`, eventID)
	if err != nil { // ErrNotFound stays visible to errors.Is
		return q, fmt.Errorf("store: quarantined event %s: %w", eventID, err)
	}
	q.Payload = payload
	return q, nil
}

// MarkQuarantineReplayed records a replay's result once: an event marked
// before keeps its first result (false). A missing event is ErrNotFound.
func (db *DB) MarkQuarantineReplayed(ctx context.Context, eventID, result string, at time.Time) (bool, error) {
	marked, err := execOne(ctx, db.sql,
		`UPDATE quarantine SET replayed_at = $2, replay_result = $3 WHERE event_id = $1 AND replayed_at IS NULL`,
		eventID, db.ts(orNow(at, time.Now())), result)
	if err != nil {
		return false, fmt.Errorf("store: mark %s replayed: %w", eventID, err)
	}
	if marked {
		return true, nil
	}
	var exists bool
	if err := db.sql.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM quarantine WHERE event_id = $1)`, eventID).Scan(&exists); err != nil {
		return false, fmt.Errorf("store: mark %s replayed: %w", eventID, err)
	}
	if !exists {
		return false, fmt.Errorf("store: mark %s replayed: %w", eventID, payflow.ErrNotFound)
	}
	return false, nil
}
