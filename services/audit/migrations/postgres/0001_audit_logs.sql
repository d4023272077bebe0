-- The audit log: one row per TaskEvent, written once (insert-or-ignore on event_id) and never
-- changed. Append-only is enforced here, not only by the service: UPDATE, DELETE and TRUNCATE
-- raise an error for every role that does not own the table and drop the triggers.
CREATE TABLE audit_logs (
    event_id     uuid        PRIMARY KEY,
    task_id      uuid        NOT NULL,
    user_id      uuid        NOT NULL,
    event_type   text        NOT NULL,
    task_version bigint      NOT NULL,
    actor        text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    trace_id     text,
    event        jsonb       NOT NULL
);

-- A task's history for its owner, oldest first (ListTaskHistory).
CREATE INDEX audit_logs_user_task_occurred ON audit_logs (user_id, task_id, occurred_at);

CREATE FUNCTION audit_logs_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER audit_logs_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse_change();

CREATE TRIGGER audit_logs_no_truncate
    BEFORE TRUNCATE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_refuse_change();
