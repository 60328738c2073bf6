//! The liquidation clearance fee: when the venue liquidates a perp, Binance charges it as an
//! INSURANCE_CLEAR income record (negative, with the symbol), apart from the liquidation's fill,
//! which carries no commission. Booked into `venue_charges` by the record's id, on the position
//! the venue closed, so P&L shows what the account lost.

use fff_proto::fff::gateway::v1 as gw;
use fff_store::{ChargeKind, NewVenueCharge};

use super::{dec, position_at, time};
use crate::engine::Engine;
use crate::error::Result;

/// Books one INSURANCE_CLEAR record once. It belongs to the position whose LIQUIDATION order the
/// venue filled at that time; before that order is booked, to the position funding would be
/// (the live one, about to be closed). Returns whether it was new.
pub(crate) async fn book(engine: &Engine, record: &gw::IncomeRecord) -> Result<bool> {
    let Ok(tran_id) = record.income_id.parse::<i64>() else {
        tracing::warn!(income_id = %record.income_id, "non-numeric clearance income id skipped");
        return Ok(false);
    };
    let store = engine.store();
    let amount = dec("amount", &record.amount)?;
    let charged_at = time(record.time.as_ref());
    let position_id = match store
        .venue_closed_position(&record.symbol, charged_at)
        .await?
    {
        Some(id) => Some(id),
        None => position_at(store, &record.symbol, charged_at)
            .await?
            .map(|p| p.id),
    };
    let inserted = store
        .insert_venue_charge(&NewVenueCharge {
            kind: ChargeKind::InsuranceClear,
            tran_id,
            symbol: record.symbol.clone(),
            position_id,
            asset: record.asset.clone(),
            amount,
            charged_at,
        })
        .await?;
    if inserted.created {
        tracing::info!(symbol = %record.symbol, position_id, %amount, "liquidation clearance fee booked");
    }
    Ok(inserted.created)
}
