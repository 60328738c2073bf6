//! One writer per account: two risk instances (`run_with_source`, real gRPC on loopback) on
//! one database. The second stays NOT_SERVING and refuses to decide until the first loses its
//! lease; the first then stops at once and the second serves the history the first wrote.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fff_proto::fff::common::v1 as common;
use fff_proto::fff::gateway::v1 as gw;
use fff_proto::fff::risk::v1::{self as pb, DirectiveKind, risk_client::RiskClient};
use fff_risk::feed::{AccountSource, EventStream, MarketStream};
use fff_runtime::RoleContext;
use fff_runtime::config::{FffConfig, Secrets};
use fff_store::Store;
use fff_testkit::{wait_for, wait_until};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::StreamExt as _;
use tonic::Status;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::migrated_store;

const TOKEN: &str = "risk-lease-test-token";

/// A gateway stand-in: GetAccount answers the current account; StreamAccount never ends.
#[derive(Clone)]
struct FakeGateway {
    account: Arc<Mutex<gw::Account>>,
}

impl FakeGateway {
    /// Futures margin coverage `balance / 400` on one short BTC perp.
    fn set_balance(&self, balance: &str) {
        let mut account = self.account.lock().unwrap();
        *account = gw::Account {
            total_equity_usdt: "300000".into(),
            margin_total_asset_usdt: "100000".into(),
            margin_total_liability_usdt: "0".into(),
            futures_margin_balance_usdt: balance.into(),
            futures_maint_margin_usdt: "400".into(),
            futures_margin_ratio: "0".into(),
            positions: vec![gw::PerpPosition {
                symbol: "BTCUSDT".into(),
                position_amt: "-1.5".into(),
                mark_price: "100000".into(),
                notional: "-150000".into(),
                ..gw::PerpPosition::default()
            }],
            ..gw::Account::default()
        };
    }
}

impl AccountSource for FakeGateway {
    fn get_account(
        &self,
        _after_sequence: u64,
    ) -> impl Future<Output = Result<gw::Account, Status>> + Send {
        let account = self.account.lock().unwrap().clone();
        async move { Ok(account) }
    }

    async fn account_events(&self) -> Result<EventStream, Status> {
        Ok(Box::pin(tokio_stream::pending()) as EventStream)
    }

    async fn mark_prices(&self, _symbols: Vec<String>) -> Result<MarketStream, Status> {
        Ok(Box::pin(tokio_stream::pending()) as MarketStream)
    }
}

/// One risk instance serving on loopback until dropped.
struct Instance {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

async fn start(db_url: &str, gateway: &FakeGateway) -> Instance {
    let mut config = FffConfig::default();
    config.risk_service.account_poll_ms = 100;
    let secrets = Secrets {
        database_url: Some(db_url.into()),
        ..Secrets::default()
    };
    let context = RoleContext::new(config)
        .with_secrets(secrets)
        .with_auth_token(TOKEN.into());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(fff_risk::run_with_source(
        context,
        gateway.clone(),
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    Instance {
        addr,
        stop: Some(stop),
        task,
    }
}

async fn channel(addr: SocketAddr) -> Channel {
    wait_for(Duration::from_secs(10), || async move {
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .ok()
    })
    .await
    .unwrap()
}

async fn health(addr: SocketAddr) -> Option<ServingStatus> {
    let mut client = HealthClient::new(channel(addr).await);
    let answer = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .ok()?;
    ServingStatus::try_from(answer.get_ref().status).ok()
}

fn authorized<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value = MetadataValue::try_from(format!("Bearer {TOKEN}")).unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

fn entry(request_id: &str) -> pb::RequestApprovalRequest {
    pb::RequestApprovalRequest {
        request_id: request_id.into(),
        symbol: "ETHUSDT".into(),
        direction: common::Direction::PositiveCarry as i32,
        notional: "1000".into(),
        leverage: 5,
        reason: "test".into(),
        budget_id: String::new(),
    }
}

/// Ends the lease session of the holder (as a dead database connection would).
async fn kill_lease_session(store: &Store) {
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'fff lease fff-risk' AND pid <> pg_backend_pid()",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(killed, vec![true]);
}

#[tokio::test]
async fn a_second_instance_waits_for_the_lease_and_takes_over_the_history() {
    let (db, store) = migrated_store().await;
    let gateway = FakeGateway {
        account: Arc::new(Mutex::new(gw::Account::default())),
    };
    // coverage 1000 / 400 = 2.5: Orange
    gateway.set_balance("1000");

    let first = start(db.url(), &gateway).await;
    wait_until(Duration::from_secs(20), || async {
        health(first.addr).await == Some(ServingStatus::Serving)
    })
    .await
    .unwrap();
    let mut first_client = RiskClient::new(channel(first.addr).await);
    let cut = wait_for(Duration::from_secs(10), || {
        let mut client = first_client.clone();
        async move {
            let state = client
                .get_risk_state(pb::GetRiskStateRequest {})
                .await
                .ok()?
                .into_inner()
                .state?;
            state.last_directive
        }
    })
    .await
    .unwrap();
    assert_eq!(cut.kind(), DirectiveKind::EmergencyDeleverage);

    let second = start(db.url(), &gateway).await;
    let mut second_client = RiskClient::new(channel(second.addr).await);
    // the second instance answers, but stays NOT_SERVING and decides nothing
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(health(second.addr).await, Some(ServingStatus::NotServing));
    let refused = second_client
        .request_approval(authorized(entry("r-standby")))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    let refused = second_client
        .stream_directives(pb::StreamDirectivesRequest { after_sequence: 0 })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    // the holder decided once: the Orange tier did not cut twice
    assert_eq!(store.risk_directives_after(0, 10).await.unwrap().len(), 1);

    // the holder's lease session dies: it stops at once, the standby takes over
    kill_lease_session(&store).await;
    wait_until(Duration::from_secs(10), || async {
        health(first.addr).await == Some(ServingStatus::NotServing)
    })
    .await
    .unwrap();
    let refused = first_client
        .request_approval(authorized(entry("r-fenced")))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    wait_until(Duration::from_secs(20), || async {
        health(second.addr).await == Some(ServingStatus::Serving)
    })
    .await
    .unwrap();

    // the new holder serves the first one's history and continues its sequence without
    // cutting the same tier again
    let mut replay = second_client
        .stream_directives(pb::StreamDirectivesRequest {
            after_sequence: cut.sequence - 1,
        })
        .await
        .unwrap()
        .into_inner();
    let replayed = replay.next().await.unwrap().unwrap();
    assert!(replayed.replayed);
    assert_eq!(replayed.directive.unwrap().directive_id, cut.directive_id);
    second_client
        .ack_directive(authorized(pb::AckDirectiveRequest {
            directive_id: cut.directive_id.clone(),
            outcome: pb::DirectiveOutcome::Completed as i32,
            detail: "halved".into(),
        }))
        .await
        .unwrap();
    // coverage 500 / 400 = 1.25: Red, the next sequence
    gateway.set_balance("500");
    let close = tokio::time::timeout(Duration::from_secs(10), replay.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!close.replayed);
    let close = close.directive.unwrap();
    assert_eq!(close.kind(), DirectiveKind::CloseAll);
    assert_eq!(close.sequence, cut.sequence + 1);
    let listed = second_client
        .list_directives(pb::ListDirectivesRequest::default())
        .await
        .unwrap()
        .into_inner();
    let kinds: Vec<_> = listed
        .directives
        .iter()
        .map(|r| r.directive.as_ref().unwrap().kind())
        .collect();
    assert_eq!(
        kinds,
        vec![DirectiveKind::CloseAll, DirectiveKind::EmergencyDeleverage]
    );
    assert_eq!(listed.directives[1].acks.len(), 1);
    assert_eq!(store.risk_directives_after(0, 10).await.unwrap().len(), 2);
}
