//! `fff.executor.v1.Executor` handlers.
//!
//! The foundation wires the role (health, reflection, auth, tracing, shutdown); the handlers'
//! behaviour lands with issue #5. Until then every RPC answers UNIMPLEMENTED with the
//! method's name, so a client can tell "not built yet" from a failure.

use std::pin::Pin;

use fff_proto::fff::executor::v1::{self as pb, executor_server::Executor};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// Server-streaming response type shared by the streaming RPCs.
type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The role's gRPC service.
#[derive(Debug, Default)]
pub struct ExecutorService;

fn not_built(method: &str) -> Status {
    Status::unimplemented(format!(
        "executor.{method} is not implemented yet (issue #5)"
    ))
}

#[tonic::async_trait]
impl Executor for ExecutorService {
    async fn list_positions(
        &self,
        _request: Request<pb::ListPositionsRequest>,
    ) -> Result<Response<pb::ListPositionsResponse>, Status> {
        Err(not_built("ListPositions"))
    }

    async fn get_position(
        &self,
        _request: Request<pb::GetPositionRequest>,
    ) -> Result<Response<pb::GetPositionResponse>, Status> {
        Err(not_built("GetPosition"))
    }

    async fn open_position(
        &self,
        _request: Request<pb::OpenPositionRequest>,
    ) -> Result<Response<pb::OpenPositionResponse>, Status> {
        Err(not_built("OpenPosition"))
    }

    async fn close_position(
        &self,
        _request: Request<pb::ClosePositionRequest>,
    ) -> Result<Response<pb::ClosePositionResponse>, Status> {
        Err(not_built("ClosePosition"))
    }

    async fn flip_position(
        &self,
        _request: Request<pb::FlipPositionRequest>,
    ) -> Result<Response<pb::FlipPositionResponse>, Status> {
        Err(not_built("FlipPosition"))
    }

    async fn get_allocation(
        &self,
        _request: Request<pb::GetAllocationRequest>,
    ) -> Result<Response<pb::GetAllocationResponse>, Status> {
        Err(not_built("GetAllocation"))
    }

    async fn get_pnl(
        &self,
        _request: Request<pb::GetPnlRequest>,
    ) -> Result<Response<pb::GetPnlResponse>, Status> {
        Err(not_built("GetPnl"))
    }

    async fn pause(
        &self,
        _request: Request<pb::PauseRequest>,
    ) -> Result<Response<pb::PauseResponse>, Status> {
        Err(not_built("Pause"))
    }

    async fn resume(
        &self,
        _request: Request<pb::ResumeRequest>,
    ) -> Result<Response<pb::ResumeResponse>, Status> {
        Err(not_built("Resume"))
    }

    async fn get_status(
        &self,
        _request: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::GetStatusResponse>, Status> {
        Err(not_built("GetStatus"))
    }

    type StreamPositionEventsStream = ResponseStream<pb::StreamPositionEventsResponse>;

    async fn stream_position_events(
        &self,
        _request: Request<pb::StreamPositionEventsRequest>,
    ) -> Result<Response<Self::StreamPositionEventsStream>, Status> {
        Err(not_built("StreamPositionEvents"))
    }
}
