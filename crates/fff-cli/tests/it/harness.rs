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
    child: Child,
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

async fn serving(addr: SocketAddr) -> bool {
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
