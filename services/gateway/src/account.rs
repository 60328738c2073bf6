//! Account cache and event hub: REST snapshots of spot, cross margin and USDⓈ-M (no older than
//! the configured max age when served), and the user-data streams turned into StreamAccount
//! events with one gateway-wide sequence. A stream gap publishes a Resync and forces the next
//! GetAccount to re-read the venue.

mod events;
mod funding;
mod snapshot;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fff_binance::RestClient;
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as pb;
use pb::stream_account_response::Event;
use tokio::time::Instant;

use crate::convert::{now_ms, ts};
use crate::fanout::{Fanout, Subscription};
use crate::market::MarketHub;

pub use events::spawn_streams;
pub use snapshot::{SnapshotParts, build_account};

#[derive(Debug)]
struct Events {
    sequence: u64,
    fanout: Fanout<pb::StreamAccountResponse>,
}

#[derive(Debug)]
pub struct AccountHub {
    rest: RestClient,
    market: Arc<MarketHub>,
    max_age: Duration,
    /// Binance's testnets have no cross margin: a failing margin read leaves those fields empty
    /// instead of failing the snapshot.
    margin_optional: bool,
    /// The async lock makes concurrent refreshes single-flight.
    snapshot: tokio::sync::Mutex<Option<(pb::Account, Instant)>>,
    events: Mutex<Events>,
}

impl AccountHub {
    pub fn new(
        rest: RestClient,
        market: Arc<MarketHub>,
        max_age: Duration,
        subscriber_buffer: usize,
        margin_optional: bool,
    ) -> Self {
        Self {
            rest,
            market,
            max_age,
            margin_optional,
            snapshot: tokio::sync::Mutex::new(None),
            events: Mutex::new(Events {
                sequence: 0,
                fanout: Fanout::new(subscriber_buffer),
            }),
        }
    }

    fn events(&self) -> std::sync::MutexGuard<'_, Events> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A snapshot no older than the max age that includes every event up to `after` (0: any),
    /// re-read from the venue if needed. Fills and balance changes do not expire the cached
    /// snapshot by themselves: a caller that follows the events asks for them by sequence, so
    /// one that does not (a funds check) is not held up by a venue read after every fill.
    pub async fn get(&self, after: u64) -> Result<pb::Account, fff_binance::Error> {
        // no later than the events published so far: a read now includes them all
        let after = after.min(self.events().sequence);
        let mut slot = self.snapshot.lock().await;
        if let Some((account, at)) = slot.as_ref()
            && at.elapsed() <= self.max_age
            && account.stream_sequence >= after
        {
            return Ok(account.clone());
        }
        let started = Instant::now();
        let account = self.fetch().await?;
        *slot = Some((account.clone(), started));
        Ok(account)
    }

    /// Re-reads the venue unless the cached snapshot was begun at or after `since`: a stream
    /// that reconnected at `since` needs a snapshot started after its gap, and the streams
    /// that reconnect together (four user streams after one outage) share one.
    pub async fn refresh_after(&self, since: Instant) -> Result<pb::Account, fff_binance::Error> {
        let mut slot = self.snapshot.lock().await;
        if let Some((account, started)) = slot.as_ref()
            && *started >= since
        {
            return Ok(account.clone());
        }
        let started = Instant::now();
        let account = self.fetch().await?;
        *slot = Some((account.clone(), started));
        Ok(account)
    }

    /// Forces the next [`AccountHub::get`] to re-read the venue.
    pub async fn invalidate(&self) {
        *self.snapshot.lock().await = None;
    }

    async fn fetch(&self) -> Result<pb::Account, fff_binance::Error> {
        // events up to here are included in what the venue returns next
        let sequence = self.events().sequence;
        let (spot, margin, futures, positions) = tokio::join!(
            self.rest.account(false),
            self.rest.margin_account(),
            self.rest.futures_account(),
            self.rest.position_risk(None),
        );
        let (spot, futures, positions) = (spot?, futures?, positions?);
        let margin = match margin {
            Ok(margin) => Some(margin),
            Err(err) if self.margin_optional => {
                tracing::debug!(error = %err, "no cross-margin account on this venue");
                None
            }
            Err(err) => return Err(err),
        };
        let market = &self.market;
        let price = |asset: &str| -> Option<rust_decimal::Decimal> {
            if matches!(asset, "USDT" | "USDC" | "FDUSD") {
                return Some(rust_decimal::Decimal::ONE);
            }
            let symbol = format!("{asset}USDT");
            market
                .mark_price(&symbol)
                .or_else(|| market.mid_price(&symbol, common::Venue::SpotMargin))
        };
        Ok(build_account(
            &SnapshotParts {
                spot: &spot,
                margin: margin.as_ref(),
                futures: &futures,
                positions: &positions,
            },
            &price,
            sequence,
            now_ms(),
        ))
    }

    /// Numbers and fans out one event.
    pub fn publish(&self, venue: common::Venue, event_time_ms: i64, event: Event) {
        let mut events = self.events();
        events.sequence += 1;
        let message = pb::StreamAccountResponse {
            sequence: events.sequence,
            venue: venue as i32,
            event_time: Some(ts(event_time_ms)),
            received_at: Some(ts(now_ms())),
            event: Some(event),
        };
        events.fanout.publish(&message);
    }

    pub fn resync(&self, reason: common::ResyncReason, detail: &str) {
        let last = self.events().sequence;
        self.publish(
            common::Venue::Unspecified,
            now_ms(),
            Event::Resync(common::Resync {
                reason: reason as i32,
                detail: detail.to_owned(),
                last_sequence: last,
            }),
        );
    }

    /// Ends every subscription (shutdown).
    pub fn close(&self, status: &tonic::Status) {
        self.events().fanout.close(status);
    }

    /// Live account events for `venues` (empty = all) and `symbols` (empty = all).
    pub fn subscribe(
        &self,
        venues: HashSet<i32>,
        symbols: HashSet<String>,
    ) -> Subscription<pb::StreamAccountResponse> {
        let filter = move |message: &pb::StreamAccountResponse| {
            let Some(event) = &message.event else {
                return false;
            };
            if matches!(event, Event::Resync(_)) {
                return true;
            }
            if !venues.is_empty() && !venues.contains(&message.venue) {
                return false;
            }
            let symbol = match event {
                Event::Fill(f) => Some(&f.symbol),
                Event::OrderUpdate(u) => u.order.as_ref().map(|o| &o.symbol),
                Event::PositionUpdate(p) => p.position.as_ref().map(|p| &p.symbol),
                Event::FundingFee(f) if !f.symbol.is_empty() => Some(&f.symbol),
                _ => None,
            };
            symbols.is_empty() || symbol.is_none_or(|s| symbols.contains(s))
        };
        self.events().fanout.subscribe(Vec::new(), filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fff_binance::rest::RestConfig;
    use tokio_stream::StreamExt as _;

    fn hub() -> AccountHub {
        let urls = fff_binance::BinanceUrls::mainnet();
        let rest = RestClient::new(urls, None, RestConfig::default()).unwrap();
        AccountHub::new(
            rest,
            Arc::new(MarketHub::new(4)),
            Duration::from_secs(3),
            4,
            false,
        )
    }

    #[tokio::test]
    async fn events_are_numbered_and_filtered_by_venue_and_symbol() {
        let hub = hub();
        let mut perp_btc = hub.subscribe(
            HashSet::from([common::Venue::UsdmPerp as i32]),
            HashSet::from(["BTCUSDT".to_owned()]),
        );
        let fill = |symbol: &str| {
            Event::Fill(pb::Fill {
                symbol: symbol.into(),
                ..Default::default()
            })
        };
        hub.publish(common::Venue::UsdmPerp, 1, fill("ETHUSDT"));
        hub.publish(common::Venue::SpotMargin, 1, fill("BTCUSDT"));
        hub.publish(common::Venue::UsdmPerp, 1, fill("BTCUSDT"));
        hub.publish(
            common::Venue::UsdmPerp,
            1,
            Event::BalanceUpdate(pb::BalanceUpdate::default()),
        );
        hub.resync(common::ResyncReason::SequenceGap, "test");
        let seqs: Vec<u64> = [
            perp_btc.next().await,
            perp_btc.next().await,
            perp_btc.next().await,
        ]
        .into_iter()
        .map(|m| m.unwrap().unwrap().sequence)
        .collect();
        assert_eq!(
            seqs,
            [3, 4, 5],
            "gateway-wide numbering, others filtered out"
        );
    }
}
