-- fff bootstrap schema.
--
-- Table ownership: exactly one service writes each table; any service may read.
--   gateway  -> instruments
--   executor -> positions, orders, fills, funding_payments, borrow_interest, pnl_daily
--   risk     -> equity_snapshots
--
-- Conventions: money, prices, quantities and rates are unconstrained NUMERIC (exact; values
-- written from rust_decimal::Decimal round-trip unchanged); times are TIMESTAMPTZ; enums are TEXT
-- with CHECK constraints mirrored by Rust enums in fff-store; every table has created_at and
-- updated_at, the latter maintained by a trigger. Exchange ids are BIGINT (int64 on Binance).
-- Never edit this file once applied anywhere: add a new migration instead.

CREATE FUNCTION fff_set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- Trading rules for one symbol on both venues (spot/margin and USD-M perpetual).
CREATE TABLE instruments (
    symbol                 TEXT PRIMARY KEY,
    base_asset             TEXT NOT NULL,
    quote_asset            TEXT NOT NULL,
    spot_tick_size         NUMERIC NOT NULL CHECK (spot_tick_size > 0),
    spot_step_size         NUMERIC NOT NULL CHECK (spot_step_size > 0),
    spot_min_qty           NUMERIC NOT NULL CHECK (spot_min_qty >= 0),
    spot_min_notional      NUMERIC NOT NULL CHECK (spot_min_notional >= 0),
    perp_tick_size         NUMERIC NOT NULL CHECK (perp_tick_size > 0),
    perp_step_size         NUMERIC NOT NULL CHECK (perp_step_size > 0),
    perp_min_qty           NUMERIC NOT NULL CHECK (perp_min_qty >= 0),
    perp_min_notional      NUMERIC NOT NULL CHECK (perp_min_notional >= 0),
    spot_trading_enabled   BOOLEAN NOT NULL,
    perp_trading_enabled   BOOLEAN NOT NULL,
    -- symbol tradable on cross margin, and base asset borrowable there (needed to short spot)
    cross_margin_enabled   BOOLEAN NOT NULL,
    base_borrowable        BOOLEAN NOT NULL,
    funding_interval_hours INTEGER NOT NULL CHECK (funding_interval_hours > 0),
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One delta-neutral hedge: a spot (or cross-margin) leg and an opposite perp leg.
-- Quantities are unsigned; `direction` says which leg is long.
CREATE TABLE positions (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    symbol           TEXT NOT NULL,
    direction        TEXT NOT NULL CHECK (direction IN ('LONG_SPOT_SHORT_PERP', 'SHORT_SPOT_LONG_PERP')),
    state            TEXT NOT NULL CHECK (state IN ('OPENING', 'OPEN', 'REBALANCING', 'CLOSING', 'CLOSED', 'FAILED')),
    spot_qty         NUMERIC NOT NULL DEFAULT 0 CHECK (spot_qty >= 0),
    spot_entry_price NUMERIC CHECK (spot_entry_price > 0),
    perp_qty         NUMERIC NOT NULL DEFAULT 0 CHECK (perp_qty >= 0),
    perp_entry_price NUMERIC CHECK (perp_entry_price > 0),
    target_notional  NUMERIC NOT NULL CHECK (target_notional > 0),
    leverage         INTEGER NOT NULL CHECK (leverage BETWEEN 1 AND 125),
    opened_at        TIMESTAMPTZ,
    closed_at        TIMESTAMPTZ,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Safety net: never two live hedges on one symbol (a duplicate open would double the exposure).
CREATE UNIQUE INDEX positions_one_live_per_symbol ON positions (symbol)
    WHERE state NOT IN ('CLOSED', 'FAILED');
CREATE INDEX positions_state ON positions (state);

-- Every order, written as INTENT before it is sent, so a crash between send and ack is recoverable
-- by client_order_id.
CREATE TABLE orders (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_order_id   TEXT NOT NULL UNIQUE CHECK (client_order_id ~ '^[.A-Z:/a-z0-9_-]{1,36}$'),
    position_id       BIGINT REFERENCES positions (id),
    venue             TEXT NOT NULL CHECK (venue IN ('SPOT', 'MARGIN', 'USDM')),
    leg               TEXT NOT NULL CHECK (leg IN ('SPOT', 'PERP')),
    symbol            TEXT NOT NULL,
    side              TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    order_type        TEXT NOT NULL CHECK (order_type IN ('MARKET', 'LIMIT', 'LIMIT_MAKER')),
    time_in_force     TEXT CHECK (time_in_force IN ('GTC', 'IOC', 'FOK', 'GTX')),
    qty               NUMERIC NOT NULL CHECK (qty > 0),
    price             NUMERIC CHECK (price > 0),
    reduce_only       BOOLEAN NOT NULL DEFAULT false,
    side_effect       TEXT NOT NULL DEFAULT 'NO_SIDE_EFFECT'
                      CHECK (side_effect IN ('NO_SIDE_EFFECT', 'MARGIN_BUY', 'AUTO_REPAY', 'AUTO_BORROW_REPAY')),
    status            TEXT NOT NULL DEFAULT 'INTENT'
                      CHECK (status IN ('INTENT', 'SENT', 'ACKED', 'PARTIALLY_FILLED', 'FILLED',
                                        'CANCELED', 'REJECTED', 'UNKNOWN', 'EXPIRED')),
    exchange_order_id BIGINT,
    executed_qty      NUMERIC NOT NULL DEFAULT 0 CHECK (executed_qty >= 0),
    avg_price         NUMERIC CHECK (avg_price > 0),
    error             TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX orders_position ON orders (position_id);
CREATE INDEX orders_unfinished ON orders (created_at)
    WHERE status NOT IN ('FILLED', 'CANCELED', 'REJECTED', 'EXPIRED');

-- Executions. Binance trade ids are unique per symbol and venue, not globally.
-- fee_quote is the fee valued in the quote asset (equal to fee when fee_asset is the quote asset);
-- P&L sums it because fees paid in BNB or the base asset cannot be added up directly.
CREATE TABLE fills (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   BIGINT NOT NULL REFERENCES orders (id),
    venue      TEXT NOT NULL CHECK (venue IN ('SPOT', 'MARGIN', 'USDM')),
    symbol     TEXT NOT NULL,
    trade_id   BIGINT NOT NULL,
    side       TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
    qty        NUMERIC NOT NULL CHECK (qty > 0),
    price      NUMERIC NOT NULL CHECK (price > 0),
    fee        NUMERIC NOT NULL CHECK (fee >= 0),
    fee_asset  TEXT NOT NULL,
    fee_quote  NUMERIC NOT NULL CHECK (fee_quote >= 0),
    is_maker   BOOLEAN NOT NULL,
    traded_at  TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (venue, symbol, trade_id)
);
CREATE INDEX fills_order ON fills (order_id);

-- USD-M FUNDING_FEE income rows. Binance documents tranId as unique per income type; the key also
-- includes the symbol so that rows for different symbols sharing a tranId are never dropped.
-- amount is signed: positive = received. expected_amount is what the strategy predicted.
CREATE TABLE funding_payments (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tran_id         BIGINT NOT NULL,
    symbol          TEXT NOT NULL,
    position_id     BIGINT REFERENCES positions (id),
    asset           TEXT NOT NULL,
    amount          NUMERIC NOT NULL,
    funding_rate    NUMERIC,
    mark_price      NUMERIC CHECK (mark_price > 0),
    notional        NUMERIC,
    expected_amount NUMERIC,
    paid_at         TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (symbol, tran_id)
);
CREATE INDEX funding_payments_position ON funding_payments (position_id, paid_at);

-- Cross-margin interest charges (GET /sapi/v1/margin/interestHistory), keyed by txId.
-- amount_quote is the charge valued in the quote asset, used by P&L (as for fills.fee_quote).
-- position_id attributes the borrowed asset to the hedge that borrowed it.
CREATE TABLE borrow_interest (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx_id         BIGINT NOT NULL UNIQUE,
    asset         TEXT NOT NULL,
    position_id   BIGINT REFERENCES positions (id),
    amount        NUMERIC NOT NULL CHECK (amount >= 0),
    amount_quote  NUMERIC NOT NULL CHECK (amount_quote >= 0),
    interest_rate NUMERIC,
    principal     NUMERIC,
    interest_type TEXT NOT NULL,
    charged_at    TIMESTAMPTZ NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX borrow_interest_position ON borrow_interest (position_id, charged_at);

-- Account equity over time, in the quote currency (USDT), written by the risk service.
CREATE TABLE equity_snapshots (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    taken_at       TIMESTAMPTZ NOT NULL,
    total_equity   NUMERIC NOT NULL,
    spot_equity    NUMERIC NOT NULL,
    margin_equity  NUMERIC NOT NULL,
    futures_equity NUMERIC NOT NULL,
    -- USD-M: maintenance margin / margin balance (lower is safer)
    margin_ratio   NUMERIC,
    -- cross margin: total assets / total liabilities (higher is safer)
    margin_level   NUMERIC,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX equity_snapshots_taken_at ON equity_snapshots (taken_at);

-- Daily mark-to-market P&L per position (UTC days), upserted by the executor. The cash components
-- (funding, borrow, fees) can also be recomputed exactly from the tables above; basis and
-- unrealised need marks, which only the executor has.
CREATE TABLE pnl_daily (
    position_id BIGINT NOT NULL REFERENCES positions (id),
    day         DATE NOT NULL,
    funding     NUMERIC NOT NULL DEFAULT 0,
    borrow      NUMERIC NOT NULL DEFAULT 0,
    fees        NUMERIC NOT NULL DEFAULT 0,
    basis_spot  NUMERIC NOT NULL DEFAULT 0,
    basis_perp  NUMERIC NOT NULL DEFAULT 0,
    realised    NUMERIC NOT NULL DEFAULT 0,
    unrealised  NUMERIC NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (position_id, day)
);

CREATE TRIGGER instruments_updated_at BEFORE UPDATE ON instruments
    FOR EACH ROW EXECUTE FUNCTION fff_set_updated_at();
CREATE TRIGGER positions_updated_at BEFORE UPDATE ON positions
    FOR EACH ROW EXECUTE FUNCTION fff_set_updated_at();
CREATE TRIGGER orders_updated_at BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION fff_set_updated_at();
CREATE TRIGGER fills_updated_at BEFORE UPDATE ON fills
    FOR EACH ROW EXECUTE FUNCTION fff_set_updated_at();
CREATE TRIGGER funding_payments_updated_at BEFORE UPDATE ON funding_payments
    FOR EACH ROW EXECUTE FUNCTION fff_set_updated_at();
CREATE TRIGGER borrow_interest_updated_at BEFORE UPDATE ON borrow_interest
    FOR EACH ROW EXECUTE FUNCTION fff_set_updated_at();
CREATE TRIGGER equity_snapshots_updated_at BEFORE UPDATE ON equity_snapshots
    FOR EACH ROW EXECUTE FUNCTION fff_set_updated_at();
CREATE TRIGGER pnl_daily_updated_at BEFORE UPDATE ON pnl_daily
    FOR EACH ROW EXECUTE FUNCTION fff_set_updated_at();
