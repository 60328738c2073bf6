//! Child processes of `fff up`: start, wait until SERVING, supervise, stop in reverse order.
//!
//! A role that exits on its own is restarted with backoff (1 s doubling to 8 s; back to 1 s
//! after a minute up) instead of stopping the suite: positions must not be left unmanaged
//! because one role crashed, nor for long because it crashed twice (a 30 s cap left roles down
//! past the soak's 30 s recovery bound after repeated kills; a restart costs little). The
//! simulator is the venue: if it exits the suite stops (a restarted simulator would come back
//! with fresh balances that match nothing).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fff_runtime::Role;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{ChildStdout, Command};

use crate::cli::UpArgs;

/// First and longest wait before a crashed role is restarted.
const RESTART_MIN: Duration = Duration::from_secs(1);
const RESTART_MAX: Duration = Duration::from_secs(8);
/// A role up this long is considered healthy again: its next crash restarts after RESTART_MIN.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// How to start a role again.
#[derive(Clone)]
struct RoleSpec {
    exe: std::path::PathBuf,
    role: Role,
    args: UpArgs,
    addr: SocketAddr,
    env: Vec<(String, String)>,
    log: std::path::PathBuf,
}

/// One child process with its display name.
pub struct Child {
    name: String,
    process: tokio::process::Child,
    // Held open so the simulator never writes into a closed pipe.
    _stdout: Option<BufReader<ChildStdout>>,
    /// Set for roles: how to restart them.
    spec: Option<RoleSpec>,
    started: Instant,
    backoff: Duration,
    /// When a crashed role is due to be started again.
    restart_at: Option<Instant>,
}

impl Child {
    /// Starts `fff sim` and returns it with its base-URL JSON line.
    pub async fn start_sim(
        exe: &Path,
        args: &UpArgs,
        log: &Path,
    ) -> anyhow::Result<(Self, String)> {
        let mut command = Command::new(exe);
        command
            .arg("sim")
            .arg("--listen")
            .arg(args.sim_listen.to_string());
        if let Some(config) = &args.sim_config {
            command.arg("--config").arg(config);
        }
        if let Some(speed) = args.accelerate {
            command.arg("--accelerate").arg(speed.to_string());
        }
        command
            .env(
                fff_runtime::shutdown::PARENT_PID_ENV,
                std::process::id().to_string(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file(log)?)
            .kill_on_drop(true);
        let mut process = command.spawn().context("cannot start fff sim")?;
        let stdout = process.stdout.take().context("fff sim has no stdout")?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(30), reader.read_line(&mut line)).await;
        match read {
            Ok(Ok(n)) if n > 0 => {}
            _ => bail!("fff sim printed no base URLs; see {}", log.display()),
        }
        let child = Self {
            name: "sim".into(),
            process,
            _stdout: Some(reader),
            spec: None,
            started: Instant::now(),
            backoff: RESTART_MIN,
            restart_at: None,
        };
        Ok((child, line.trim().to_owned()))
    }

    /// Starts `fff <role>` listening on `addr`, stderr appended to `log`.
    pub fn start_role(
        exe: &Path,
        role: Role,
        args: &UpArgs,
        addr: SocketAddr,
        env: &[(String, String)],
        log: &Path,
    ) -> anyhow::Result<Self> {
        let spec = RoleSpec {
            exe: exe.to_owned(),
            role,
            args: args.clone(),
            addr,
            env: env.to_vec(),
            log: log.to_owned(),
        };
        let process = spawn_role(&spec)?;
        Ok(Self {
            name: role.as_str().into(),
            process,
            _stdout: None,
            spec: Some(spec),
            started: Instant::now(),
            backoff: RESTART_MIN,
            restart_at: None,
        })
    }
}

fn spawn_role(spec: &RoleSpec) -> anyhow::Result<tokio::process::Child> {
    let (exe, role, args, addr, env, log) = (
        &spec.exe, spec.role, &spec.args, spec.addr, &spec.env, &spec.log,
    );
    {
        let mut command = Command::new(exe);
        command
            .arg(role.as_str())
            .arg("--listen")
            .arg(addr.to_string());
        if let Some(config) = &args.config {
            command.arg("--config").arg(config);
        }
        for item in &args.overrides {
            command.arg("--set").arg(item);
        }
        command
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(
                fff_runtime::shutdown::PARENT_PID_ENV,
                std::process::id().to_string(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(log)?)
            .kill_on_drop(true);
        command
            .spawn()
            .with_context(|| format!("cannot start fff {role}"))
    }
}

fn log_file(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// The running children, in start order.
#[derive(Default)]
pub struct Suite {
    children: Vec<Child>,
}

impl Suite {
    pub fn push(&mut self, child: Child) {
        self.children.push(child);
    }

    /// Process id of every running role (not the simulator), by name.
    pub fn role_pids(&self) -> Vec<(String, u32)> {
        self.children
            .iter()
            .filter(|c| c.spec.is_some() && c.restart_at.is_none())
            .filter_map(|c| Some((c.name.clone(), c.process.id()?)))
            .collect()
    }

    /// Polls the role's health until SERVING; fails early when any child exits.
    pub async fn wait_serving(
        &mut self,
        role: Role,
        addr: SocketAddr,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            if crate::health::is_serving(&addr.to_string(), "").await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("{role} not SERVING after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Runs until `stop` resolves (Ok), restarting roles that exit; Err only when the
    /// simulator exits or a role cannot be started again.
    pub async fn watch(&mut self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return Ok(()),
                () = tokio::time::sleep(Duration::from_millis(500)) => self.supervise()?,
            }
        }
    }

    /// SIGKILLs the role `name` (a crash, as `kill -9` would; `supervise` then restarts it);
    /// false when no such role is running.
    pub fn kill_role(&mut self, name: &str) -> bool {
        self.children
            .iter_mut()
            .find(|c| c.spec.is_some() && c.name == name && c.restart_at.is_none())
            .is_some_and(|c| c.process.start_kill().is_ok())
    }

    /// Schedules a restart of every role that exited and starts those that are due.
    pub fn supervise(&mut self) -> anyhow::Result<()> {
        let now = Instant::now();
        for child in &mut self.children {
            if let Some(due) = child.restart_at {
                if now < due {
                    continue;
                }
                let Some(spec) = child.spec.clone() else {
                    continue;
                };
                child.process = spawn_role(&spec)?;
                child.started = now;
                child.restart_at = None;
                eprintln!("fff up: {} restarted", child.name);
                continue;
            }
            let Some(status) = child.process.try_wait()? else {
                continue;
            };
            if child.spec.is_none() {
                bail!(
                    "{} exited ({status}); see .fff/logs/{}.log",
                    child.name,
                    child.name
                );
            }
            if now.duration_since(child.started) >= STABLE_AFTER {
                child.backoff = RESTART_MIN;
            }
            let wait = child.backoff;
            child.backoff = (child.backoff * 2).min(RESTART_MAX);
            child.restart_at = Some(now + wait);
            eprintln!(
                "fff up: {} exited ({status}); restarting in {wait:?}; see .fff/logs/{}.log",
                child.name, child.name
            );
        }
        Ok(())
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        for child in &mut self.children {
            if let Some(status) = child.process.try_wait()? {
                bail!(
                    "{} exited ({status}); see .fff/logs/{}.log",
                    child.name,
                    child.name
                );
            }
        }
        Ok(())
    }

    /// SIGTERM to every child in reverse start order, each given `grace` to drain, then killed.
    pub async fn stop_all(&mut self, grace: Duration) {
        while let Some(mut child) = self.children.pop() {
            if let Some(pid) = child.process.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
            if tokio::time::timeout(grace, child.process.wait())
                .await
                .is_err()
            {
                eprintln!(
                    "fff up: {} did not stop within {grace:?}; killing it",
                    child.name
                );
                let _ = child.process.kill().await;
            }
        }
    }
}
