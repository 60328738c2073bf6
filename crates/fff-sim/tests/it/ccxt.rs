//! ccxt conformance: the unmodified Python `ccxt.binance` client, with API keys, against the
//! simulator (`tests/ccxt/conformance.py` at the workspace root says what it checks).
//!
//! Needs a Python with ccxt: `FFF_CCXT_PYTHON=/path/to/venv/bin/python` (set by `.ci/run`, which
//! makes the test mandatory), else `<workspace>/.venv-ccxt/bin/python` when it exists; without
//! either the test is skipped with a message.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fff_sim::{PAPER_API_KEY, PAPER_API_SECRET, SimConfig};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/fff-sim sits two levels below the workspace root")
        .to_path_buf()
}

/// The Python to run, or `None` (skip) when none is configured and no local venv exists.
fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FFF_CCXT_PYTHON").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "FFF_CCXT_PYTHON={} does not exist (.ci/run creates .venv-ccxt)",
            p.display()
        );
        return Some(p);
    }
    let local = workspace_root().join(".venv-ccxt/bin/python");
    local.exists().then_some(local)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ccxt_binance_client_with_keys_works_against_the_simulator() {
    let Some(python) = python() else {
        eprintln!(
            "SKIPPED ccxt conformance: no Python with ccxt (set FFF_CCXT_PYTHON or create \
             .venv-ccxt: python3 -m venv .venv-ccxt && .venv-ccxt/bin/pip install ccxt)"
        );
        return;
    };
    rustls::crypto::ring::default_provider()
        .install_default()
        .ok();
    let sim = fff_sim::spawn(SimConfig::default()).await.unwrap();
    let script = workspace_root().join("tests/ccxt/conformance.py");
    let child = tokio::process::Command::new(&python)
        .arg(&script)
        .args(["--base", &sim.urls.spot_rest])
        .args(["--key", PAPER_API_KEY, "--secret", PAPER_API_SECRET])
        // requests honours proxy variables; the simulator is on loopback.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let out = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .expect("ccxt conformance script still running after 300 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "ccxt conformance failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    sim.shutdown().await.unwrap();
}
