//! `fff.rebalancer.v1.Rebalancer` handlers: thin edges over [`Runner`].

use std::pin::Pin;
use std::sync::Arc;

use chrono::Utc;
use fff_proto::convert::{FieldError, optional_timestamp, parse_symbol};
use fff_proto::fff::rebalancer::v1::{self as pb, RunTrigger, rebalancer_server::Rebalancer};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::actions::Numbered;
use crate::runner::{RunRequest, Runner};
use crate::upstreams::Upstreams;

/// Server-streaming response type shared by the streaming RPCs.
type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

const MAX_REASON: usize = 1024;

/// The role's gRPC service.
#[derive(Debug)]
pub struct RebalancerService<U> {
    runner: Arc<Runner<U>>,
}

impl<U> RebalancerService<U> {
    pub fn new(runner: Arc<Runner<U>>) -> Self {
        Self { runner }
    }
}

#[tonic::async_trait]
impl<U: Upstreams> Rebalancer for RebalancerService<U> {
    async fn get_last_run(
        &self,
        _request: Request<pb::GetLastRunRequest>,
    ) -> Result<Response<pb::GetLastRunResponse>, Status> {
        Ok(Response::new(pb::GetLastRunResponse {
            run: self.runner.last_run(),
        }))
    }

    async fn trigger_now(
        &self,
        request: Request<pb::TriggerNowRequest>,
    ) -> Result<Response<pb::TriggerNowResponse>, Status> {
        let request = request.into_inner();
        let reason = request.reason.trim();
        if reason.is_empty() {
            return Err(FieldError::missing("reason").into());
        }
        if reason.len() > MAX_REASON {
            return Err(
                FieldError::invalid("reason", format!("longer than {MAX_REASON} bytes")).into(),
            );
        }
        let symbols = parse_symbols(&request.symbols)?;
        tracing::info!(reason, dry_run = request.dry_run, symbols = ?symbols, "rebalance triggered");
        // the run must finish even if the caller hangs up: it may already be emitting actions
        let runner = self.runner.clone();
        let run = tokio::spawn(async move {
            runner
                .run(RunRequest {
                    trigger: RunTrigger::Manual,
                    reason: request.reason,
                    dry_run: request.dry_run,
                    symbols,
                })
                .await
        })
        .await
        .map_err(|_| Status::internal("rebalance run aborted"))?;
        Ok(Response::new(pb::TriggerNowResponse { run: Some(run) }))
    }

    type StreamActionsStream = ResponseStream<pb::StreamActionsResponse>;

    async fn stream_actions(
        &self,
        request: Request<pb::StreamActionsRequest>,
    ) -> Result<Response<Self::StreamActionsStream>, Status> {
        let request = request.into_inner();
        let symbols = parse_symbols(&request.symbols)?;
        let since = optional_timestamp("replay_since", request.replay_since.as_ref())?;
        let (replay, live) = self.runner.actions().subscribe(since, Utc::now());
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(forward_actions(
            self.runner.clone(),
            symbols,
            replay,
            live,
            tx,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

fn parse_symbols(raw: &[String]) -> Result<Vec<String>, FieldError> {
    raw.iter()
        .enumerate()
        .map(|(i, s)| parse_symbol(&format!("symbols[{i}]"), s).map(String::from))
        .collect()
}

/// Sends the replay, then live actions matching `symbols`; a lagging subscriber is caught up
/// from history.
async fn forward_actions<U: Upstreams>(
    runner: Arc<Runner<U>>,
    symbols: Vec<String>,
    replay: Vec<Numbered>,
    mut live: broadcast::Receiver<Numbered>,
    tx: mpsc::Sender<Result<pb::StreamActionsResponse, Status>>,
) {
    let wanted = |a: &pb::Action| symbols.is_empty() || symbols.contains(&a.symbol);
    let mut last = 0;
    for (number, action) in replay {
        last = number;
        if wanted(&action) && send(&tx, action, true).await.is_err() {
            return;
        }
    }
    loop {
        let received = tokio::select! {
            received = live.recv() => received,
            () = tx.closed() => return,
        };
        let batch = match received {
            Ok(item) => vec![item],
            Err(broadcast::error::RecvError::Lagged(skipped)) => {
                tracing::warn!(skipped, "action subscriber lagged, resending from history");
                runner.actions().after(last)
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        for (number, action) in batch {
            if number <= last {
                continue;
            }
            last = number;
            if wanted(&action) && send(&tx, action, false).await.is_err() {
                return;
            }
        }
    }
}

async fn send(
    tx: &mpsc::Sender<Result<pb::StreamActionsResponse, Status>>,
    action: pb::Action,
    replayed: bool,
) -> Result<(), ()> {
    let message = pb::StreamActionsResponse {
        action: Some(action),
        replayed,
    };
    tx.send(Ok(message)).await.map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_symbols_name_their_index() {
        assert_eq!(
            parse_symbols(&["BTCUSDT".into()]).unwrap(),
            vec!["BTCUSDT".to_owned()]
        );
        let error = parse_symbols(&["BTCUSDT".into(), "eth usdt".into()]).unwrap_err();
        assert_eq!(error.field(), "symbols[1]");
    }
}
