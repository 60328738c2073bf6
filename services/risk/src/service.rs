//! `fff.risk.v1.Risk` handlers.
//!
//! The foundation wires the role (health, reflection, auth, tracing, shutdown); the handlers'
//! behaviour lands with issue #5. Until then every RPC answers UNIMPLEMENTED with the
//! method's name, so a client can tell "not built yet" from a failure.

use std::pin::Pin;

use fff_proto::fff::risk::v1::{self as pb, risk_server::Risk};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// Server-streaming response type shared by the streaming RPCs.
type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The role's gRPC service.
#[derive(Debug, Default)]
pub struct RiskService;

fn not_built(method: &str) -> Status {
    Status::unimplemented(format!("risk.{method} is not implemented yet (issue #5)"))
}

#[tonic::async_trait]
impl Risk for RiskService {
    async fn get_risk_state(
        &self,
        _request: Request<pb::GetRiskStateRequest>,
    ) -> Result<Response<pb::GetRiskStateResponse>, Status> {
        Err(not_built("GetRiskState"))
    }

    type StreamDirectivesStream = ResponseStream<pb::StreamDirectivesResponse>;

    async fn stream_directives(
        &self,
        _request: Request<pb::StreamDirectivesRequest>,
    ) -> Result<Response<Self::StreamDirectivesStream>, Status> {
        Err(not_built("StreamDirectives"))
    }

    async fn list_directives(
        &self,
        _request: Request<pb::ListDirectivesRequest>,
    ) -> Result<Response<pb::ListDirectivesResponse>, Status> {
        Err(not_built("ListDirectives"))
    }

    async fn ack_directive(
        &self,
        _request: Request<pb::AckDirectiveRequest>,
    ) -> Result<Response<pb::AckDirectiveResponse>, Status> {
        Err(not_built("AckDirective"))
    }

    async fn request_approval(
        &self,
        _request: Request<pb::RequestApprovalRequest>,
    ) -> Result<Response<pb::RequestApprovalResponse>, Status> {
        Err(not_built("RequestApproval"))
    }
}
