//! Shutdown: a future for SIGTERM/SIGINT and a cloneable handle that background tasks watch.

use std::future::Future;

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Environment variable `fff up` sets on its children: its own pid. A child whose parent
/// changes (the supervisor was SIGKILLed and the child re-parented) shuts down, so no role
/// outlives its suite. Portable and without `unsafe`, unlike a parent-death signal.
pub const PARENT_PID_ENV: &str = "FFF_PARENT_PID";

/// Resolves when the process named by [`PARENT_PID_ENV`] is no longer this process's parent;
/// never without the variable.
async fn parent_gone() {
    #[cfg(unix)]
    if let Some(expected) = std::env::var(PARENT_PID_ENV)
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        loop {
            if std::os::unix::process::parent_id() != expected {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
    std::future::pending::<()>().await;
}

/// Resolves on the first SIGTERM or SIGINT (Ctrl-C). If a handler cannot be installed, that
/// signal is ignored and a warning is logged, so the other still works.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for sigint");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for sigterm");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!(signal = "sigint", "shutdown requested"),
        () = terminate => tracing::info!(signal = "sigterm", "shutdown requested"),
        () = parent_gone() => tracing::warn!("supervisor gone (fff up was killed): shutting down"),
    }
}

/// Shutdown wired to the process signals: the first SIGTERM/SIGINT triggers the returned handle
/// (graceful drain); a second one exits the process at once with status 130, for an operator
/// who does not want to wait for the grace period. Call inside a tokio runtime.
pub fn on_signals() -> Shutdown {
    let shutdown = Shutdown::from_signal(shutdown_signal());
    let watcher = shutdown.clone();
    tokio::spawn(async move {
        watcher.cancelled().await;
        shutdown_signal().await;
        tracing::warn!("second signal, exiting without waiting for the drain");
        std::process::exit(130);
    });
    shutdown
}

/// A cloneable shutdown handle: trigger it once, every clone sees it.
///
/// Roles create one, pass `shutdown.wait()` to the gRPC server and clones to background loops
/// (`select!` on [`Shutdown::cancelled`]); [`Shutdown::child`] gives a handle that can also be
/// cancelled on its own.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// A handle that triggers when `signal` resolves (e.g. [`shutdown_signal`] or the future
    /// a role's `run` received). The watcher task ends with the signal.
    pub fn from_signal(signal: impl Future<Output = ()> + Send + 'static) -> Self {
        let shutdown = Self::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = signal => trigger.trigger(),
                () = trigger.cancelled() => {}
            }
        });
        shutdown
    }

    /// Starts shutdown; idempotent.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once shutdown has been triggered.
    pub async fn cancelled(&self) {
        self.token.cancelled().await;
    }

    /// An owned `'static` future resolving on shutdown, for `serve(listener, shutdown.wait())`.
    pub fn wait(&self) -> WaitForCancellationFutureOwned {
        self.token.clone().cancelled_owned()
    }

    /// A handle cancelled with this one, which can also be cancelled alone.
    pub fn child(&self) -> Shutdown {
        Shutdown {
            token: self.token.child_token(),
        }
    }

    /// The underlying token, for APIs that take one.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clones_and_children_see_the_trigger() {
        let shutdown = Shutdown::new();
        let clone = shutdown.clone();
        let child = shutdown.child();
        let waiter = tokio::spawn(clone.wait());
        assert!(!child.is_triggered());
        shutdown.trigger();
        waiter.await.unwrap();
        assert!(child.is_triggered());
        // a child alone does not stop the parent
        let parent = Shutdown::new();
        parent.child().trigger();
        assert!(!parent.is_triggered());
    }

    #[tokio::test]
    async fn from_signal_triggers_when_the_future_resolves() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown = Shutdown::from_signal(async move {
            let _ = rx.await;
        });
        assert!(!shutdown.is_triggered());
        tx.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), shutdown.cancelled())
            .await
            .unwrap();
    }
}
