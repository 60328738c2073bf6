//! Following every scanner replica and feeding their snapshots to a [`Merger`].

use std::collections::HashMap;
use std::time::Duration;

use fff_proto::fff::scanner::v1::{self as pb, scanner_client::ScannerClient};
use fff_runtime::telemetry::ClientInterceptor;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{MergedView, Merger};
use crate::error::{Error, Result};
use crate::feed::Backoff;

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
    let mut seen = std::collections::HashSet::new();
    resolved.retain(|endpoint| seen.insert(endpoint.clone()));
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
