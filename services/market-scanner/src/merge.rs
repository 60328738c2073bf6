//! Client side of a sharded scanner: subscribe to every replica and merge their streams into
//! one ranked view (the executor uses this).
//!
//! ```ignore
//! let mut subscription = merge::subscribe(config.services.scanners.clone(), filter);
//! while subscription.view.changed().await.is_ok() {
//!     let merged = subscription.view.borrow_and_update().clone();
//!     if merged.complete { /* every shard reported */ }
//! }
//! ```

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use fff_proto::fff::scanner::v1::{self as pb, scanner_client::ScannerClient};
use fff_runtime::telemetry::ClientInterceptor;
use rust_decimal::Decimal;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::feed::Backoff;

/// The merged, ranked view of every shard's latest snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergedView {
    /// Opportunities of all shards, deduplicated by symbol, ranked like one scanner would
    /// (qualified by score, ties by symbol, then unqualified by symbol), ranks renumbered.
    pub opportunities: Vec<pb::Opportunity>,
    /// The latest snapshot header of each shard seen (opportunities stripped), by shard id.
    pub shards: Vec<pb::OpportunitySnapshot>,
    /// Number of shards the replicas say exist (0 before the first snapshot).
    pub shard_count: u32,
    /// Every shard `0..shard_count` has reported.
    pub complete: bool,
}

/// Latest snapshot per shard; pure, so it is unit-tested without a network.
#[derive(Debug, Clone, Default)]
pub struct Merger {
    shards: BTreeMap<u32, pb::OpportunitySnapshot>,
}

fn computed_at(snapshot: &pb::OpportunitySnapshot) -> (i64, i32) {
    snapshot
        .computed_at
        .as_ref()
        .map_or((0, 0), |t| (t.seconds, t.nanos))
}

impl Merger {
    /// Takes a shard's snapshot; returns whether the view changed. Snapshots without shard
    /// info are ignored; a different shard count (re-sharding) drops the other layout once its
    /// snapshot is newer.
    pub fn apply(&mut self, snapshot: pb::OpportunitySnapshot) -> bool {
        let Some(shard) = snapshot.shard else {
            return false;
        };
        if shard.shard_count == 0 || shard.shard_id >= shard.shard_count {
            return false;
        }
        if let Some(existing) = self.shards.get(&shard.shard_id) {
            let same_instance = existing.instance_id == snapshot.instance_id;
            let newer = if same_instance {
                snapshot.sequence > existing.sequence
            } else {
                computed_at(&snapshot) >= computed_at(existing)
            };
            if !newer {
                return false;
            }
        }
        self.shards.retain(|_, s| {
            s.shard
                .is_some_and(|info| info.shard_count == shard.shard_count)
                || computed_at(s) > computed_at(&snapshot)
        });
        self.shards.insert(shard.shard_id, snapshot);
        true
    }

    /// The merged view, at most `top_n` opportunities (0 = all).
    pub fn view(&self, top_n: u32) -> MergedView {
        let shard_count = self
            .shards
            .values()
            .filter_map(|s| s.shard.map(|i| i.shard_count))
            .max()
            .unwrap_or(0);
        // dedupe by symbol, keeping the newest snapshot's entry
        let mut by_symbol: HashMap<&str, (&pb::Opportunity, (i64, i32))> = HashMap::new();
        for snapshot in self.shards.values() {
            let at = computed_at(snapshot);
            for opportunity in &snapshot.opportunities {
                let keep = by_symbol
                    .get(opportunity.symbol.as_str())
                    .is_none_or(|(_, seen)| at > *seen);
                if keep {
                    by_symbol.insert(&opportunity.symbol, (opportunity, at));
                }
            }
        }
        let mut opportunities: Vec<pb::Opportunity> =
            by_symbol.into_values().map(|(o, _)| o.clone()).collect();
        opportunities.sort_by(merged_order);
        let mut rank = 0u32;
        for opportunity in &mut opportunities {
            opportunity.rank = if opportunity.qualified {
                rank += 1;
                rank
            } else {
                0
            };
        }
        if top_n > 0 {
            opportunities.truncate(top_n as usize);
        }
        let shards = self
            .shards
            .values()
            .map(|s| pb::OpportunitySnapshot {
                opportunities: Vec::new(),
                ..s.clone()
            })
            .collect();
        MergedView {
            opportunities,
            shards,
            shard_count,
            complete: shard_count > 0 && (0..shard_count).all(|i| self.shards.contains_key(&i)),
        }
    }
}

fn score(opportunity: &pb::Opportunity) -> Decimal {
    opportunity.score.parse().unwrap_or(Decimal::ZERO)
}

/// The scanner's ranking order ([`crate::evaluation::rank_order`]) on wire opportunities.
fn merged_order(a: &pb::Opportunity, b: &pb::Opportunity) -> Ordering {
    b.qualified
        .cmp(&a.qualified)
        .then_with(|| {
            if a.qualified {
                score(b).cmp(&score(a))
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| a.symbol.cmp(&b.symbol))
}

/// Expands each endpoint whose host name resolves to several addresses (a Kubernetes headless
/// service naming every replica) into one endpoint per address; IP endpoints and `https://`
/// endpoints (whose certificate names the host) are kept as they are. Duplicates are removed.
pub async fn resolve_endpoints(endpoints: &[String]) -> Result<Vec<String>> {
    if endpoints.is_empty() {
        return Err(Error::NoEndpoints);
    }
    let mut resolved = Vec::new();
    for endpoint in endpoints {
        let invalid = |reason: String| Error::InvalidEndpoint {
            endpoint: endpoint.clone(),
            reason,
        };
        let uri: http::Uri = endpoint.parse().map_err(|e| invalid(format!("{e}")))?;
        let host = uri.host().ok_or_else(|| invalid("no host".to_owned()))?;
        let port = uri.port_u16().unwrap_or(80);
        let is_ip = host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok();
        if uri.scheme_str() != Some("http") || is_ip {
            resolved.push(endpoint.trim_end_matches('/').to_owned());
            continue;
        }
        match tokio::net::lookup_host((host, port)).await {
            Ok(addrs) => {
                let mut addrs: Vec<_> = addrs.collect();
                addrs.sort();
                addrs.dedup();
                resolved.extend(addrs.into_iter().map(|a| format!("http://{a}")));
            }
            // unresolvable now: keep the name, the channel retries
            Err(_) => resolved.push(endpoint.trim_end_matches('/').to_owned()),
        }
    }
    resolved.dedup();
    Ok(resolved)
}

/// A live merged view; dropping it stops every subscription.
#[derive(Debug)]
pub struct Subscription {
    /// Updated after every shard snapshot that changed the view.
    pub view: watch::Receiver<MergedView>,
    cancel: CancellationToken,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// How often configured endpoint names are resolved again, so replicas that moved (a restarted
/// pod behind a headless service) are followed.
pub const RESOLVE_INTERVAL: Duration = Duration::from_secs(30);

/// Subscribes to StreamOpportunities on every replica behind `endpoints` (see
/// [`resolve_endpoints`], repeated every [`RESOLVE_INTERVAL`]; each stream reconnects with
/// backoff) and publishes the merged view after every snapshot. `filter.top_n` applies to the
/// merged view, not per shard. Runs until the returned [`Subscription`] is dropped. Must be
/// called inside a tokio runtime.
pub fn subscribe(endpoints: Vec<String>, filter: pb::OpportunityFilter) -> Subscription {
    let cancel = CancellationToken::new();
    let (view_tx, view_rx) = watch::channel(MergedView::default());
    let (snapshot_tx, mut snapshot_rx) = mpsc::channel::<pb::OpportunitySnapshot>(64);
    let top_n = filter.top_n;
    let per_shard = pb::OpportunityFilter { top_n: 0, ..filter };
    tokio::spawn(supervise(endpoints, per_shard, snapshot_tx, cancel.clone()));
    let stop = cancel.clone();
    tokio::spawn(async move {
        let mut merger = Merger::default();
        loop {
            let snapshot = tokio::select! {
                () = stop.cancelled() => return,
                snapshot = snapshot_rx.recv() => snapshot,
            };
            let Some(snapshot) = snapshot else { return };
            if merger.apply(snapshot) {
                view_tx.send_replace(merger.view(top_n));
            }
        }
    });
    Subscription {
        view: view_rx,
        cancel,
    }
}

/// Keeps one follower per resolved replica address: new addresses get one, vanished ones are
/// stopped (their last snapshot stays until a replica of the same shard reports).
async fn supervise(
    configured: Vec<String>,
    filter: pb::OpportunityFilter,
    snapshots: mpsc::Sender<pb::OpportunitySnapshot>,
    cancel: CancellationToken,
) {
    let mut followers: HashMap<String, CancellationToken> = HashMap::new();
    let mut interval = tokio::time::interval(RESOLVE_INTERVAL);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = interval.tick() => {}
        }
        let resolved = match resolve_endpoints(&configured).await {
            Ok(resolved) => resolved,
            Err(error) => {
                tracing::error!(%error, "cannot resolve scanner endpoints");
                return;
            }
        };
        followers.retain(|endpoint, token| {
            let keep = resolved.contains(endpoint);
            if !keep {
                tracing::info!(endpoint = %endpoint, "scanner replica gone");
                token.cancel();
            }
            keep
        });
        for endpoint in resolved {
            if followers.contains_key(&endpoint) {
                continue;
            }
            let token = cancel.child_token();
            tokio::spawn(follow(
                endpoint.clone(),
                filter.clone(),
                snapshots.clone(),
                token.clone(),
            ));
            followers.insert(endpoint, token);
        }
    }
}

async fn follow(
    endpoint: String,
    filter: pb::OpportunityFilter,
    snapshots: mpsc::Sender<pb::OpportunitySnapshot>,
    cancel: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
    let channel = match fff_runtime::grpc::channel(&endpoint) {
        Ok(channel) => channel,
        Err(error) => {
            tracing::error!(endpoint = %endpoint, %error, "invalid scanner endpoint");
            return;
        }
    };
    let mut client = ScannerClient::with_interceptor(channel, ClientInterceptor::default());
    loop {
        let request = pb::StreamOpportunitiesRequest {
            filter: Some(filter.clone()),
        };
        let mut received = false;
        let result = tokio::select! {
            () = cancel.cancelled() => return,
            result = async {
                let mut stream = client.stream_opportunities(request).await?.into_inner();
                while let Some(message) = stream.message().await? {
                    received = true;
                    if let Some(snapshot) = message.snapshot
                        && snapshots.send(snapshot).await.is_err()
                    {
                        return Ok(());
                    }
                }
                Err(tonic::Status::unavailable("scanner ended the stream"))
            } => result,
        };
        let Err(status) = result else { return };
        if received {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        tracing::warn!(
            endpoint = %endpoint,
            code = ?status.code(),
            retry_in_ms = delay.as_millis(),
            "scanner stream failed"
        );
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opportunity(symbol: &str, score: &str, qualified: bool) -> pb::Opportunity {
        pb::Opportunity {
            symbol: symbol.to_owned(),
            score: score.to_owned(),
            qualified,
            rank: 99,
            ..pb::Opportunity::default()
        }
    }

    fn snapshot(
        shard: u32,
        count: u32,
        sequence: u64,
        seconds: i64,
        opportunities: Vec<pb::Opportunity>,
    ) -> pb::OpportunitySnapshot {
        pb::OpportunitySnapshot {
            sequence,
            instance_id: format!("replica-{shard}"),
            shard: Some(pb::ShardInfo {
                shard_id: shard,
                shard_count: count,
                symbols_assigned: 0,
            }),
            computed_at: Some(prost_types::Timestamp { seconds, nanos: 0 }),
            opportunities,
            ..pb::OpportunitySnapshot::default()
        }
    }

    fn symbols(view: &MergedView) -> Vec<(&str, u32)> {
        view.opportunities
            .iter()
            .map(|o| (o.symbol.as_str(), o.rank))
            .collect()
    }

    #[test]
    fn merges_shards_into_one_ranking() {
        let mut merger = Merger::default();
        merger.apply(snapshot(
            0,
            2,
            1,
            10,
            vec![
                opportunity("AUSDT", "0.5", true),
                opportunity("ZUSDT", "0.9", false),
            ],
        ));
        assert!(!merger.view(0).complete);
        merger.apply(snapshot(
            1,
            2,
            1,
            11,
            vec![
                opportunity("BUSDT", "0.7", true),
                opportunity("CUSDT", "0.5", true),
            ],
        ));
        let view = merger.view(0);
        assert!(view.complete);
        assert_eq!(view.shard_count, 2);
        assert_eq!(
            symbols(&view),
            [("BUSDT", 1), ("AUSDT", 2), ("CUSDT", 3), ("ZUSDT", 0)]
        );
        assert_eq!(symbols(&merger.view(2)), [("BUSDT", 1), ("AUSDT", 2)]);
        assert!(view.shards.iter().all(|s| s.opportunities.is_empty()));
    }

    #[test]
    fn keeps_the_latest_snapshot_per_shard() {
        let mut merger = Merger::default();
        assert!(merger.apply(snapshot(
            0,
            1,
            5,
            10,
            vec![opportunity("AUSDT", "0.5", true)]
        )));
        assert!(
            !merger.apply(snapshot(0, 1, 4, 11, vec![])),
            "older sequence of the same replica"
        );
        assert!(merger.apply(snapshot(
            0,
            1,
            6,
            12,
            vec![opportunity("BUSDT", "0.5", true)]
        )));
        assert_eq!(symbols(&merger.view(0)), [("BUSDT", 1)]);
        // a restarted replica (new instance) starts again at sequence 1
        let mut restarted = snapshot(0, 1, 1, 13, vec![opportunity("CUSDT", "0.5", true)]);
        restarted.instance_id = "new".into();
        assert!(merger.apply(restarted));
        assert_eq!(symbols(&merger.view(0)), [("CUSDT", 1)]);
    }

    #[test]
    fn dedupes_a_symbol_reported_twice_by_the_newest() {
        let mut merger = Merger::default();
        merger.apply(snapshot(
            0,
            2,
            1,
            10,
            vec![opportunity("AUSDT", "0.1", true)],
        ));
        merger.apply(snapshot(
            1,
            2,
            1,
            20,
            vec![opportunity("AUSDT", "0.8", true)],
        ));
        let view = merger.view(0);
        assert_eq!(view.opportunities.len(), 1);
        assert_eq!(view.opportunities[0].score, "0.8");
    }

    #[test]
    fn resharding_drops_the_old_layout() {
        let mut merger = Merger::default();
        merger.apply(snapshot(
            0,
            1,
            1,
            10,
            vec![opportunity("AUSDT", "0.1", true)],
        ));
        merger.apply(snapshot(
            2,
            3,
            1,
            20,
            vec![opportunity("BUSDT", "0.2", true)],
        ));
        let view = merger.view(0);
        assert_eq!(view.shard_count, 3);
        assert_eq!(symbols(&view), [("BUSDT", 1)]);
        assert!(!view.complete);
        assert!(
            !merger.apply(snapshot(5, 3, 1, 30, vec![])),
            "shard id out of range"
        );
    }

    #[tokio::test]
    async fn endpoints_resolve_and_dedupe() {
        let endpoints = vec![
            "http://127.0.0.1:50052".to_owned(),
            "http://127.0.0.1:50052/".to_owned(),
            "https://scanner.example:443".to_owned(),
        ];
        let resolved = resolve_endpoints(&endpoints).await.unwrap();
        assert_eq!(
            resolved,
            ["http://127.0.0.1:50052", "https://scanner.example:443"]
        );
        assert!(matches!(
            resolve_endpoints(&[]).await,
            Err(Error::NoEndpoints)
        ));
        let localhost = resolve_endpoints(&["http://localhost:1".to_owned()])
            .await
            .unwrap();
        assert!(!localhost.is_empty() && localhost.iter().all(|e| e.starts_with("http://")));
    }
}
