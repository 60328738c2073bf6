use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fff_testkit::{cluster_dir, test_database, test_database_blocking, wait_until};
use sqlx::{Connection as _, PgConnection};

const CHILD_TEST: &str = "postgres::child_holds_cluster";
const SHARED_CHILD_TEST: &str = "postgres::child_holds_shared_cluster";
const RELEASE_ENV: &str = "FFF_TESTKIT_RELEASE_FILE";

#[tokio::test]
async fn concurrent_databases_are_separate() {
    let (a, b) = tokio::join!(test_database(), test_database());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.name(), b.name());

    let mut conn_a = PgConnection::connect(a.url()).await.unwrap();
    let mut conn_b = PgConnection::connect(b.url()).await.unwrap();
    sqlx::raw_sql("CREATE TABLE only_in_a (x INT)")
        .execute(&mut conn_a)
        .await
        .unwrap();
    let (db_name,): (String,) = sqlx::query_as("SELECT current_database()")
        .fetch_one(&mut conn_b)
        .await
        .unwrap();
    assert_eq!(db_name, b.name());
    let (visible,): (bool,) = sqlx::query_as("SELECT to_regclass('only_in_a') IS NOT NULL")
        .fetch_one(&mut conn_b)
        .await
        .unwrap();
    assert!(
        !visible,
        "table created in one test database is visible in another"
    );
}

#[tokio::test]
async fn dropping_test_db_drops_the_database() {
    let observer = test_database().await.unwrap();
    let victim = test_database_blocking().unwrap();
    let name = victim.name().to_owned();
    // An open connection must not keep the database alive (DROP ... WITH (FORCE)).
    let _left_open = PgConnection::connect(victim.url()).await.unwrap();
    let mut conn = PgConnection::connect(observer.url()).await.unwrap();
    let exists = "SELECT count(*) FROM pg_database WHERE datname = $1";
    let (before,): (i64,) = sqlx::query_as(exists)
        .bind(&name)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(before, 1);
    drop(victim);
    let (after,): (i64,) = sqlx::query_as(exists)
        .bind(&name)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(after, 0);
}

fn child(test: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        test,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env_remove("DATABASE_URL")
    .env_remove("NEXTEST_RUN_ID");
    cmd
}

/// Value printed by a child as `KEY=value` (libtest may print the test name on the same line).
fn field(stdout: &str, key: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.split_once(key))
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_else(|| panic!("child printed no {key}: {stdout}"))
}

async fn wait_removed(dir: &Path, url: &str) {
    wait_until(Duration::from_secs(30), || {
        let gone = !dir.exists();
        async move { gone }
    })
    .await
    .unwrap_or_else(|_| panic!("{} still exists", dir.display()));
    // The postmaster removes its pid file just before it exits; allow for that moment.
    wait_until(Duration::from_secs(10), || {
        let url = url.to_owned();
        async move { PgConnection::connect(&url).await.is_err() }
    })
    .await
    .expect("server still accepts connections after its users exited");
}

/// Runs [`child_holds_cluster`] in a child process (no `DATABASE_URL`, not under nextest, so it
/// starts a private cluster) and checks that the cluster is stopped and its directory removed
/// once the child exits.
#[tokio::test]
async fn private_cluster_is_removed_after_process_exit() {
    let output = child(CHILD_TEST).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed: {stdout} {output:?}");
    let dir = PathBuf::from(field(&stdout, "CLUSTER_DIR="));
    assert!(
        dir.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("fff-pg.")
    );
    wait_removed(&dir, &field(&stdout, "CLUSTER_URL=")).await;
}

/// Two concurrent children with the same `NEXTEST_RUN_ID` share one cluster; it is removed only
/// after both have exited.
#[tokio::test]
async fn run_cluster_is_shared_and_removed_after_last_user() {
    let run_id = format!("selftest-{:016x}", rand_id());
    let release = std::env::temp_dir().join(format!("fff-testkit-release-{run_id}"));
    let spawn = || {
        child(SHARED_CHILD_TEST)
            .env("NEXTEST_RUN_ID", &run_id)
            .env(RELEASE_ENV, &release)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (mut first, mut second) = (spawn(), spawn());
    let keys = ["CLUSTER_DIR=", "CLUSTER_URL="];
    let first_fields = read_fields(&mut first, &keys);
    let second_fields = read_fields(&mut second, &keys);
    assert_eq!(
        first_fields[0], second_fields[0],
        "children of one run must share the cluster"
    );
    let dir = PathBuf::from(&first_fields[0]);
    let url = first_fields[1].clone();

    std::fs::write(&release, b"").unwrap();
    assert!(first.wait().unwrap().success());
    assert!(second.wait().unwrap().success());
    std::fs::remove_file(&release).unwrap();
    wait_removed(&dir, &url).await;
    // The watchdog removes the directory first and its lock file last; wait for the whole
    // teardown rather than sample it between two of its steps.
    let stem = dir.to_string_lossy().into_owned();
    for leftover in ["lock", "users", "url"] {
        let path = PathBuf::from(format!("{stem}.{leftover}"));
        wait_until(Duration::from_secs(10), || {
            let gone = !path.exists();
            async move { gone }
        })
        .await
        .unwrap_or_else(|_| panic!("{} left behind", path.display()));
    }
}

fn rand_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    u64::from(std::process::id()) << 32 | u64::from(nanos)
}

/// Reads the child's stdout until every key has been printed; returns the values in key order.
/// One reader for all keys: a reader dropped between keys would lose what it had buffered.
fn read_fields(child: &mut std::process::Child, keys: &[&str]) -> Vec<String> {
    let mut reader = BufReader::new(child.stdout.as_mut().unwrap());
    let mut values: Vec<Option<String>> = vec![None; keys.len()];
    let mut seen = String::new();
    let mut line = String::new();
    while values.iter().any(Option::is_none) {
        line.clear();
        let n = reader.read_line(&mut line).unwrap();
        assert!(n > 0, "child exited without printing {keys:?}: {seen}");
        seen.push_str(&line);
        for (key, value) in keys.iter().zip(values.iter_mut()) {
            if let Some((_, found)) = line.split_once(key) {
                *value = Some(found.trim().to_owned());
            }
        }
    }
    values.into_iter().flatten().collect()
}

#[tokio::test]
#[ignore = "helper: run in a child process by private_cluster_is_removed_after_process_exit"]
async fn child_holds_cluster() {
    let db = test_database().await.unwrap();
    let dir = cluster_dir().expect("no cluster although DATABASE_URL is unset");
    assert!(dir.join("data").is_dir());
    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    sqlx::raw_sql("SELECT 1").execute(&mut conn).await.unwrap();
    println!("CLUSTER_DIR={}", dir.display());
    println!("CLUSTER_URL={}", db.url());
    // Leave the connection and the database in place: the watchdog must clean up regardless.
    std::mem::forget(db);
    std::mem::forget(conn);
}

#[tokio::test]
#[ignore = "helper: run in child processes by run_cluster_is_shared_and_removed_after_last_user"]
async fn child_holds_shared_cluster() {
    let release = PathBuf::from(std::env::var(RELEASE_ENV).unwrap());
    let db = test_database().await.unwrap();
    let dir = cluster_dir().unwrap();
    println!("CLUSTER_DIR={}", dir.display());
    println!("CLUSTER_URL={}", db.url());
    wait_until(Duration::from_secs(60), || {
        let released = release.exists();
        async move { released }
    })
    .await
    .unwrap();
    // The other child may still use the cluster: its data must be intact.
    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    sqlx::raw_sql("SELECT 1").execute(&mut conn).await.unwrap();
}
