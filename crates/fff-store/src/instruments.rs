//! `instruments`: trading rules per symbol for both venues. Written by the gateway.

use sqlx::FromRow;

use rust_decimal::Decimal;

use crate::{Result, Store};

/// Trading rules of one symbol on spot/margin and on the USD-M perpetual.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Instrument {
    pub symbol: String,
    pub base_asset: String,
    pub quote_asset: String,
    pub spot_tick_size: Decimal,
    pub spot_step_size: Decimal,
    pub spot_min_qty: Decimal,
    pub spot_min_notional: Decimal,
    pub perp_tick_size: Decimal,
    pub perp_step_size: Decimal,
    pub perp_min_qty: Decimal,
    pub perp_min_notional: Decimal,
    pub spot_trading_enabled: bool,
    pub perp_trading_enabled: bool,
    /// The symbol trades on cross margin.
    pub cross_margin_enabled: bool,
    /// The base asset can be borrowed on cross margin (required to short spot).
    pub base_borrowable: bool,
    pub funding_interval_hours: i32,
}

// A macro rather than a const so that `concat!` yields `&'static str` SQL at compile time.
macro_rules! columns {
    () => {
        "symbol, base_asset, quote_asset, spot_tick_size, spot_step_size, spot_min_qty, \
         spot_min_notional, perp_tick_size, perp_step_size, perp_min_qty, perp_min_notional, \
         spot_trading_enabled, perp_trading_enabled, cross_margin_enabled, base_borrowable, \
         funding_interval_hours"
    };
}

const UPSERT: &str = "INSERT INTO instruments (symbol, base_asset, quote_asset, spot_tick_size, \
    spot_step_size, spot_min_qty, spot_min_notional, perp_tick_size, perp_step_size, perp_min_qty, \
    perp_min_notional, spot_trading_enabled, perp_trading_enabled, cross_margin_enabled, \
    base_borrowable, funding_interval_hours) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
    ON CONFLICT (symbol) DO UPDATE SET base_asset = EXCLUDED.base_asset, \
    quote_asset = EXCLUDED.quote_asset, spot_tick_size = EXCLUDED.spot_tick_size, \
    spot_step_size = EXCLUDED.spot_step_size, spot_min_qty = EXCLUDED.spot_min_qty, \
    spot_min_notional = EXCLUDED.spot_min_notional, perp_tick_size = EXCLUDED.perp_tick_size, \
    perp_step_size = EXCLUDED.perp_step_size, perp_min_qty = EXCLUDED.perp_min_qty, \
    perp_min_notional = EXCLUDED.perp_min_notional, \
    spot_trading_enabled = EXCLUDED.spot_trading_enabled, \
    perp_trading_enabled = EXCLUDED.perp_trading_enabled, \
    cross_margin_enabled = EXCLUDED.cross_margin_enabled, \
    base_borrowable = EXCLUDED.base_borrowable, \
    funding_interval_hours = EXCLUDED.funding_interval_hours \
    WHERE (instruments.base_asset, instruments.quote_asset, instruments.spot_tick_size, \
    instruments.spot_step_size, instruments.spot_min_qty, instruments.spot_min_notional, \
    instruments.perp_tick_size, instruments.perp_step_size, instruments.perp_min_qty, \
    instruments.perp_min_notional, instruments.spot_trading_enabled, \
    instruments.perp_trading_enabled, instruments.cross_margin_enabled, \
    instruments.base_borrowable, instruments.funding_interval_hours) \
    IS DISTINCT FROM (EXCLUDED.base_asset, EXCLUDED.quote_asset, EXCLUDED.spot_tick_size, \
    EXCLUDED.spot_step_size, EXCLUDED.spot_min_qty, EXCLUDED.spot_min_notional, \
    EXCLUDED.perp_tick_size, EXCLUDED.perp_step_size, EXCLUDED.perp_min_qty, \
    EXCLUDED.perp_min_notional, EXCLUDED.spot_trading_enabled, EXCLUDED.perp_trading_enabled, \
    EXCLUDED.cross_margin_enabled, EXCLUDED.base_borrowable, EXCLUDED.funding_interval_hours)";

impl Store {
    /// Inserts or updates instruments in one transaction. Rows whose values did not change are
    /// left untouched (their `updated_at` keeps meaning "rules last changed"). Returns the number
    /// of rows inserted or changed.
    pub async fn upsert_instruments(&self, instruments: &[Instrument]) -> Result<u64> {
        let mut tx = self.pool().begin().await?;
        let mut changed = 0;
        for i in instruments {
            changed += sqlx::query(UPSERT)
                .bind(&i.symbol)
                .bind(&i.base_asset)
                .bind(&i.quote_asset)
                .bind(i.spot_tick_size)
                .bind(i.spot_step_size)
                .bind(i.spot_min_qty)
                .bind(i.spot_min_notional)
                .bind(i.perp_tick_size)
                .bind(i.perp_step_size)
                .bind(i.perp_min_qty)
                .bind(i.perp_min_notional)
                .bind(i.spot_trading_enabled)
                .bind(i.perp_trading_enabled)
                .bind(i.cross_margin_enabled)
                .bind(i.base_borrowable)
                .bind(i.funding_interval_hours)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(changed)
    }

    pub async fn get_instrument(&self, symbol: &str) -> Result<Option<Instrument>> {
        let sql = concat!("SELECT ", columns!(), " FROM instruments WHERE symbol = $1");
        Ok(sqlx::query_as::<_, Instrument>(sql)
            .bind(symbol)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn list_instruments(&self) -> Result<Vec<Instrument>> {
        let sql = concat!("SELECT ", columns!(), " FROM instruments ORDER BY symbol");
        Ok(sqlx::query_as::<_, Instrument>(sql)
            .fetch_all(self.pool())
            .await?)
    }
}
