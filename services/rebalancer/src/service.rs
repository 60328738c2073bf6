//! `fff.rebalancer.v1.Rebalancer` handlers.
//!
//! The foundation wires the role (health, reflection, auth, tracing, shutdown); the handlers'
//! behaviour lands with issue #5. Until then every RPC answers UNIMPLEMENTED with the
//! method's name, so a client can tell "not built yet" from a failure.

use std::pin::Pin;

use fff_proto::fff::rebalancer::v1::{self as pb, rebalancer_server::Rebalancer};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// Server-streaming response type shared by the streaming RPCs.
type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The role's gRPC service.
#[derive(Debug, Default)]
pub struct RebalancerService;

fn not_built(method: &str) -> Status {
    Status::unimplemented(format!(
        "rebalancer.{method} is not implemented yet (issue #5)"
    ))
}

#[tonic::async_trait]
impl Rebalancer for RebalancerService {
    async fn get_last_run(
        &self,
        _request: Request<pb::GetLastRunRequest>,
    ) -> Result<Response<pb::GetLastRunResponse>, Status> {
        Err(not_built("GetLastRun"))
    }

    async fn trigger_now(
        &self,
        _request: Request<pb::TriggerNowRequest>,
    ) -> Result<Response<pb::TriggerNowResponse>, Status> {
        Err(not_built("TriggerNow"))
    }

    type StreamActionsStream = ResponseStream<pb::StreamActionsResponse>;

    async fn stream_actions(
        &self,
        _request: Request<pb::StreamActionsRequest>,
    ) -> Result<Response<Self::StreamActionsStream>, Status> {
        Err(not_built("StreamActions"))
    }
}
