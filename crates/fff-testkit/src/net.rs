//! Loopback port allocation.

use std::net::{Ipv4Addr, TcpListener};

/// Returns a loopback TCP port that the kernel reported free.
///
/// The port is released before returning, so another process may grab it in between; callers that
/// can bind port 0 themselves should prefer that and read the bound address back.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
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
}
