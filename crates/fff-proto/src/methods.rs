//! The union of every service's `MUTATING_METHODS`, for an auth layer that
//! guards all services with one check.

use crate::fff::{executor, gateway, rebalancer, risk, scanner};

/// Every service's mutating-method list.
pub const ALL_MUTATING_METHODS: &[&[&str]] = &[
    gateway::v1::MUTATING_METHODS,
    scanner::v1::MUTATING_METHODS,
    executor::v1::MUTATING_METHODS,
    risk::v1::MUTATING_METHODS,
    rebalancer::v1::MUTATING_METHODS,
];

/// True if `path` (an HTTP/2 `:path` such as `/fff.gateway.v1.Gateway/PlaceOrder`)
/// is a state-changing fff method. Unknown paths are not mutating; an auth layer
/// that must fail closed should check the path against the descriptor set too.
pub fn is_mutating(path: &str) -> bool {
    ALL_MUTATING_METHODS
        .iter()
        .any(|methods| methods.contains(&path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use prost_types::FileDescriptorSet;
    use std::collections::BTreeSet;

    /// Every `/package.Service/Method` path declared in the descriptor set.
    fn descriptor_methods() -> BTreeSet<String> {
        let fds = FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET).unwrap();
        let mut paths = BTreeSet::new();
        for file in &fds.file {
            for service in &file.service {
                for method in &service.method {
                    paths.insert(format!(
                        "/{}.{}/{}",
                        file.package(),
                        service.name(),
                        method.name()
                    ));
                }
            }
        }
        paths
    }

    #[test]
    fn every_mutating_method_exists_in_the_descriptor_set() {
        let known = descriptor_methods();
        for methods in ALL_MUTATING_METHODS {
            for method in *methods {
                assert!(known.contains(*method), "{method} is not a declared rpc");
            }
        }
    }

    #[test]
    fn mutating_lists_have_no_duplicates() {
        let all: Vec<&str> = ALL_MUTATING_METHODS
            .iter()
            .flat_map(|m| m.iter().copied())
            .collect();
        let unique: BTreeSet<&str> = all.iter().copied().collect();
        assert_eq!(all.len(), unique.len());
    }

    #[test]
    fn is_mutating_separates_writes_from_reads() {
        assert!(is_mutating("/fff.gateway.v1.Gateway/PlaceOrder"));
        assert!(is_mutating("/fff.executor.v1.Executor/Pause"));
        assert!(is_mutating("/fff.rebalancer.v1.Rebalancer/TriggerNow"));
        assert!(!is_mutating("/fff.gateway.v1.Gateway/GetAccount"));
        assert!(!is_mutating("/fff.scanner.v1.Scanner/ListOpportunities"));
        assert!(!is_mutating("/fff.gateway.v1.Gateway/placeorder"));
    }

    /// Guards against adding a write RPC without listing it: every method whose
    /// name starts with a read verb is read-only, every other one must be listed.
    #[test]
    fn every_non_read_method_is_listed_as_mutating() {
        const READ_PREFIXES: &[&str] = &["/Get", "/List", "/Stream", "/Explain"];
        for path in descriptor_methods() {
            let Some(name_at) = path.rfind('/') else {
                panic!("malformed path {path}");
            };
            let is_read = READ_PREFIXES.iter().any(|p| path[name_at..].starts_with(p));
            assert_eq!(is_mutating(&path), !is_read, "{path}");
        }
    }
}
