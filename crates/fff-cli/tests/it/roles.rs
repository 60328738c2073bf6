//! Every role starts as its own process, answers health and reflection, keeps reads open and
//! refuses mutating calls without the bearer token.

use std::net::SocketAddr;

use fff_proto::fff::{executor, gateway, rebalancer, risk, scanner};
use fff_testkit::test_database;
use tokio_stream::StreamExt as _;
use tonic::metadata::MetadataValue;
use tonic::{Code, Request};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::harness::{TOKEN, channel, start_role_listening};

async fn listed_services(addr: SocketAddr) -> Vec<String> {
    let mut client = ServerReflectionClient::new(channel(addr).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .expect("reflection answers")
        .into_inner();
    match responses.next().await {
        Some(Ok(response)) => match response.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => {
                list.service.into_iter().map(|s| s.name).collect()
            }
            other => panic!("unexpected reflection answer: {other:?}"),
        },
        other => panic!("no reflection answer: {other:?}"),
    }
}

fn assert_lists(services: &[String], own: &str) {
    for name in [
        own,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(
            services.iter().any(|s| s == name),
            "{name} not in {services:?}"
        );
    }
    // A role lists only what it serves, not every fff service in the descriptor set.
    let fff_services = services.iter().filter(|s| s.starts_with("fff.")).count();
    assert_eq!(fff_services, 1, "{services:?}");
}

fn with_token<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    let value = MetadataValue::try_from(format!("Bearer {TOKEN}")).expect("ascii token");
    request.metadata_mut().insert("authorization", value);
    request
}

fn with_wrong_token<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", MetadataValue::from_static("Bearer wrong"));
    request
}

#[tokio::test]
async fn gateway_role_guards_orders() {
    let role = start_role_listening("gateway", &crate::harness::UNREACHABLE_EXCHANGE)
        .await
        .unwrap();
    assert_lists(&listed_services(role.addr).await, "fff.gateway.v1.Gateway");
    let mut client = gateway::v1::gateway_client::GatewayClient::new(channel(role.addr).await);
    let order = gateway::v1::PlaceOrderRequest::default;
    let refused = client.place_order(order()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let refused = client
        .place_order(with_wrong_token(order()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let passed = client.place_order(with_token(order())).await;
    assert_ne!(
        passed.map_err(|s| s.code()).err(),
        Some(Code::Unauthenticated)
    );
    // Reads need no token.
    let read = client
        .get_universe(gateway::v1::GetUniverseRequest::default())
        .await;
    assert_ne!(
        read.map_err(|s| s.code()).err(),
        Some(Code::Unauthenticated)
    );
}

#[tokio::test]
async fn scanner_role_is_read_only_and_open() {
    let role = start_role_listening("scanner", &[]).await.unwrap();
    assert_lists(&listed_services(role.addr).await, "fff.scanner.v1.Scanner");
    let mut client = scanner::v1::scanner_client::ScannerClient::new(channel(role.addr).await);
    let read = client
        .list_opportunities(scanner::v1::ListOpportunitiesRequest::default())
        .await;
    assert_ne!(
        read.map_err(|s| s.code()).err(),
        Some(Code::Unauthenticated)
    );
}

#[tokio::test]
async fn executor_role_guards_manual_commands() {
    let db = test_database().await.unwrap();
    let role = start_role_listening("executor", &[("DATABASE_URL", db.url())])
        .await
        .unwrap();
    assert_lists(
        &listed_services(role.addr).await,
        "fff.executor.v1.Executor",
    );
    let mut client = executor::v1::executor_client::ExecutorClient::new(channel(role.addr).await);
    let refused = client
        .pause(executor::v1::PauseRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let refused = client
        .open_position(executor::v1::OpenPositionRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let passed = client
        .pause(with_token(executor::v1::PauseRequest::default()))
        .await;
    assert_ne!(
        passed.map_err(|s| s.code()).err(),
        Some(Code::Unauthenticated)
    );
}

#[tokio::test]
async fn risk_role_guards_acknowledgements() {
    let db = test_database().await.unwrap();
    let role = start_role_listening("risk", &[("DATABASE_URL", db.url())])
        .await
        .unwrap();
    assert_lists(&listed_services(role.addr).await, "fff.risk.v1.Risk");
    let mut client = risk::v1::risk_client::RiskClient::new(channel(role.addr).await);
    let refused = client
        .ack_directive(risk::v1::AckDirectiveRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let read = client
        .get_risk_state(risk::v1::GetRiskStateRequest::default())
        .await;
    assert_ne!(
        read.map_err(|s| s.code()).err(),
        Some(Code::Unauthenticated)
    );
}

#[tokio::test]
async fn rebalancer_role_guards_trigger() {
    let role = start_role_listening("rebalancer", &[]).await.unwrap();
    assert_lists(
        &listed_services(role.addr).await,
        "fff.rebalancer.v1.Rebalancer",
    );
    let mut client =
        rebalancer::v1::rebalancer_client::RebalancerClient::new(channel(role.addr).await);
    let refused = client
        .trigger_now(rebalancer::v1::TriggerNowRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let passed = client
        .trigger_now(with_token(rebalancer::v1::TriggerNowRequest::default()))
        .await;
    assert_ne!(
        passed.map_err(|s| s.code()).err(),
        Some(Code::Unauthenticated)
    );
}

#[tokio::test]
async fn health_subcommand_exit_code_follows_the_serving_status() {
    // Without its upstreams (executor, gateway) the rebalancer listens but is not ready.
    let role = start_role_listening("rebalancer", &[]).await.unwrap();
    let answer = crate::harness::fff()
        .args(["health", "--addr", &role.addr.to_string()])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&answer.stdout).trim().to_owned();
    if printed == "SERVING" {
        assert!(answer.status.success(), "{answer:?}");
    } else {
        assert_eq!(printed, "NOT_SERVING", "{answer:?}");
        assert_eq!(answer.status.code(), Some(1), "{answer:?}");
    }

    let closed = fff_testkit::free_port().unwrap();
    let unreachable = crate::harness::fff()
        .args(["health", "--addr", &format!("127.0.0.1:{closed}")])
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(1), "{unreachable:?}");
}

#[test]
fn health_tcp_checks_a_plain_listener_such_as_the_simulator() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let up = crate::harness::fff()
        .args(["health", "--tcp", "--addr", &addr])
        .output()
        .unwrap();
    assert!(up.status.success(), "{up:?}");
    drop(listener);
    let down = crate::harness::fff()
        .args(["health", "--tcp", "--addr", &addr, "--timeout-ms", "500"])
        .output()
        .unwrap();
    assert!(!down.status.success());
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("refuses"),
        "{down:?}"
    );
}
