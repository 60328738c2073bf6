//! Scanner rounds of `fff bench`: a mark-price update that changes the qualified set, timed
//! from its arrival on a gateway `StreamMarket` client to the scanner's snapshot with it on a
//! `StreamOpportunities` client, both clients in this process (one clock).
//!
//! Each round sets a symbol the strategy does not hold to a funding rate that qualifies, then
//! to one that does not (each rate unique, so its mark can be told apart); the venue pushes it
//! with the next mark (every second, like Binance), the gateway forwards it, and the scanner
//! publishes at once because the qualified set changed. The wait for the venue's push is not
//! in the figure: it starts when the mark reaches the gateway's subscribers, as it reaches the
//! scanner's own feed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fff_proto::fff::gateway::v1::{
    self as gw, gateway_client::GatewayClient, stream_market_response::Event,
};
use fff_proto::fff::scanner::v1::{self as scan, scanner_client::ScannerClient};
use fff_runtime::Role;
use rust_decimal::Decimal;
use tonic::transport::Channel;

use crate::soak::suite::SoakSuite;

/// Longest wait for one rate's snapshot (the venue pushes marks every second).
const SNAPSHOT_WAIT: Duration = Duration::from_secs(10);

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

async fn channel(suite: &SoakSuite, role: Role) -> anyhow::Result<Channel> {
    Ok(
        Channel::from_shared(format!("http://{}", suite.addr(role)))?
            .connect()
            .await?,
    )
}

/// The rate of round `i`: qualifying (about 0.3 % a settlement) on even rounds, far below
/// every threshold on odd ones; unique per round.
fn rate(i: usize) -> Decimal {
    let units = i64::try_from(i).unwrap_or(0);
    if i.is_multiple_of(2) {
        Decimal::new(31_000 + units, 7)
    } else {
        Decimal::new(100 + units, 8)
    }
}

/// `rounds` rate changes of `symbol`; the microseconds from each change's mark on the gateway
/// client to its snapshot on the scanner client, and how many rounds saw no snapshot.
pub(super) async fn rounds(
    suite: &SoakSuite,
    symbol: &str,
    rounds: usize,
) -> anyhow::Result<(Vec<i64>, usize)> {
    // first arrival of each rate on the gateway's market stream, by normalised rate
    let marks: Arc<Mutex<HashMap<Decimal, i64>>> = Arc::default();
    let mut market = GatewayClient::new(channel(suite, Role::Gateway).await?)
        .stream_market(gw::StreamMarketRequest {
            symbols: vec![symbol.to_owned()],
            kinds: vec![gw::MarketEventKind::MarkPrice as i32],
        })
        .await?
        .into_inner();
    let reader = {
        let marks = marks.clone();
        tokio::spawn(async move {
            while let Ok(Some(event)) = market.message().await {
                let arrived = now_us();
                if let Some(Event::MarkPrice(mark)) = event.event
                    && let Ok(rate) = mark.funding_rate.parse::<Decimal>()
                {
                    let mut marks = marks.lock().unwrap_or_else(|p| p.into_inner());
                    marks.entry(rate.normalize()).or_insert(arrived);
                }
            }
        })
    };
    let mut snapshots = ScannerClient::new(channel(suite, Role::Scanner).await?)
        .stream_opportunities(scan::StreamOpportunitiesRequest {
            filter: Some(scan::OpportunityFilter {
                include_unqualified: true,
                symbols: vec![symbol.to_owned()],
                ..scan::OpportunityFilter::default()
            }),
        })
        .await?
        .into_inner();
    let mut latencies = Vec::with_capacity(rounds);
    let mut missed = 0;
    for i in 0..rounds {
        let rate = rate(i).normalize();
        suite.venue.set_funding(symbol, rate).await?;
        let arrived = tokio::time::timeout(SNAPSHOT_WAIT, async {
            while let Some(message) = snapshots.message().await? {
                let carries = message
                    .snapshot
                    .and_then(|s| s.opportunities.into_iter().next())
                    .and_then(|o| o.funding_rate.parse::<Decimal>().ok())
                    .is_some_and(|r| r.normalize() == rate);
                if carries {
                    return Ok::<_, tonic::Status>(Some(now_us()));
                }
            }
            Ok(None)
        })
        .await;
        let Ok(Ok(Some(snapshot_us))) = arrived else {
            missed += 1;
            continue;
        };
        // this client's own market subscription may see the mark a moment after the scanner
        let mut mark_us = None;
        for _ in 0..100 {
            mark_us = marks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&rate)
                .copied();
            if mark_us.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        match mark_us {
            Some(mark_us) => latencies.push(snapshot_us - mark_us),
            None => missed += 1,
        }
    }
    reader.abort();
    latencies.sort_unstable();
    Ok((latencies, missed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_alternate_and_never_repeat() {
        let rates: Vec<Decimal> = (0..400).map(rate).collect();
        let unique: std::collections::HashSet<_> = rates.iter().map(|r| r.normalize()).collect();
        assert_eq!(unique.len(), rates.len());
        assert!(rates[0] > Decimal::new(3, 3) && rates[1] < Decimal::new(2, 5));
    }
}
