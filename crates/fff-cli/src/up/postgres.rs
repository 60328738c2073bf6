//! The private PostgreSQL cluster of `fff up`: initialised once under `.fff/postgres/` from the
//! local PostgreSQL installation, started on a loopback port, kept between runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

/// Name of the database `fff up` creates in its private cluster.
const DATABASE: &str = "fff";

/// A cluster this process started (stopped on drop of the suite) or found running.
#[derive(Debug)]
pub struct LocalPostgres {
    bin: PathBuf,
    data: PathBuf,
    pub port: u16,
    started_here: bool,
}

impl LocalPostgres {
    /// `postgres://postgres@127.0.0.1:PORT/fff` (trust auth on loopback only).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// Initialises (first run) and starts the cluster under `home/postgres`.
    pub fn start(home: &Path, port: u16) -> anyhow::Result<Self> {
        let bin = postgres_bin()?;
        let root = home.join("postgres");
        let data = root.join("data");
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        let as_postgres = is_root();
        if as_postgres {
            // PostgreSQL refuses to run as root: the cluster belongs to the `postgres` user, who
            // must be able to traverse `.fff` (the token file inside stays 0600).
            chmod(home, 0o711)?;
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&root))?;
        }
        if !data.join("PG_VERSION").exists() {
            eprintln!("fff up: initialising PostgreSQL in {}", data.display());
            run(pg_command(&bin, "initdb", as_postgres)
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]))?;
        }
        let mut cluster = Self {
            bin,
            data,
            port,
            started_here: false,
        };
        if !cluster.running() {
            let log = root.join("server.log");
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1",
                root.canonicalize()?.display()
            );
            run(pg_command(&cluster.bin, "pg_ctl", as_postgres)
                .arg("-D")
                .arg(&cluster.data)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "-o", &options, "start"]))
            .with_context(|| format!("PostgreSQL did not start; see {}", log.display()))?;
            cluster.started_here = true;
        }
        cluster.create_database()?;
        Ok(cluster)
    }

    fn running(&self) -> bool {
        pg_command(&self.bin, "pg_ctl", is_root())
            .arg("-D")
            .arg(&self.data)
            .arg("status")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn create_database(&self) -> anyhow::Result<()> {
        let exists = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args([
                "-tAc",
                &format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"),
            ])
            .output()
            .context("cannot run psql")?;
        if String::from_utf8_lossy(&exists.stdout).trim() == "1" {
            return Ok(());
        }
        run(Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-c", &format!("CREATE DATABASE {DATABASE}")]))
    }

    /// Stops the cluster if this process started it (fast shutdown: sessions are closed).
    pub fn stop(&self) {
        if !self.started_here {
            return;
        }
        let _ = pg_command(&self.bin, "pg_ctl", is_root())
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .status();
    }
}

fn postgres_bin() -> anyhow::Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| dir.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    candidates.retain(|p| p.join("initdb").exists());
    // Highest major version first ("9" < "15" numerically, not lexically).
    candidates.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    match candidates.pop() {
        Some(bin) => Ok(bin),
        None => bail!(
            "no PostgreSQL server under /usr/lib/postgresql: install it (apt-get install postgresql) or set DATABASE_URL"
        ),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn pg_command(bin: &Path, tool: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        command
    } else {
        Command::new(bin.join(tool))
    }
}

fn chmod(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", path.display()))
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{:?} failed: {}",
            command.get_program(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
