//! `fff.scanner.v1.Scanner` handlers: thin wrappers over the latest [`Snapshot`].

use std::pin::Pin;
use std::sync::Arc;

use fff_core::Direction;
use fff_proto::convert::{parse_domain_enum, parse_symbol};
use fff_proto::fff::common::v1 as common;
use fff_proto::fff::scanner::v1::{self as pb, scanner_server::Scanner};
use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::explain::explain;
use crate::filter::Filter;
use crate::shard::Shard;
use crate::snapshot::Snapshot;

/// Server-streaming response type shared by the streaming RPCs.
type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Latest snapshot of this shard; `None` until the universe is loaded.
pub type SnapshotWatch = watch::Receiver<Option<Arc<Snapshot>>>;

/// The role's gRPC service.
#[derive(Debug, Clone)]
pub struct ScannerService {
    shard: Shard,
    /// Every scan cycle (ListOpportunities, ExplainPair).
    latest: SnapshotWatch,
    /// Cycles whose ranking changed, plus the periodic ones (StreamOpportunities).
    published: SnapshotWatch,
}

impl ScannerService {
    pub fn new(shard: Shard, latest: SnapshotWatch, published: SnapshotWatch) -> Self {
        Self {
            shard,
            latest,
            published,
        }
    }

    fn current(&self) -> Result<Arc<Snapshot>, Status> {
        self.latest
            .borrow()
            .clone()
            .ok_or_else(|| Status::unavailable("the scanner has not loaded the universe yet"))
    }
}

#[tonic::async_trait]
impl Scanner for ScannerService {
    async fn list_opportunities(
        &self,
        request: Request<pb::ListOpportunitiesRequest>,
    ) -> Result<Response<pb::ListOpportunitiesResponse>, Status> {
        let filter = Filter::from_proto(request.get_ref().filter.as_ref())?;
        let snapshot = self.current()?;
        Ok(Response::new(pb::ListOpportunitiesResponse {
            snapshot: Some(snapshot.to_proto(&filter)),
        }))
    }

    type StreamOpportunitiesStream = ResponseStream<pb::StreamOpportunitiesResponse>;

    async fn stream_opportunities(
        &self,
        request: Request<pb::StreamOpportunitiesRequest>,
    ) -> Result<Response<Self::StreamOpportunitiesStream>, Status> {
        let filter = Filter::from_proto(request.get_ref().filter.as_ref())?;
        let mut published = self.published.clone();
        let latest = self.latest.clone();
        // spawn + bounded channel: a gone client is noticed, a slow one only skips snapshots
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let mut sent = 0u64;
            // latest is updated before published, so nothing published after this point is
            // older than `first`, and nothing is missed
            published.mark_unchanged();
            let first = latest.borrow().clone();
            let mut next = first;
            loop {
                if let Some(snapshot) = next.take()
                    && snapshot.sequence > sent
                {
                    sent = snapshot.sequence;
                    let message = pb::StreamOpportunitiesResponse {
                        snapshot: Some(snapshot.to_proto(&filter)),
                    };
                    if tx.send(Ok(message)).await.is_err() {
                        return;
                    }
                }
                tokio::select! {
                    () = tx.closed() => return,
                    changed = published.changed() => {
                        if changed.is_err() {
                            let _ = tx.send(Err(Status::unavailable("scanner shutting down"))).await;
                            return;
                        }
                        next = published.borrow_and_update().clone();
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    #[tracing::instrument(skip_all, fields(symbol = %request.get_ref().symbol))]
    async fn explain_pair(
        &self,
        request: Request<pb::ExplainPairRequest>,
    ) -> Result<Response<pb::ExplainPairResponse>, Status> {
        let request = request.into_inner();
        let symbol = parse_symbol("symbol", &request.symbol)?;
        let direction = if request.direction == common::Direction::Unspecified as i32 {
            None
        } else {
            Some(parse_domain_enum::<common::Direction, Direction>(
                "direction",
                request.direction,
            )?)
        };
        let snapshot = self.current()?;
        match snapshot.find(symbol.as_str()) {
            Some((position, evaluated)) => Ok(Response::new(explain(
                &snapshot, position, evaluated, direction,
            ))),
            None if !self.shard.owns(symbol.as_str()) => {
                let owner = Shard::owner_of(symbol.as_str(), self.shard.count());
                Err(Status::not_found(format!(
                    "symbol {symbol} is scored by shard {owner}/{}, this replica is shard {}",
                    self.shard.count(),
                    self.shard
                )))
            }
            None => Err(Status::not_found(format!(
                "symbol {symbol} is not in the universe (not listed and trading on both spot and usd-m perp)"
            ))),
        }
    }
}
