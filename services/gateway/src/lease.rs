//! One gateway sends for an account: with a database configured, the instance that holds the
//! `fff-gateway` lease (a PostgreSQL advisory lock, `fff_store::Lease`) is the only one that
//! places or cancels orders, borrows, repays or transfers. A second instance (a Kubernetes
//! replacement pod started before the old one is gone) serves nothing and reports NOT_SERVING
//! until the lease is free; an instance that loses it refuses every such call at once, even
//! an order already waiting in the rate-limit queue.
//!
//! Without a database there is nothing to hold a lease in: the gateway sends, and says so.

use std::sync::Arc;
use std::time::Duration;

use fff_runtime::grpc::HealthHandle;
use tokio_util::sync::CancellationToken;

use crate::state::Gateway;

/// The lease's name; one database serves one account.
pub const LEASE: &str = "fff-gateway";
/// How often the holder checks its lease, and a waiting instance retries.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// The refusal of a call that would change the account, from an instance without the lease.
pub const NOT_HELD: &str = "this gateway does not hold the writer lease (another instance trades the account); \
     nothing was sent";

/// Waits for the lease, lets the gateway send while it is held, and on losing it stops
/// sending at once and waits for it again. Returns when `cancel` fires.
pub async fn hold(
    gateway: Arc<Gateway>,
    options: fff_store::PgConnectOptions,
    health: HealthHandle,
    cancel: CancellationToken,
) {
    loop {
        let waiting = std::time::Instant::now();
        let mut lease = tokio::select! {
            () = cancel.cancelled() => return,
            lease = fff_store::Lease::acquire(&options, LEASE, CHECK_EVERY) => lease,
        };
        tracing::info!(
            lease = LEASE,
            waited_ms = waiting.elapsed().as_millis() as u64,
            "writer lease acquired"
        );
        gateway.set_writer(true, &health).await;
        let lost = loop {
            tokio::select! {
                () = cancel.cancelled() => break false,
                () = tokio::time::sleep(CHECK_EVERY) => {
                    if !lease.alive(CHECK_EVERY).await {
                        break true;
                    }
                }
            }
        };
        gateway.set_writer(false, &health).await;
        if !lost {
            return;
        }
        tracing::error!(
            lease = LEASE,
            "writer lease lost: refusing orders, loans and transfers until it is held again"
        );
        drop(lease);
    }
}
