-- Charges the venue books on the account outside fills, funding and interest, attributed to a
-- position: today the liquidation clearance fee (Binance income type INSURANCE_CLEAR), taken
-- when the venue liquidates a perp. A table of its own, not funding_payments: it is no funding
-- (no rate, no expectation), and P&L shows it apart. Keyed by the venue's tranId, unique per
-- income type and symbol as funding's, so a re-read of the income history never books it twice.
CREATE TABLE venue_charges (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('INSURANCE_CLEAR')),
    tran_id     BIGINT NOT NULL,
    symbol      TEXT NOT NULL,
    position_id BIGINT REFERENCES positions (id),
    asset       TEXT NOT NULL,
    -- signed as the venue booked it: negative = charged
    amount      NUMERIC NOT NULL,
    charged_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (kind, symbol, tran_id)
);
CREATE INDEX venue_charges_position ON venue_charges (position_id, charged_at);
CREATE TRIGGER venue_charges_updated_at BEFORE UPDATE ON venue_charges
    FOR EACH ROW EXECUTE FUNCTION fff_set_updated_at();
