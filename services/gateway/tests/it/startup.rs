//! Live venues: the key's restrictions are read before serving, and a key that can withdraw is
//! refused with a clear message.

use fff_runtime::config::ExchangeVenue;
use fff_runtime::{FffConfig, RoleContext, SecretString, Secrets};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// A one-trick HTTP server: server time and an apiRestrictions answer.
async fn fake_binance(withdrawals: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis();
                let body = if request.contains("apiRestrictions") {
                    format!(
                        r#"{{"ipRestrict":false,"createTime":1,"enableReading":true,"enableSpotAndMarginTrading":true,"enableMargin":true,"enableFutures":true,"enableWithdrawals":{withdrawals},"enableInternalTransfer":false,"permitsUniversalTransfer":false}}"#
                    )
                } else {
                    format!(r#"{{"serverTime":{now}}}"#)
                };
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

fn live_context(base: &str) -> RoleContext {
    let mut config = FffConfig::default();
    config.exchange.venue = ExchangeVenue::Testnet;
    config.exchange.spot_rest = Some(base.to_owned());
    config.exchange.futures_rest = Some(base.to_owned());
    let secrets = Secrets {
        binance_api_key: Some(SecretString::from("live-key")),
        binance_api_secret: Some(SecretString::from("live-secret-value")),
        ..Secrets::default()
    };
    RoleContext::new(config).with_secrets(secrets)
}

#[tokio::test]
async fn a_key_that_can_withdraw_is_refused() {
    let base = fake_binance(true).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = fff_gateway::run(live_context(&base), listener, std::future::pending())
        .await
        .unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("withdrawals enabled"), "{message}");
    assert!(!message.contains("live-secret-value"), "{message}");
}

#[tokio::test]
async fn a_key_without_withdrawals_gets_past_the_check() {
    let base = fake_binance(false).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(fff_gateway::run(
        live_context(&base),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    // it serves (not ready: the fake has no exchange info) until told to stop
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!run.is_finished());
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_ends_open_streams_promptly() {
    let sim = fff_sim::spawn(fff_sim::SimConfig::default()).await.unwrap();
    let (addr, stop) = crate::harness::gateway_for(&sim, Secrets::default()).await;
    let mut client = crate::harness::client(addr).await;
    let mut stream = client
        .stream_market(fff_proto::fff::gateway::v1::StreamMarketRequest::default())
        .await
        .unwrap()
        .into_inner();
    stop.send(()).unwrap();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(3), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(status) => return Some(status.code()),
            }
        }
    })
    .await
    .expect("the stream ends well before the 10 s grace period");
    assert_eq!(ended, Some(tonic::Code::Unavailable));
}
