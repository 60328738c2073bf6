//! `[tls]`: with TLS on, a role serves only TLS, the roles talk to each other over it (the
//! scanner streams from the gateway), `fff health` checks over it, and a plaintext client
//! gets nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::harness::{fff, spawn_role_on, start_sim};

/// A throwaway CA and a certificate for 127.0.0.1 and localhost signed by it (openssl).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=fff test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "role.key",
        "-out",
        "role.csr",
        "-subj",
        "/CN=fff role",
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "role.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "role.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    (
        dir.join("role.pem"),
        dir.join("role.key"),
        dir.join("ca.pem"),
    )
}

async fn health_over_tls(addr: std::net::SocketAddr, ca: &Path) -> Option<ServingStatus> {
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(ca).ok()?));
    let channel = Endpoint::from_shared(format!("https://{addr}"))
        .ok()?
        .tls_config(tls)
        .ok()?
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .ok()?;
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .ok()?;
    ServingStatus::try_from(answer.get_ref().status).ok()
}

#[tokio::test]
async fn roles_talk_tls_and_a_plaintext_client_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, ca) = certificates(dir.path());
    let (cert, key, ca_s) = (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
        ca.to_string_lossy().into_owned(),
    );
    let tls = [
        ("FFF_TLS__ENABLED", "true"),
        ("FFF_TLS__CERT_FILE", cert.as_str()),
        ("FFF_TLS__KEY_FILE", key.as_str()),
        ("FFF_TLS__CA_FILE", ca_s.as_str()),
    ];
    let sim = start_sim().await.unwrap();
    let urls = sim.urls_file().to_string_lossy().into_owned();
    let gateway_port = fff_testkit::free_port().unwrap();
    let mut env = vec![
        ("FFF_EXCHANGE__VENUE", "sim"),
        ("FFF_EXCHANGE__SIM_URLS_FILE", urls.as_str()),
    ];
    env.extend_from_slice(&tls);
    let gateway = spawn_role_on("gateway", gateway_port, &env).unwrap();
    // the roles' endpoints keep their http:// form: TLS upgrades every client
    let gateway_url = format!("http://{}", gateway.addr);
    let mut env = vec![
        ("FFF_SERVICES__GATEWAY", gateway_url.as_str()),
        ("FFF_SCANNER__SCAN_INTERVAL_SECS", "60"),
    ];
    env.extend_from_slice(&tls);
    let scanner = spawn_role_on("scanner", fff_testkit::free_port().unwrap(), &env).unwrap();
    for role in [&gateway, &scanner] {
        let addr = role.addr;
        let ca = ca.clone();
        fff_testkit::wait_until(Duration::from_secs(60), move || {
            let ca = ca.clone();
            async move { health_over_tls(addr, &ca).await == Some(ServingStatus::Serving) }
        })
        .await
        .unwrap_or_else(|_| panic!("{addr} never SERVING over TLS"));
    }
    // the scanner is SERVING once it streams from the gateway: over TLS

    // `fff health` reads the same [tls] from the environment
    let mut health = fff();
    health.args(["health", "--addr", &scanner.addr.to_string()]);
    for (key, value) in tls {
        health.env(key, value);
    }
    let out = health.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "SERVING");

    // plaintext gets nothing
    let plain = Endpoint::from_shared(format!("http://{}", gateway.addr))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(3))
        .connect()
        .await;
    if let Ok(channel) = plain {
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await;
        assert!(
            answer.is_err(),
            "a plaintext client was answered: {answer:?}"
        );
    }
    let out = fff()
        .args(["health", "--addr", &gateway.addr.to_string()])
        .env_remove("FFF_TLS__ENABLED")
        .output()
        .unwrap();
    assert!(!out.status.success(), "plaintext fff health passed");
}
