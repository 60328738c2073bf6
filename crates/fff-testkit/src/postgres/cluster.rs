//! Throwaway PostgreSQL clusters (STACK.md section 3, recipe A), removed when no test process
//! uses them any more.
//!
//! Statics are never dropped, so cleanup cannot live in `Drop`; a watchdog `sh` process does it,
//! in its own process group so a Ctrl-C aimed at the test run does not kill it first.
//!
//! - Private (default): one cluster per test process. The watchdog blocks reading a pipe whose
//!   only write end this process holds; when the process exits for any reason (even SIGKILL) the
//!   kernel closes it, the read returns, and the watchdog stops the server and deletes the dir.
//! - Shared (under cargo-nextest, which runs every test in its own process): all processes of one
//!   `NEXTEST_RUN_ID` share a cluster, so each test does not pay for `initdb`. Each process holds
//!   a shared `flock` on a users file for its lifetime; the watchdog waits for an exclusive lock
//!   on it (no users left), then tears down under the start-up lock.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::{Context as _, bail};

const PG_ROOT: &str = "/usr/lib/postgresql";
const START_ATTEMPTS: usize = 3;

// Shared by both watchdogs: stop the server in $dir (if running) and wait for it to exit.
// `pg_ctl stop -w` is not used: the postmaster is not our child, and until init reaps it the
// zombie looks alive to pg_ctl. The postmaster deletes postmaster.pid on exit, so wait for that.
const STOP_SERVER: &str = r#"
stop_server() {
  if [ -f "$dir/data/postmaster.pid" ]; then
    "$@" "$pgbin/pg_ctl" -D "$dir/data" -m immediate -W stop >/dev/null 2>&1
    n=0
    while [ -f "$dir/data/postmaster.pid" ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done
  fi
}
"#;

// args: dir pgbin [run-as prefix...]; stdin: the pipe from the test process
const PRIVATE_WATCHDOG: &str = r#"
trap '' INT HUP TERM
dir=$1; pgbin=$2; shift 2
cat >/dev/null
stop_server "$@"
rm -rf "$dir"
"#;

// args: lockfile usersfile dir urlfile pgbin [run-as prefix...]
const SHARED_WATCHDOG: &str = r#"
trap '' INT HUP TERM
lock=$1; users=$2; dir=$3; url=$4; pgbin=$5; shift 5
while :; do
  flock -x "$users" true
  exec 8>>"$lock"
  flock -x 8
  # a process may have joined between the two locks
  if flock -xn "$users" true; then
    stop_server "$@"
    rm -rf "$dir" "$url" "$users"
    rm -f "$lock"
    exit 0
  fi
  exec 8>&-
done
"#;

pub(super) struct Cluster {
    dir: PathBuf,
    admin_url: String,
    _hold: Hold,
}

/// What keeps the cluster alive while this process runs; released by the kernel at exit.
enum Hold {
    Private { _pipe: ChildStdin, _watchdog: Child },
    Shared { _users: File },
}

struct PgTools {
    bin: PathBuf,
    run_as: &'static [&'static str],
}

impl Cluster {
    pub(super) fn start() -> anyhow::Result<Self> {
        let tools = PgTools::find()?;
        match std::env::var("NEXTEST_RUN_ID") {
            Ok(run_id) if !run_id.is_empty() => start_shared(&tools, &run_id),
            _ => start_private(&tools),
        }
    }

    pub(super) fn admin_url(&self) -> &str {
        &self.admin_url
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }
}

fn start_private(tools: &PgTools) -> anyhow::Result<Cluster> {
    let dir = tempfile::Builder::new()
        .prefix("fff-pg.")
        .tempdir()
        .context("create cluster temp dir")?
        .keep();
    // Started before initdb so that a failure half-way is cleaned up too.
    let mut watchdog = watchdog_command(PRIVATE_WATCHDOG)
        .arg(&dir)
        .arg(&tools.bin)
        .args(tools.run_as)
        .stdin(Stdio::piped())
        .spawn()
        .context("spawn cluster watchdog")?;
    let pipe = watchdog
        .stdin
        .take()
        .context("watchdog stdin was not captured")?;
    let admin_url = init_and_start(tools, &dir)?;
    Ok(Cluster {
        dir,
        admin_url,
        _hold: Hold::Private {
            _pipe: pipe,
            _watchdog: watchdog,
        },
    })
}

fn start_shared(tools: &PgTools, run_id: &str) -> anyhow::Result<Cluster> {
    let key: String = run_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    let stem = std::env::temp_dir().join(format!("fff-pg-run-{key}"));
    let with_ext = |ext: &str| stem.with_extension(ext);
    let (dir, lock_path, users_path, url_path) = (
        stem.clone(),
        with_ext("lock"),
        with_ext("users"),
        with_ext("url"),
    );

    let start_lock = lock_exclusive(&lock_path)?;
    let users = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&users_path)
        .context("open cluster users file")?;
    users.lock_shared().context("lock cluster users file")?;

    if let Ok(admin_url) = fs::read_to_string(&url_path)
        && dir.join("data/postmaster.pid").exists()
    {
        drop(start_lock);
        return Ok(Cluster {
            dir,
            admin_url,
            _hold: Hold::Shared { _users: users },
        });
    }

    if dir.exists() {
        fs::remove_dir_all(&dir).context("remove stale cluster dir")?;
    }
    fs::create_dir(&dir).context("create cluster dir")?;
    let admin_url = match init_and_start(tools, &dir) {
        Ok(url) => url,
        Err(err) => {
            // No watchdog yet: clean up here so the next process starts from scratch.
            let _ = command(tools.run_as, &tools.bin.join("pg_ctl"))
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-m", "immediate", "stop"])
                .output();
            let _ = fs::remove_dir_all(&dir);
            return Err(err);
        }
    };
    fs::write(&url_path, &admin_url).context("write cluster url file")?;
    watchdog_command(SHARED_WATCHDOG)
        .arg(&lock_path)
        .arg(&users_path)
        .arg(&dir)
        .arg(&url_path)
        .arg(&tools.bin)
        .args(tools.run_as)
        .stdin(Stdio::null())
        .spawn()
        .context("spawn cluster watchdog")?;
    drop(start_lock);
    Ok(Cluster {
        dir,
        admin_url,
        _hold: Hold::Shared { _users: users },
    })
}

/// Takes an exclusive `flock` on `path`, retrying if the file was unlinked (by a watchdog
/// finishing a teardown) between opening and locking it.
fn lock_exclusive(path: &Path) -> anyhow::Result<File> {
    loop {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .context("open cluster lock file")?;
        file.lock().context("lock cluster lock file")?;
        let locked = file.metadata()?;
        match fs::metadata(path) {
            Ok(current) if current.ino() == locked.ino() && current.dev() == locked.dev() => {
                return Ok(file);
            }
            _ => continue,
        }
    }
}

/// Creates the cluster in `dir` (which must exist) and starts it; returns the maintenance URL.
fn init_and_start(tools: &PgTools, dir: &Path) -> anyhow::Result<String> {
    if !tools.run_as.is_empty() {
        // initdb and postgres refuse to run as root; the cluster belongs to `postgres`.
        run(Command::new("chown").arg("postgres:postgres").arg(dir))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    let data = dir.join("data");
    run(command(tools.run_as, &tools.bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
        .args(["--locale=C.UTF-8", "--no-sync"]))
    .context("initdb")?;

    let mut last_error = None;
    for _ in 0..START_ATTEMPTS {
        // The port can be taken between probing and binding; a retry picks another.
        let port = crate::free_port()?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            dir.display()
        );
        let started = run(command(tools.run_as, &tools.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]));
        match started {
            Ok(()) => return Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres")),
            Err(e) => last_error = Some(e.context(server_log_tail(dir))),
        }
    }
    Err(last_error
        .unwrap_or_else(|| anyhow::anyhow!("no start attempt made"))
        .context("pg_ctl start"))
}

impl PgTools {
    fn find() -> anyhow::Result<Self> {
        let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(PG_ROOT)
            .with_context(|| format!("read {PG_ROOT}: is postgresql installed?"))?
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
                let bin = entry.path().join("bin");
                bin.join("initdb").exists().then_some((version, bin))
            })
            .collect();
        versions.sort();
        let Some((_, bin)) = versions.pop() else {
            bail!("no {PG_ROOT}/<version>/bin/initdb found");
        };
        // /proc/self is owned by the process's effective uid.
        let root = fs::metadata("/proc/self")?.uid() == 0;
        let run_as: &'static [&'static str] = if root {
            &["runuser", "-u", "postgres", "--"]
        } else {
            &[]
        };
        Ok(Self { bin, run_as })
    }
}

fn command(run_as: &[&str], program: &Path) -> Command {
    match run_as.split_first() {
        Some((first, rest)) => {
            let mut cmd = Command::new(first);
            cmd.args(rest).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

fn watchdog_command(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("{STOP_SERVER}{script}"))
        .arg("fff-pg-watchdog")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    cmd
}

/// Runs a command to completion with its output in a file, not a pipe: the postmaster started by
/// `pg_ctl` must not inherit a pipe we wait on.
fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let mut log = tempfile::tempfile().context("create command log")?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .status()
        .with_context(|| format!("run {:?}", cmd.get_program()))?;
    if status.success() {
        return Ok(());
    }
    let mut output = String::new();
    log.seek(SeekFrom::Start(0))?;
    log.read_to_string(&mut output)?;
    bail!(
        "{:?} failed ({status}): {}",
        cmd.get_program(),
        output.trim()
    )
}

fn server_log_tail(dir: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(dir.join("server.log")) {
        let _ = file.read_to_string(&mut text);
    }
    let tail: Vec<&str> = text.lines().rev().take(10).collect();
    format!(
        "server log tail: {}",
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    )
}
