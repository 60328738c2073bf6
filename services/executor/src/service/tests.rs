//! Tests of [`super`].

use std::time::Duration;

use fff_testkit::wait_for;
use tonic::Code;

use super::*;
use crate::approval::ApproveAll;
use crate::engine::tests::rig;

fn service(engine: &Arc<Engine>) -> ExecutorService {
    ExecutorService::new(
        Arc::clone(engine),
        Arc::new(ApproveAll),
        Arc::new(PlanCell::default()),
    )
}

fn open_request() -> pb::OpenPositionRequest {
    pb::OpenPositionRequest {
        request_id: "r1".into(),
        symbol: "BTCUSDT".into(),
        direction: common::Direction::PositiveCarry as i32,
        notional: "1000".into(),
        leverage: None,
        reason: "manual".into(),
    }
}

#[tokio::test]
async fn invalid_requests_name_the_field() {
    let rig = rig().await;
    let service = service(&rig.engine);
    let cases = [
        (
            pb::OpenPositionRequest {
                request_id: String::new(),
                ..open_request()
            },
            "request_id",
        ),
        (
            pb::OpenPositionRequest {
                symbol: "btc usdt".into(),
                ..open_request()
            },
            "symbol",
        ),
        (
            pb::OpenPositionRequest {
                direction: 0,
                ..open_request()
            },
            "direction",
        ),
        (
            pb::OpenPositionRequest {
                notional: "-5".into(),
                ..open_request()
            },
            "notional",
        ),
        (
            pb::OpenPositionRequest {
                notional: "1e3".into(),
                ..open_request()
            },
            "notional",
        ),
        (
            pb::OpenPositionRequest {
                leverage: Some(0),
                ..open_request()
            },
            "leverage",
        ),
        (
            pb::OpenPositionRequest {
                reason: " ".into(),
                ..open_request()
            },
            "reason",
        ),
    ];
    for (request, field) in cases {
        let status = service
            .open_position(Request::new(request))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(
            status.message().contains(field),
            "{field}: {}",
            status.message()
        );
    }
    let status = service
        .pause(Request::new(pb::PauseRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("reason"));
    let status = service
        .get_position(Request::new(pb::GetPositionRequest {
            key: Some(pb::get_position_request::Key::PositionId("abc".into())),
        }))
        .await
        .unwrap_err();
    assert!(status.message().contains("position_id"));
    assert!(rig.fake.with(|s| s.orders.is_empty()));
}

#[tokio::test]
async fn manual_open_is_idempotent_and_pause_blocks_entries_not_exits() {
    let rig = rig().await;
    let service = service(&rig.engine);
    let first = service
        .open_position(Request::new(open_request()))
        .await
        .unwrap()
        .into_inner();
    let again = service
        .open_position(Request::new(open_request()))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(first.position, again.position);
    let id = first.position.unwrap().position_id;
    let store = rig.store.clone();
    let numeric: i64 = id.parse().unwrap();
    wait_for(Duration::from_secs(10), || async {
        store
            .get_position(numeric)
            .await
            .ok()
            .flatten()
            .filter(|p| p.state == PositionState::Open)
    })
    .await
    .unwrap();

    let paused = service
        .pause(Request::new(pb::PauseRequest {
            reason: "maintenance".into(),
            cancel_working_entries: false,
        }))
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert!(paused.paused);
    assert_eq!(paused.live_positions, 1);
    let refused = service
        .open_position(Request::new(pb::OpenPositionRequest {
            request_id: "r2".into(),
            symbol: "ETHUSDT".into(),
            ..open_request()
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    // exits still allowed while paused
    let closing = service
        .close_position(Request::new(pb::ClosePositionRequest {
            request_id: "c1".into(),
            key: Some(pb::close_position_request::Key::PositionId(id.clone())),
            urgency: pb::CloseUrgency::Immediate as i32,
            reason: "done".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        closing.position.unwrap().status,
        pb::PositionStatus::Closing as i32
    );
    wait_for(Duration::from_secs(10), || async {
        store
            .get_position(numeric)
            .await
            .ok()
            .flatten()
            .filter(|p| p.state == PositionState::Closed)
    })
    .await
    .unwrap();
    let listed = service
        .list_positions(Request::new(pb::ListPositionsRequest {
            statuses: vec![pb::PositionStatus::Closed as i32],
            ..pb::ListPositionsRequest::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.positions.len(), 1);
    let resumed = service
        .resume(Request::new(pb::ResumeRequest {
            reason: "back".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .status
        .unwrap();
    assert!(!resumed.paused);
}

#[tokio::test]
async fn event_stream_starts_with_a_snapshot() {
    use tokio_stream::StreamExt as _;
    let rig = rig().await;
    let service = service(&rig.engine);
    let opened = service
        .open_position(Request::new(open_request()))
        .await
        .unwrap()
        .into_inner()
        .position
        .unwrap();
    let mut stream = service
        .stream_position_events(Request::new(pb::StreamPositionEventsRequest {
            include_snapshot: true,
            ..pb::StreamPositionEventsRequest::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.sequence, 1);
    match first.event {
        Some(pb::stream_position_events_response::Event::PositionEvent(event)) => {
            assert_eq!(event.kind, pb::PositionEventKind::Snapshot as i32);
            assert_eq!(event.position.unwrap().position_id, opened.position_id);
        }
        other => panic!("{other:?}"),
    }
    let second = stream.next().await.unwrap().unwrap();
    assert_eq!(second.sequence, 2);
    assert!(matches!(
        second.event,
        Some(
            pb::stream_position_events_response::Event::SnapshotComplete(
                common::SnapshotComplete { event_count: 1 }
            )
        )
    ));
}

#[tokio::test]
async fn pnl_reports_funding_fees_and_expectations() {
    use fff_proto::fff::gateway::v1 as gw;
    use rust_decimal_macros::dec;
    let rig = rig().await;
    let service = service(&rig.engine);
    let opened = service
        .open_position(Request::new(open_request()))
        .await
        .unwrap()
        .into_inner()
        .position
        .unwrap();
    let id: i64 = opened.position_id.parse().unwrap();
    let store = rig.store.clone();
    wait_for(Duration::from_secs(10), || async {
        store
            .get_position(id)
            .await
            .ok()
            .flatten()
            .filter(|p| p.state == PositionState::Open)
    })
    .await
    .unwrap();
    let perp = rig
        .store
        .list_position_orders(id)
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.leg == fff_store::Leg::Perp)
        .unwrap();
    let fill = gw::Fill {
        symbol: "BTCUSDT".into(),
        client_order_id: perp.client_order_id.clone(),
        trade_id: 1,
        price: "100".into(),
        quantity: "10".into(),
        commission: "0.5".into(),
        commission_asset: "USDT".into(),
        ..gw::Fill::default()
    };
    let venue = common::Venue::UsdmPerp as i32;
    crate::ledger::book_fill(&rig.engine, venue, &fill, Utc::now())
        .await
        .unwrap();
    let client = fff_proto::fff::gateway::v1::gateway_client::GatewayClient::with_interceptor(
        fff_runtime::grpc::channel("http://127.0.0.1:9").unwrap(),
        fff_runtime::telemetry::ClientInterceptor::default(),
    );
    for (tran, amount) in [(1, "0.3"), (2, "-0.1")] {
        let record = gw::IncomeRecord {
            income_id: tran.to_string(),
            symbol: "BTCUSDT".into(),
            asset: "USDT".into(),
            amount: amount.into(),
            ..gw::IncomeRecord::default()
        };
        crate::ledger::book_funding(&rig.engine, &client, &record)
            .await
            .unwrap();
    }
    let pnl = service
        .get_pnl(Request::new(pb::GetPnlRequest {
            position_id: opened.position_id.clone(),
            ..pb::GetPnlRequest::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let total = pnl.total.unwrap();
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    assert_eq!(d(&total.funding_received), dec!(0.3));
    assert_eq!(d(&total.funding_paid), dec!(-0.1));
    assert_eq!(d(&total.funding_actual), dec!(0.2));
    assert_eq!(d(&total.fees_perp), dec!(-0.5));
    // both legs entered at 100 and marked at 100: no price P&L
    assert_eq!(d(&total.basis_pnl_spot) + d(&total.basis_pnl_perp), dec!(0));
    assert_eq!(d(&total.net), dec!(-0.3));
    assert_eq!(pnl.positions.len(), 1);
    assert_eq!(
        pnl.days.iter().map(|day| day.funding_events).sum::<u32>(),
        2
    );
}

#[tokio::test]
async fn manual_opens_obey_the_strategy_caps() {
    let rig = rig().await;
    let service = service(&rig.engine);
    // 100k equity: the pair cap is 30k of capital, 24 390.24 of positive-carry notional
    let too_big = service
        .open_position(Request::new(pb::OpenPositionRequest {
            notional: "30000".into(),
            ..open_request()
        }))
        .await
        .unwrap_err();
    assert_eq!(too_big.code(), Code::FailedPrecondition);
    assert!(
        too_big.message().contains("pair cap 24390.24"),
        "{}",
        too_big.message()
    );
    assert_eq!(rig.fake.with(|s| s.orders.len()), 0);
    // within the cap it opens
    service
        .open_position(Request::new(pb::OpenPositionRequest {
            notional: "24000".into(),
            ..open_request()
        }))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_manual_open_beyond_the_per_symbol_limit_is_refused_with_a_clear_error() {
    let mut rig = rig().await;
    let mut params = rig.engine.params().clone();
    params.capital.max_symbol_notional_usdt = rust_decimal_macros::dec!(5000);
    rig.engine = Engine::new(rig.store.clone(), rig.fake.clone(), params);
    rig.engine.mark_reconciled();
    let service = service(&rig.engine);
    let refused = service
        .open_position(Request::new(pb::OpenPositionRequest {
            notional: "6000".into(),
            ..open_request()
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("per-symbol limit 5000"),
        "{}",
        refused.message()
    );
    assert_eq!(rig.fake.with(|s| s.orders.len()), 0);
}

#[tokio::test]
async fn a_restarted_executor_that_was_paused_stays_paused_and_knows_its_request_ids() {
    let mut rig = rig().await;
    let first = service(&rig.engine);
    let opened = first
        .open_position(Request::new(open_request()))
        .await
        .unwrap()
        .into_inner();
    first
        .pause(Request::new(pb::PauseRequest {
            reason: "incident".into(),
            cancel_working_entries: false,
        }))
        .await
        .unwrap();
    // a new process on the same database
    let params = rig.engine.params().clone();
    rig.engine = Engine::new(rig.store.clone(), rig.fake.clone(), params);
    rig.engine.restore_run_state().await.unwrap();
    rig.engine.mark_reconciled();
    let state = rig.engine.run_state();
    assert!(state.paused, "{state:?}");
    assert_eq!(state.reason, "incident");
    assert!(rig.engine.entry_block().is_some());
    // the retried open is answered from the request log, not refused or acted on again
    let again = service(&rig.engine)
        .open_position(Request::new(open_request()))
        .await
        .unwrap()
        .into_inner();
    assert!(again.duplicate);
    assert_eq!(again.position, opened.position);
}
