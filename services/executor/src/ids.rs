//! Deterministic client order ids: `fff<position>-<leg><step>`, e.g. `fff42-Pe0` (perp entry
//! slice 0), `fff42-Se0r1` (spot hedge of slice 0, attempt 1), `fff42-Pu0` (unwind), `fff42-Pm7`
//! (post-only exit order, the position's 8th order). The same
//! (position, leg, step) always yields the same id, so a retried send after a crash is
//! deduplicated by the gateway and by `orders.client_order_id`. Binance allows 36 characters
//! of `[.A-Z:/a-z0-9_-]`.

use fff_store::Leg;

/// What an order does for its position; part of the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Entry slice.
    Entry(u32),
    /// Hedge of an entry slice, attempt n.
    Hedge(u32, u32),
    /// Unwind of a slice whose hedge failed, attempt n.
    Unwind(u32, u32),
    /// Drift correction n.
    Adjust(u32),
    /// Exit order n taking liquidity (limit IOC or market).
    Exit(u32),
    /// Exit order n resting post-only (maker) for a staged exit slice.
    ExitMaker(u32),
    /// Reduction n (risk directive).
    Reduce(u32),
}

pub fn client_order_id(position_id: i64, leg: Leg, step: Step) -> String {
    let leg = match leg {
        Leg::Spot => 'S',
        Leg::Perp => 'P',
    };
    let step = match step {
        Step::Entry(i) => format!("e{i}"),
        Step::Hedge(i, attempt) => format!("e{i}r{attempt}"),
        Step::Unwind(i, 0) => format!("u{i}"),
        Step::Unwind(i, attempt) => format!("u{i}r{attempt}"),
        Step::Adjust(i) => format!("a{i}"),
        Step::Exit(i) => format!("x{i}"),
        Step::ExitMaker(i) => format!("m{i}"),
        Step::Reduce(i) => format!("d{i}"),
    };
    format!("fff{position_id}-{leg}{step}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_distinct_and_binance_valid() {
        let a = client_order_id(42, Leg::Perp, Step::Entry(0));
        assert_eq!(a, "fff42-Pe0");
        assert_eq!(a, client_order_id(42, Leg::Perp, Step::Entry(0)));
        let steps = [
            Step::Entry(1),
            Step::Hedge(1, 0),
            Step::Hedge(1, 1),
            Step::Unwind(1, 0),
            Step::Unwind(1, 1),
            Step::Adjust(1),
            Step::Exit(1),
            Step::ExitMaker(1),
            Step::Reduce(1),
        ];
        let mut seen = std::collections::HashSet::new();
        for leg in [Leg::Spot, Leg::Perp] {
            for step in steps {
                let id = client_order_id(i64::MAX, leg, step);
                assert!(id.len() <= 36, "{id}");
                assert!(
                    id.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".:/_-".contains(c))
                );
                assert!(seen.insert(id));
            }
        }
        // the widest exit ids still fit
        for step in [Step::Exit(u32::MAX), Step::ExitMaker(u32::MAX)] {
            let id = client_order_id(i64::MAX, Leg::Spot, step);
            assert!(id.len() <= 36, "{id}");
        }
        assert_eq!(
            client_order_id(42, Leg::Perp, Step::ExitMaker(7)),
            "fff42-Pm7"
        );
    }
}
