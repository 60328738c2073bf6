//! Loopback port allocation.
//!
//! Ports handed to child processes are chosen below the kernel's ephemeral range (32768+ on
//! Linux) and never twice in one test process. Asking the kernel for port 0 and releasing it
//! raced twice in CI: two calls returned the same port (a role's config then named it twice),
//! and a released ephemeral port can be taken by any outgoing connection of a parallel test
//! before the child binds it.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};

/// Ports handed out come from `[LOW, LOW + SPAN)`, under the ephemeral range.
const LOW: u32 = 20_000;
const SPAN: u32 = 12_000;

/// Returns a loopback TCP port that was free a moment ago and that this process has not handed
/// out before.
///
/// The port is released before returning, so another process may grab it in between; callers that
/// can bind port 0 themselves should prefer that and read the bound address back.
pub fn free_port() -> anyhow::Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    // Each test process starts at its own offset (by pid) so that two processes rarely walk the
    // same ports; within a process the counter makes every port unique.
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7_919) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let offset = NEXT.fetch_add(1, Ordering::SeqCst) % SPAN;
        let port = u16::try_from(LOW + offset)?;
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no free loopback port in {LOW}..{}", LOW + SPAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_can_be_bound() {
        let port = free_port().unwrap();
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }

    #[test]
    fn free_ports_are_unique_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..500).map(|_| free_port().unwrap()).collect();
        let unique: std::collections::BTreeSet<_> = ports.iter().collect();
        assert_eq!(unique.len(), ports.len());
        assert!(ports.iter().all(|&p| (20_000..32_000).contains(&p)));
    }
}
