-- The audit log: one row per TaskEvent, written once (insert-or-ignore on event_id) and never
-- changed. Append-only is enforced here, not only by the service: UPDATE and DELETE abort.
-- Times are RFC 3339 UTC text with a fixed width (sqlx's chrono encoding), so they sort as text.
CREATE TABLE audit_logs (
    event_id     TEXT    PRIMARY KEY NOT NULL,
    task_id      TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    event_type   TEXT    NOT NULL,
    task_version INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    occurred_at  TEXT    NOT NULL,
    recorded_at  TEXT    NOT NULL,
    trace_id     TEXT,
    event        TEXT    NOT NULL CHECK (json_valid(event))
) STRICT;

-- A task's history for its owner, oldest first (ListTaskHistory).
CREATE INDEX audit_logs_user_task_occurred ON audit_logs (user_id, task_id, occurred_at);

CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs
BEGIN
    SELECT RAISE(ABORT, 'audit_logs is append-only: UPDATE refused');
END;

CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs
BEGIN
    SELECT RAISE(ABORT, 'audit_logs is append-only: DELETE refused');
END;
