//! The shared server over real loopback gRPC: health, reflection, auth, graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use fff_runtime::auth::BearerAuth;
use fff_runtime::config::ServerConfig;
use fff_runtime::grpc::{GrpcServer, HealthHandle};
use fff_runtime::shutdown::Shutdown;
use fff_runtime::{Result, SecretString};
use futures_util::future::{Ready, ready};
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::body::Body;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::server::NamedService;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

const TOKEN: &str = "0123456789abcdef";
const PROBE_WRITE: &str = "/fff.test.v1.Probe/Write";
const PROBE_READ: &str = "/fff.test.v1.Probe/Read";
const HEALTH_WATCH: &str = "/grpc.health.v1.Health/Watch";

/// A minimal hand-written service: every call that reaches it answers UNIMPLEMENTED, which
/// tells "passed auth" apart from UNAUTHENTICATED.
#[derive(Clone)]
struct Probe;

impl NamedService for Probe {
    const NAME: &'static str = "fff.test.v1.Probe";
}

impl tower::Service<http::Request<Body>> for Probe {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: http::Request<Body>) -> Self::Future {
        ready(Ok(tonic::Status::unimplemented("probe reached").into_http()))
    }
}

struct Running {
    addr: SocketAddr,
    health: HealthHandle,
    shutdown: Shutdown,
    task: JoinHandle<Result<()>>,
}

async fn start() -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ServerConfig {
        grace_period_ms: 300,
        ..ServerConfig::default()
    };
    let server = GrpcServer::new("test", &config)
        .auth_token(SecretString::from(TOKEN))
        .add_service(Probe, &[PROBE_WRITE])
        // a streaming method of a real tonic service, marked mutating for the test
        .mutating_methods(&[HEALTH_WATCH]);
    let health = server.health();
    let shutdown = Shutdown::new();
    let task = tokio::spawn(server.serve(listener, shutdown.wait()));
    Running {
        addr,
        health,
        shutdown,
        task,
    }
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    BearerAuth::new(&SecretString::from(token))
        .unwrap()
        .apply(request.metadata_mut());
    request
}

async fn check(client: &mut HealthClient<Channel>, service: &str) -> Result<i32, Code> {
    client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map(|r| r.into_inner().status)
        .map_err(|s| s.code())
}

async fn call_probe(addr: SocketAddr, path: &'static str, token: Option<&str>) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel(addr).await);
    grpc.ready().await.unwrap();
    let request = match token {
        Some(token) => with_token((), token),
        None => tonic::Request::new(()),
    };
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    grpc.unary(request, PathAndQuery::from_static(path), codec)
        .await
        .unwrap_err()
        .code()
}

#[tokio::test]
async fn health_starts_not_serving_until_the_role_is_ready() {
    let server = start().await;
    let mut client = HealthClient::new(channel(server.addr).await);
    let not_serving = Ok(ServingStatus::NotServing as i32);
    let serving = Ok(ServingStatus::Serving as i32);
    assert_eq!(check(&mut client, "").await, not_serving);
    assert_eq!(check(&mut client, Probe::NAME).await, not_serving);
    server.health.set_serving().await;
    assert_eq!(check(&mut client, "").await, serving);
    assert_eq!(check(&mut client, Probe::NAME).await, serving);
    assert_eq!(
        check(&mut client, "no.such.Service").await,
        Err(Code::NotFound)
    );
    server.shutdown.trigger();
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn mutating_methods_need_the_token_and_reads_stay_open() {
    let server = start().await;
    let addr = server.addr;
    assert_eq!(
        call_probe(addr, PROBE_WRITE, None).await,
        Code::Unauthenticated
    );
    assert_eq!(
        call_probe(addr, PROBE_WRITE, Some("wrong")).await,
        Code::Unauthenticated
    );
    assert_eq!(
        call_probe(addr, PROBE_WRITE, Some(TOKEN)).await,
        Code::Unimplemented
    );
    assert_eq!(
        call_probe(addr, PROBE_READ, None).await,
        Code::Unimplemented
    );

    let mut client = HealthClient::new(channel(addr).await);
    let request = HealthCheckRequest {
        service: String::new(),
    };
    let denied = client.watch(request.clone()).await.unwrap_err();
    assert_eq!(denied.code(), Code::Unauthenticated);
    assert!(client.watch(with_token(request, TOKEN)).await.is_ok());
    assert!(check(&mut client, "").await.is_ok());
    server.shutdown.trigger();
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn reflection_lists_services_in_v1_and_v1alpha() {
    use tonic_reflection::pb::{v1, v1alpha};

    let server = start().await;
    let mut v1_client =
        v1::server_reflection_client::ServerReflectionClient::new(channel(server.addr).await);
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut responses = v1_client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        response.message_response
    else {
        panic!("unexpected reflection response");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );

    let mut alpha_client =
        v1alpha::server_reflection_client::ServerReflectionClient::new(channel(server.addr).await);
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut responses = alpha_client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner();
    let response = responses.next().await.unwrap().unwrap();
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        response.message_response
    else {
        panic!("unexpected reflection response");
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "grpc.health.v1.Health")
    );
    server.shutdown.trigger();
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_reports_not_serving_stops_accepting_and_respects_the_grace_period() {
    let server = start().await;
    let mut client = HealthClient::new(channel(server.addr).await);
    server.health.set_serving().await;
    let request = HealthCheckRequest {
        service: String::new(),
    };
    // a watch stream never ends on its own: it stands for an RPC still in flight
    let mut watch = client
        .watch(with_token(request, TOKEN))
        .await
        .unwrap()
        .into_inner();
    let status =
        |item: Option<Result<HealthCheckResponse, tonic::Status>>| item.unwrap().unwrap().status;
    assert_eq!(status(watch.next().await), ServingStatus::Serving as i32);

    let started = Instant::now();
    server.shutdown.trigger();
    assert_eq!(status(watch.next().await), ServingStatus::NotServing as i32);
    tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("serve must return within the grace period")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "returned before the grace period"
    );
    let refused = tokio::net::TcpStream::connect(server.addr).await;
    assert!(refused.is_err(), "listener still accepting after shutdown");
}
