//! `fff.scanner.v1.Scanner` handlers.
//!
//! The foundation wires the role (health, reflection, auth, tracing, shutdown); the handlers'
//! behaviour lands with issue #4. Until then every RPC answers UNIMPLEMENTED with the
//! method's name, so a client can tell "not built yet" from a failure.

use std::pin::Pin;

use fff_proto::fff::scanner::v1::{self as pb, scanner_server::Scanner};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// Server-streaming response type shared by the streaming RPCs.
type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The role's gRPC service.
#[derive(Debug, Default)]
pub struct ScannerService;

fn not_built(method: &str) -> Status {
    Status::unimplemented(format!(
        "scanner.{method} is not implemented yet (issue #4)"
    ))
}

#[tonic::async_trait]
impl Scanner for ScannerService {
    async fn list_opportunities(
        &self,
        _request: Request<pb::ListOpportunitiesRequest>,
    ) -> Result<Response<pb::ListOpportunitiesResponse>, Status> {
        Err(not_built("ListOpportunities"))
    }

    type StreamOpportunitiesStream = ResponseStream<pb::StreamOpportunitiesResponse>;

    async fn stream_opportunities(
        &self,
        _request: Request<pb::StreamOpportunitiesRequest>,
    ) -> Result<Response<Self::StreamOpportunitiesStream>, Status> {
        Err(not_built("StreamOpportunities"))
    }

    async fn explain_pair(
        &self,
        _request: Request<pb::ExplainPairRequest>,
    ) -> Result<Response<pb::ExplainPairResponse>, Status> {
        Err(not_built("ExplainPair"))
    }
}
