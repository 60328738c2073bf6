//! `fff up` then `fff status`: the whole suite on one machine shows open positions within a
//! minute on the accelerated simulator, and SIGTERM stops everything.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fff_testkit::free_port;

use crate::harness::fff;

pub(crate) struct Up {
    pub child: std::process::Child,
}

impl Drop for Up {
    // SIGTERM first, so `fff up` stops its children (a SIGKILLed `fff up` would orphan them);
    // SIGKILL only if it has not exited within the grace period.
    fn drop(&mut self) {
        // A reaped child's pid may already belong to another process: signal only a live one.
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `fff up` on free ports, its working directory and the addresses tests talk to.
pub(crate) struct Suite {
    pub up: Up,
    pub dir: tempfile::TempDir,
    pub executor: String,
    pub risk: String,
    /// The simulator's base URL (admin under `/admin`).
    pub sim: String,
}

impl Suite {
    /// `fff status --json`, parsed (`None` while a role does not answer yet).
    pub fn status(&self) -> Option<serde_json::Value> {
        let output = fff()
            .args([
                "status",
                "--json",
                "--executor",
                &self.executor,
                "--risk",
                &self.risk,
            ])
            .output()
            .ok()?;
        serde_json::from_slice(&output.stdout).ok()
    }

    pub fn log(&self, role: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!(".fff/logs/{role}.log")))
            .unwrap_or_default()
    }
}

/// The last lines of every log `fff up` keeps, for a failure message (CI shows only part of
/// a run's output, and the directory goes with the test).
fn log_tails(dir: &std::path::Path) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir.join(".fff/logs")) else {
        return "no logs".into();
    };
    for entry in entries.flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(15)..];
        out.push_str(&format!(
            "--- {}\n{}\n",
            entry.file_name().to_string_lossy(),
            tail.join("\n")
        ));
    }
    out
}

/// Starts `fff up --accelerate N` with the shipped configuration; only ports are set.
pub(crate) fn start_suite(accelerate: &str) -> Suite {
    start_suite_with(accelerate, &[], None)
}

/// [`start_suite`] with extra environment for `fff up` (and so its children) and a simulator
/// configuration.
pub(crate) fn start_suite_with(
    accelerate: &str,
    env: &[(&str, &str)],
    sim_config: Option<&str>,
) -> Suite {
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..5).map(|_| free_port().unwrap()).collect();
    let roles = ["gateway", "scanner", "executor", "risk", "rebalancer"];
    let sim_port = free_port().unwrap();
    let mut command = fff();
    command.arg("up").current_dir(dir.path());
    command.args(["--sim-listen", &format!("127.0.0.1:{sim_port}")]);
    command.args(["--postgres-port", &free_port().unwrap().to_string()]);
    command.args(["--accelerate", accelerate]);
    for (role, port) in roles.iter().zip(&ports) {
        command.args(["--set", &format!("server.ports.{role}={port}")]);
        let key = if *role == "scanner" {
            format!("services.scanners=http://127.0.0.1:{port}")
        } else {
            format!("services.{role}=http://127.0.0.1:{port}")
        };
        command.args(["--set", &key]);
    }
    command
        .env_remove("DATABASE_URL")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(config) = sim_config {
        let path = dir.path().join("sim.toml");
        std::fs::write(&path, config).unwrap();
        command.arg("--sim-config").arg(path);
    }
    command.envs(env.iter().copied());
    let up = Up {
        child: command.spawn().unwrap(),
    };
    Suite {
        up,
        dir,
        executor: format!("http://127.0.0.1:{}", ports[2]),
        risk: format!("http://127.0.0.1:{}", ports[3]),
        sim: format!("http://127.0.0.1:{sim_port}"),
    }
}

#[test]
fn up_then_status_shows_open_positions_within_a_minute() {
    let suite = start_suite("3600");
    let dir = &suite.dir;
    let executor = suite.executor.clone();
    let risk = suite.risk.clone();
    let mut up = suite.up;
    let started = Instant::now();
    let positions = loop {
        if let Some(status) = up.child.try_wait().unwrap() {
            panic!(
                "fff up exited early ({status}); logs:\n{}",
                log_tails(dir.path())
            );
        }
        let output = fff()
            .args(["status", "--json", "--executor", &executor, "--risk", &risk])
            .output()
            .unwrap();
        let last = String::from_utf8_lossy(&output.stdout).into_owned();
        if let Ok(report) = serde_json::from_str::<serde_json::Value>(&last)
            && let Some(list) = report["positions"].as_array()
            && !list.is_empty()
        {
            break list.clone();
        }
        // Start-up (initdb, five roles) is not part of the minute the acceptance allows.
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "no open position in time; last status: {last}"
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    assert!(
        positions.iter().all(|p| p["symbol"].is_string()),
        "{positions:?}"
    );

    // The table view shows the same positions, found without naming the moved ports: `fff up`
    // records its endpoints in the directory it runs in.
    let table = fff()
        .arg("status")
        .current_dir(dir.path())
        .env_remove("FFF_CONFIG")
        .output()
        .unwrap();
    assert!(table.status.success(), "{table:?}");
    let text = String::from_utf8_lossy(&table.stdout);
    let symbol = positions[0]["symbol"].as_str().unwrap();
    assert!(text.contains(symbol), "{text}");

    // A role that dies is restarted by `fff up` (supervision), not left dead or taking the
    // suite down: kill -9 the executor and wait for it to answer again.
    let executor_port = executor.rsplit(':').next().unwrap().to_owned();
    let pattern = format!("executor --listen 127.0.0.1:{executor_port}");
    let killed = Command::new("pkill")
        .args(["-KILL", "-f", &pattern])
        .status()
        .unwrap();
    assert!(killed.success(), "no executor process matched {pattern}");
    let restarted = Instant::now();
    loop {
        if let Some(status) = up.child.try_wait().unwrap() {
            panic!(
                "fff up stopped ({status}) when a role died; logs:\n{}",
                log_tails(dir.path())
            );
        }
        let output = fff()
            .args(["health", "--addr", &format!("127.0.0.1:{executor_port}")])
            .output()
            .unwrap();
        if output.status.success() && restarted.elapsed() > Duration::from_secs(1) {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(60),
            "executor not restarted; logs:\n{}",
            log_tails(dir.path())
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // SIGTERM stops the suite: fff up exits and the roles' ports close.
    let pid = up.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while up.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "fff up did not stop");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        !dir.path().join(".fff/endpoints.json").exists(),
        "a stopped suite leaves no endpoints for `fff status`"
    );
    // Every process of the suite (roles, simulator, PostgreSQL) ran inside `dir`; none is left.
    // Checked by working directory rather than by port: parallel tests may reuse a free port.
    let root = dir.path().canonicalize().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = processes_under(&root);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processes still running after fff up stopped: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Pids of live processes whose working directory is `root` or below it.
fn processes_under(root: &std::path::Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cwd = std::fs::read_link(entry.path().join("cwd")).ok()?;
            // Zombies keep no cwd; a process that is gone fails read_link above.
            cwd.starts_with(root).then_some(pid)
        })
        .collect()
}
