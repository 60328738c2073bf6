-- Safety state that must survive a restart of its role.
--   executor -> control_state (kill switch), request_log (request-id idempotency)
-- A role's lease is a PostgreSQL session advisory lock (see fff-store `lease`), not a table.

-- The kill switch of a role: a restarted executor that was paused stays paused.
CREATE TABLE control_state (
    role                   TEXT PRIMARY KEY,
    paused                 BOOLEAN NOT NULL,
    reason                 TEXT NOT NULL,
    changed_by             TEXT NOT NULL,
    changed_at             TIMESTAMPTZ NOT NULL,
    -- pause also stops entries under way at their next slice
    cancel_working_entries BOOLEAN NOT NULL DEFAULT false,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER control_state_updated_at BEFORE UPDATE ON control_state
    FOR EACH ROW EXECUTE FUNCTION fff_set_updated_at();

-- First answer to each mutating request id, so a retry after a restart is answered from here
-- instead of acting twice. `response` is the encoded protobuf response message.
CREATE TABLE request_log (
    role       TEXT NOT NULL,
    request_id TEXT NOT NULL,
    method     TEXT NOT NULL,
    response   BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (role, request_id)
);
CREATE TRIGGER request_log_updated_at BEFORE UPDATE ON request_log
    FOR EACH ROW EXECUTE FUNCTION fff_set_updated_at();
