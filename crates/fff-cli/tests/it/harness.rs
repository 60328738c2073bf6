//! Starts `fff <role>` as a child process and waits until it reports SERVING.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fff_testkit::{free_port, wait_until};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Token the tests hand to every role through `FFF_AUTH_TOKEN`.
pub const TOKEN: &str = "test-token-0123456789";

/// A running role; killed when dropped.
pub struct RoleProcess {
    pub child: Child,
    pub addr: SocketAddr,
    _workdir: tempfile::TempDir,
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn fff() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fff"))
}

/// Starts `fff <role>` on a free port with the test token, `extra_env` added, in a fresh
/// working directory (so no `.fff/` of the developer's is touched).
pub async fn start_role(role: &str, extra_env: &[(&str, &str)]) -> anyhow::Result<RoleProcess> {
    let process = spawn_role(role, extra_env)?;
    wait_until(Duration::from_secs(30), || serving(process.addr)).await?;
    Ok(process)
}

/// Starts `fff <role>` and waits only until its health service answers (SERVING or not): for
/// tests of the role's shell (reflection, auth) that run without its upstream dependencies.
pub async fn start_role_listening(
    role: &str,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<RoleProcess> {
    let process = spawn_role(role, extra_env)?;
    wait_until(Duration::from_secs(30), || answering(process.addr)).await?;
    Ok(process)
}

fn spawn_role(role: &str, extra_env: &[(&str, &str)]) -> anyhow::Result<RoleProcess> {
    let port = free_port()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let workdir = tempfile::tempdir()?;
    let mut command = fff();
    command
        .args([role, "--listen", &addr.to_string()])
        .current_dir(workdir.path())
        .env("FFF_AUTH_TOKEN", TOKEN)
        .env_remove("DATABASE_URL")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let child = command.spawn()?;
    Ok(RoleProcess {
        child,
        addr,
        _workdir: workdir,
    })
}

async fn answering(addr: SocketAddr) -> bool {
    let Ok(channel) = Channel::from_shared(format!("http://{addr}")) else {
        return false;
    };
    let Ok(channel) = channel.connect().await else {
        return false;
    };
    let request = HealthCheckRequest {
        service: String::new(),
    };
    HealthClient::new(channel).check(request).await.is_ok()
}

pub async fn serving(addr: SocketAddr) -> bool {
    let Ok(channel) = Channel::from_shared(format!("http://{addr}")) else {
        return false;
    };
    let Ok(channel) = channel.connect().await else {
        return false;
    };
    let request = HealthCheckRequest {
        service: String::new(),
    };
    matches!(
        HealthClient::new(channel).check(request).await,
        Ok(response) if response.get_ref().status == ServingStatus::Serving as i32
    )
}

pub async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("valid uri")
        .connect()
        .await
        .expect("role reachable")
}

/// Runs a command to completion and returns (exit code, stderr).
pub fn run_to_end(command: &mut Command, dir: &Path) -> (Option<i32>, String) {
    let output = command
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("fff runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `[exchange]` env pointing the gateway at a closed port: it serves (NOT_SERVING) without
/// an exchange, enough for tests of its shell.
pub const UNREACHABLE_EXCHANGE: [(&str, &str); 5] = [
    ("FFF_EXCHANGE__SPOT_REST", "http://127.0.0.1:9"),
    ("FFF_EXCHANGE__FUTURES_REST", "http://127.0.0.1:9"),
    ("FFF_EXCHANGE__FUTURES_WS", "ws://127.0.0.1:9"),
    ("FFF_EXCHANGE__SPOT_WS_API", "ws://127.0.0.1:9/ws-api/v3"),
    ("FFF_EXCHANGE__MARGIN_RISK_WS", "ws://127.0.0.1:9"),
];

/// A running `fff sim --listen 127.0.0.1:0`; killed when dropped.
pub struct SimProcess {
    child: Child,
    /// The first stdout line: `{"spot_rest":..,"admin":..}`.
    pub urls_line: String,
    pub urls: serde_json::Value,
    dir: tempfile::TempDir,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SimProcess {
    /// `host:port` of the simulator's HTTP server.
    pub fn http_addr(&self) -> String {
        let admin = self.urls["admin"].as_str().unwrap_or_default();
        admin
            .trim_start_matches("http://")
            .trim_end_matches("/admin")
            .to_owned()
    }

    /// A file holding the first line, for `FFF_EXCHANGE__SIM_URLS_FILE`.
    pub fn urls_file(&self) -> std::path::PathBuf {
        let path = self.dir.path().join("sim-urls.json");
        std::fs::write(&path, &self.urls_line).expect("write sim urls");
        path
    }

    /// One plain HTTP/1.1 request to the simulator (admin or public REST); the JSON body.
    pub async fn http(&self, method: &str, path: &str, body: &str) -> serde_json::Value {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = tokio::net::TcpStream::connect(self.http_addr())
            .await
            .expect("simulator reachable");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: sim\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read");
        let text = String::from_utf8_lossy(&response);
        let (_, body) = text.split_once("\r\n\r\n").expect("http response");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    }
}

/// Starts the simulator as its own process and reads its first stdout line.
pub async fn start_sim() -> anyhow::Result<SimProcess> {
    spawn_sim(tempfile::tempdir()?, None).await
}

/// [`start_sim`] with a simulator TOML (accounts, symbols, clock) written to its directory.
pub async fn start_sim_with_config(config: &str) -> anyhow::Result<SimProcess> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sim.toml");
    std::fs::write(&path, config)?;
    spawn_sim(dir, Some(&path)).await
}

async fn spawn_sim(dir: tempfile::TempDir, config: Option<&Path>) -> anyhow::Result<SimProcess> {
    use std::io::BufRead as _;
    let mut command = fff();
    command.args(["sim", "--listen", "127.0.0.1:0"]);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let mut child = command
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let line = tokio::task::spawn_blocking(move || {
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).map(|_| (line, reader))
    });
    let (line, reader) = tokio::time::timeout(Duration::from_secs(30), line).await???;
    // keep draining stdout so the simulator never blocks on a full pipe
    std::thread::spawn(move || std::io::copy(&mut reader.into_inner(), &mut std::io::sink()));
    let urls = serde_json::from_str(line.trim())?;
    Ok(SimProcess {
        child,
        urls_line: line.trim().to_owned(),
        urls,
        dir,
    })
}

/// Starts the gateway against `sim` (through `FFF_EXCHANGE__SIM_URLS_FILE`) and waits until it
/// is SERVING (universe and account loaded).
pub async fn start_gateway(
    sim: &SimProcess,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<RoleProcess> {
    let file = sim.urls_file();
    let file = file.to_string_lossy().into_owned();
    let mut env = vec![
        ("FFF_EXCHANGE__VENUE", "sim"),
        ("FFF_EXCHANGE__SIM_URLS_FILE", file.as_str()),
    ];
    env.extend_from_slice(extra_env);
    start_role("gateway", &env).await
}

impl RoleProcess {
    /// SIGKILL without any cleanup, as a crash would (the drop then only reaps it).
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `fff <role>` on a port chosen beforehand (roles that call each other can then be
/// wired before both run, and a killed role can come back on its old address) and waits until
/// it is SERVING.
pub async fn start_role_on(
    role: &str,
    port: u16,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<RoleProcess> {
    let process = spawn_role_on(role, port, extra_env)?;
    wait_until(Duration::from_secs(30), || serving(process.addr)).await?;
    Ok(process)
}

/// [`start_role_on`] without waiting for SERVING.
pub fn spawn_role_on(
    role: &str,
    port: u16,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<RoleProcess> {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let workdir = tempfile::tempdir()?;
    let mut command = fff();
    command
        .args([role, "--listen", &addr.to_string()])
        .current_dir(workdir.path())
        .env("FFF_AUTH_TOKEN", TOKEN)
        .env_remove("DATABASE_URL")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let process = RoleProcess {
        child: command.spawn()?,
        addr,
        _workdir: workdir,
    };
    Ok(process)
}
