//! Polling helpers with a deadline: the replacement for `sleep` in tests.

use std::future::Future;
use std::time::{Duration, Instant};

const FIRST_INTERVAL: Duration = Duration::from_millis(5);
const MAX_INTERVAL: Duration = Duration::from_millis(200);

/// Polls `poll` until it returns `Some`, backing off from 5 ms to 200 ms between attempts.
/// Fails once `timeout` has elapsed; `poll` always runs at least once.
pub async fn wait_for<T, F, Fut>(timeout: Duration, mut poll: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut interval = FIRST_INTERVAL;
    loop {
        if let Some(value) = poll().await {
            return Ok(value);
        }
        let now = Instant::now();
        if now >= deadline {
            anyhow::bail!("condition not met within {timeout:?}");
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
        interval = (interval * 2).min(MAX_INTERVAL);
    }
}

/// Polls `poll` until it returns `true`; see [`wait_for`].
pub async fn wait_until<F, Fut>(timeout: Duration, mut poll: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(timeout, || {
        let attempt = poll();
        async move { attempt.await.then_some(()) }
    })
    .await
}

/// Blocking variant of [`wait_until`] for synchronous tests (never call it on a runtime thread).
pub fn wait_until_blocking(
    timeout: Duration,
    mut poll: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut interval = FIRST_INTERVAL;
    loop {
        if poll() {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            anyhow::bail!("condition not met within {timeout:?}");
        }
        std::thread::sleep(interval.min(deadline - now));
        interval = (interval * 2).min(MAX_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn wait_for_returns_value_once_ready() {
        let calls = Arc::new(AtomicU32::new(0));
        let value = wait_for(Duration::from_secs(5), || {
            let calls = Arc::clone(&calls);
            async move {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                (n >= 3).then_some(n)
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 3);
    }

    #[tokio::test]
    async fn wait_until_times_out() {
        let started = Instant::now();
        let err = wait_until(Duration::from_millis(50), || async { false })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not met"), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn blocking_variant_polls_until_true() {
        let mut n = 0;
        wait_until_blocking(Duration::from_secs(5), || {
            n += 1;
            n == 4
        })
        .unwrap();
        assert_eq!(n, 4);
        assert!(wait_until_blocking(Duration::from_millis(20), || false).is_err());
    }
}
