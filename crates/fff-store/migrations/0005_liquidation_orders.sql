-- A perp the venue closed itself (a liquidation, an auto-deleverage, a delisting settlement) is
-- booked on the position as the venue's own order (client id `autoclose-…`), so the legs, P&L and
-- reconciliation count it like every other fill.
ALTER TABLE orders DROP CONSTRAINT orders_order_type_check;
ALTER TABLE orders ADD CONSTRAINT orders_order_type_check
    CHECK (order_type IN ('MARKET', 'LIMIT', 'LIMIT_MAKER', 'LIQUIDATION'));
