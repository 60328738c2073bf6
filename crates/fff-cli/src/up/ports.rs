//! Ports of `fff up`: `--base-port N` moves the simulator, the five roles and the private
//! PostgreSQL together (N, N+1..N+5, N+6), and every port is checked before anything starts,
//! so a busy one is named instead of surfacing as a child's start-up failure.

use std::net::{SocketAddr, TcpListener};

use fff_runtime::{FffConfig, Role};

use crate::cli::UpArgs;

/// Roles in port order after the simulator.
const ROLES: [Role; 5] = [
    Role::Gateway,
    Role::Scanner,
    Role::Executor,
    Role::Risk,
    Role::Rebalancer,
];

/// `args` with `--base-port` applied (before the caller's own `--set`, which still win).
pub fn apply_base_port(args: &UpArgs) -> anyhow::Result<UpArgs> {
    let Some(base) = args.base_port else {
        return Ok(args.clone());
    };
    if base.checked_add(6).is_none() || base == 0 {
        anyhow::bail!("--base-port {base}: need 1..=65529 (seven ports from it)");
    }
    let mut moved = args.clone();
    moved.sim_listen = SocketAddr::from(([127, 0, 0, 1], base));
    moved.postgres_port = base + 6;
    let mut overrides = Vec::new();
    for (offset, role) in (1u16..).zip(ROLES) {
        let port = base + offset;
        overrides.push(format!("server.ports.{role}={port}"));
        let key = if role == Role::Scanner {
            "services.scanners".to_owned()
        } else {
            format!("services.{role}")
        };
        overrides.push(format!("{key}=http://127.0.0.1:{port}"));
    }
    overrides.extend(args.overrides.iter().cloned());
    moved.overrides = overrides;
    Ok(moved)
}

/// Fails naming the first busy port.
pub fn check_free(args: &UpArgs, config: &FffConfig, local_postgres: bool) -> anyhow::Result<()> {
    let mut wanted: Vec<(String, SocketAddr)> = vec![("simulator".into(), args.sim_listen)];
    for role in ROLES {
        wanted.push((role.to_string(), config.server.listen_addr(role)));
    }
    if local_postgres {
        wanted.push((
            "PostgreSQL".into(),
            SocketAddr::from(([127, 0, 0, 1], args.postgres_port)),
        ));
    }
    for (what, addr) in wanted {
        if let Err(error) = TcpListener::bind(addr) {
            anyhow::bail!(
                "port {addr} for the {what} is busy ({error}); stop what uses it, or move the \
                 whole suite with --base-port N (simulator on N, roles on N+1..N+5, PostgreSQL \
                 on N+6)"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_port_moves_everything_and_own_overrides_still_win() {
        let args = UpArgs {
            config: None,
            overrides: vec!["server.ports.risk=9999".into()],
            sim_config: None,
            sim_listen: "127.0.0.1:8765".parse().unwrap(),
            accelerate: None,
            postgres_port: 55432,
            base_port: Some(40000),
        };
        let moved = apply_base_port(&args).unwrap();
        assert_eq!(moved.sim_listen.port(), 40000);
        assert_eq!(moved.postgres_port, 40006);
        assert!(
            moved
                .overrides
                .contains(&"server.ports.gateway=40001".to_owned())
        );
        assert!(
            moved
                .overrides
                .contains(&"services.scanners=http://127.0.0.1:40002".to_owned())
        );
        assert_eq!(moved.overrides.last().unwrap(), "server.ports.risk=9999");
        assert!(
            apply_base_port(&UpArgs {
                base_port: Some(65530),
                ..args
            })
            .is_err()
        );
    }

    #[test]
    fn a_busy_port_is_named() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let args = UpArgs {
            config: None,
            overrides: vec![],
            sim_config: None,
            sim_listen: taken.local_addr().unwrap(),
            accelerate: None,
            postgres_port: 55432,
            base_port: None,
        };
        let config = FffConfig::default();
        let error = check_free(&args, &config, false).unwrap_err().to_string();
        assert!(error.contains("for the simulator is busy"), "{error}");
        assert!(error.contains("--base-port"), "{error}");
    }
}
