//! The "Latest run" table of docs/BENCHMARKS.md from a `fff bench --json` report
//! (`fff bench --render REPORT.json`), so the document is regenerated, not retyped.

use serde_json::Value;

/// (label, path in the report's `paths`, target at p99).
const ROWS: [(&str, &[&str], &str); 8] = [
    (
        "unhedged window at the venue: perp slice filled -> its hedge reaching the venue",
        &["unhedged_window_at_venue_us"],
        "< 2,000",
    ),
    (
        "the same, to the hedge matched (adds the simulator's auth, limits, locking)",
        &["unhedged_window_to_hedge_matched_us"],
        "-",
    ),
    (
        "the same for the top-ups after tier rounds (deleverage orders at the same time)",
        &["unhedged_window_at_venue_during_tier_rounds_us"],
        "-",
    ),
    (
        "executor: perp answer -> hedge call handed to its gRPC client",
        &["executor_internal", "unhedged_us"],
        "< 1,000",
    ),
    (
        "opportunity reaching the executor -> first perp order at the venue",
        &["opportunity_to_first_order_at_venue_us"],
        "< 10,000",
    ),
    (
        "executor in-process: opportunity -> perp handed to the gateway",
        &["executor_internal", "opportunity_to_order_us"],
        "-",
    ),
    (
        "price move into Orange at the venue -> first deleverage order at the venue",
        &["tier_change_to_first_deleverage_order_at_venue_us"],
        "< 20,000",
    ),
    (
        "mark on a gateway StreamMarket client -> snapshot on a StreamOpportunities client",
        &["scanner_mark_to_stream_opportunities_us", "stats"],
        "< 2,000",
    ),
];

/// `1234567` as `1,234,567`; `-` for a missing figure.
fn grouped(value: &Value) -> String {
    let Some(n) = value.as_i64() else {
        return "-".to_owned();
    };
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The table and the run's line (date, duration, rounds, memory).
pub fn table(report: &Value) -> String {
    let mut lines = vec![
        "| path (microseconds) | n | p50 | p90 | p99 | max | target (p99) |".to_owned(),
        "|---|---:|---:|---:|---:|---:|---|".to_owned(),
    ];
    for (label, path, target) in ROWS {
        let stats = path
            .iter()
            .fold(&report["paths"], |value, key| &value[*key]);
        lines.push(format!(
            "| {label} | {} | {} | {} | {} | {} | {target} |",
            grouped(&stats["n"]),
            grouped(&stats["p50"]),
            grouped(&stats["p90"]),
            grouped(&stats["p99"]),
            grouped(&stats["max"]),
        ));
    }
    let date = report["date"].as_str().unwrap_or("?");
    let rss = report["role_rss_kib"]
        .as_object()
        .map(|roles| {
            roles
                .iter()
                .map(|(role, kib)| format!("{role} {}", grouped(kib)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let scanner = &report["paths"]["scanner_mark_to_stream_opportunities_us"];
    lines.push(String::new());
    lines.push(format!(
        "Run {} UTC, {} s, {} entry rounds, {} venue orders; scanner rounds without a snapshot: \
         {}; tier rounds without a deleverage order: {}, with nothing to move: {}, stopped \
         early: {}. Resident memory after the rounds (KiB, still holding hedges): {rss}.",
        date.get(..16).unwrap_or(date).replace('T', " "),
        grouped(&report["wall_secs"]),
        grouped(&report["rounds"]),
        grouped(&report["venue_orders"]),
        grouped(&scanner["rounds_without_snapshot"]),
        grouped(&report["tier_rounds_without_deleverage"]),
        grouped(&report["tier_rounds_not_moved"]),
        report["tier_rounds_stopped"].as_str().unwrap_or("no"),
    ));
    let cold = &report["first_round_cold"];
    let (cold_unhedged, cold_entries) = (
        &cold["unhedged_window_at_venue_us"],
        &cold["opportunity_to_first_order_at_venue_us"],
    );
    lines.push(String::new());
    lines.push(format!(
        "The first entry round is a warm-up, not in the table (margin type and leverage set on \
         each symbol's first entry, the first wallet transfers): {} entries, opportunity -> \
         first order p50 {} max {}; {} unhedged windows, p50 {} max {}.",
        grouped(&cold_entries["n"]),
        grouped(&cold_entries["p50"]),
        grouped(&cold_entries["max"]),
        grouped(&cold_unhedged["n"]),
        grouped(&cold_unhedged["p50"]),
        grouped(&cold_unhedged["max"]),
    ));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_report_becomes_the_documents_table() {
        let stats = |n: i64, p50: i64| json!({"n": n, "p50": p50, "p90": 2 * p50, "p99": 3 * p50, "max": 1_234_567});
        let report = json!({
            "date": "2026-12-05T11:20:33.1+00:00",
            "wall_secs": 3000,
            "rounds": 67,
            "venue_orders": 4604,
            "tier_rounds_without_deleverage": 0,
            "tier_rounds_not_moved": 1,
            "tier_rounds_stopped": null,
            "first_round_cold": {
                "unhedged_window_at_venue_us": stats(9, 700),
                "opportunity_to_first_order_at_venue_us": stats(3, 9000),
            },
            "role_rss_kib": {"gateway": 26412, "risk": 19868},
            "paths": {
                "unhedged_window_at_venue_us": stats(877, 1084),
                "unhedged_window_to_hedge_matched_us": stats(877, 1300),
                "unhedged_window_at_venue_during_tier_rounds_us": stats(0, 0),
                "executor_internal": {"unhedged_us": stats(10, 12), "opportunity_to_order_us": {"n": 0, "p50": null}},
                "opportunity_to_first_order_at_venue_us": stats(200, 5311),
                "tier_change_to_first_deleverage_order_at_venue_us": stats(200, 6679),
                "scanner_mark_to_stream_opportunities_us": {"rounds_without_snapshot": 0, "stats": stats(200, 446)},
            },
        });
        let table = table(&report);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[2],
            "| unhedged window at the venue: perp slice filled -> its hedge reaching the venue | 877 | 1,084 | 2,168 | 3,252 | 1,234,567 | < 2,000 |"
        );
        assert!(lines[3].contains("| 877 | 1,300 |"), "{}", lines[3]);
        assert!(
            lines[7].ends_with("| 0 | - | - | - | - | - |"),
            "{}",
            lines[7]
        );
        assert!(
            lines[11].starts_with(
                "Run 2026-12-05 11:20 UTC, 3,000 s, 67 entry rounds, 4,604 venue orders"
            )
        );
        assert!(lines[11].contains("with nothing to move: 1, stopped early: no"));
        assert!(lines[11].ends_with("gateway 26,412, risk 19,868."));
        assert!(
            lines[13].ends_with(
                "3 entries, opportunity -> first order p50 9,000 max 1,234,567; 9 unhedged \
                 windows, p50 700 max 1,234,567."
            ),
            "{}",
            lines[13]
        );
    }
}
