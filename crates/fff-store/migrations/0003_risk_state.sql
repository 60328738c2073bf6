-- Safety state of the risk role that must survive a restart (issue #12).
--   risk -> lease_fences (row 'fff-risk'), risk_directives, risk_directive_acks,
--           risk_monitor_state, risk_approvals
-- The lease itself stays a session advisory lock (fff-store `lease`); lease_fences adds a
-- fencing token so a holder that lost its lock cannot write after the next holder started.

-- Fencing token per lease name: each new lease term increments `epoch`; every write of the
-- term checks (FOR SHARE, in the same transaction) that the epoch is still its own.
CREATE TABLE lease_fences (
    name        TEXT PRIMARY KEY,
    epoch       BIGINT NOT NULL CHECK (epoch > 0),
    holder      TEXT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER lease_fences_updated_at BEFORE UPDATE ON lease_fences
    FOR EACH ROW EXECUTE FUNCTION fff_set_updated_at();

-- Every directive risk issued, in sequence order. A directive is stored before it is
-- broadcast, so the table is the complete history a restarted risk serves and resumes from.
CREATE TABLE risk_directives (
    sequence        BIGINT PRIMARY KEY CHECK (sequence > 0),
    directive_id    TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN
                        ('reduce', 'emergency_deleverage', 'close_all', 'halt_entries', 'resume')),
    reduce_fraction NUMERIC,
    reason          TEXT NOT NULL,
    tier            TEXT NOT NULL CHECK (tier IN ('green', 'yellow', 'orange', 'red')),
    issued_at       TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ,
    -- the de-risk of a drawdown-limit breach
    drawdown_limit  BOOLEAN NOT NULL DEFAULT false,
    -- lease term that wrote it (lease_fences.epoch)
    lease_epoch     BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX risk_directives_issued_at ON risk_directives (issued_at);
CREATE TRIGGER risk_directives_updated_at BEFORE UPDATE ON risk_directives
    FOR EACH ROW EXECUTE FUNCTION fff_set_updated_at();

-- What the executor reported about a directive, oldest first per directive.
CREATE TABLE risk_directive_acks (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    directive_id TEXT NOT NULL REFERENCES risk_directives (directive_id),
    outcome      TEXT NOT NULL CHECK (outcome IN
                     ('accepted', 'completed', 'partial', 'failed', 'skipped')),
    detail       TEXT NOT NULL,
    acked_at     TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX risk_directive_acks_directive ON risk_directive_acks (directive_id, id);
CREATE TRIGGER risk_directive_acks_updated_at BEFORE UPDATE ON risk_directive_acks
    FOR EACH ROW EXECUTE FUNCTION fff_set_updated_at();

-- The margin monitor's latched state (one row per role): the tiers it acted on and the expiry
-- of the standing margin cut, so a restart neither cuts the same tier again nor drops the
-- hysteresis. The drawdown latch is rebuilt from equity_snapshots.
CREATE TABLE risk_monitor_state (
    role         TEXT PRIMARY KEY,
    tier         TEXT CHECK (tier IN ('green', 'yellow', 'orange', 'red')),
    futures_tier TEXT CHECK (futures_tier IN ('green', 'yellow', 'orange', 'red')),
    cross_tier   TEXT CHECK (cross_tier IN ('green', 'yellow', 'orange', 'red')),
    cut_expires  TIMESTAMPTZ,
    lease_epoch  BIGINT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TRIGGER risk_monitor_state_updated_at BEFORE UPDATE ON risk_monitor_state
    FOR EACH ROW EXECUTE FUNCTION fff_set_updated_at();

-- Entry decisions, idempotent on the caller's request id; refusals are kept too (audit).
CREATE TABLE risk_approvals (
    request_id        TEXT PRIMARY KEY,
    approval_id       TEXT NOT NULL UNIQUE,
    symbol            TEXT NOT NULL,
    direction         TEXT NOT NULL,
    notional          NUMERIC NOT NULL,
    leverage          INTEGER NOT NULL,
    reason            TEXT NOT NULL,
    approved          BOOLEAN NOT NULL,
    approved_notional NUMERIC NOT NULL,
    reasons           TEXT[] NOT NULL,
    tier              TEXT NOT NULL CHECK (tier IN ('green', 'yellow', 'orange', 'red')),
    decided_at        TIMESTAMPTZ NOT NULL,
    expires_at        TIMESTAMPTZ NOT NULL,
    lease_epoch       BIGINT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX risk_approvals_decided_at ON risk_approvals (decided_at);
CREATE TRIGGER risk_approvals_updated_at BEFORE UPDATE ON risk_approvals
    FOR EACH ROW EXECUTE FUNCTION fff_set_updated_at();
