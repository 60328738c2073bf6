//! Where the request budget goes: per-path weight, requests and local refusals as Prometheus
//! counters, the windows' use as gauges, and once a minute a log line naming the heaviest paths
//! of each scope (what an operator tunes the polls from when a budget runs out).

use std::collections::BTreeMap;
use std::time::Duration;

use fff_binance::limiter::PathSpend;
use fff_binance::rest::{Limiters, RestClient};
use tokio_util::sync::CancellationToken;

const EXPORT_EVERY: Duration = Duration::from_secs(5);
const SUMMARY_EVERY: u32 = 12; // exports: one minute
const SUMMARY_PATHS: usize = 6;

fn scopes(limiters: &Limiters) -> [(&'static str, &fff_binance::limiter::RateLimiter); 4] {
    [
        ("spot", &limiters.spot),
        ("futures", &limiters.futures),
        ("sapi_ip", &limiters.sapi_ip),
        ("sapi_uid", &limiters.sapi_uid),
    ]
}

fn class(background: bool) -> &'static str {
    if background { "background" } else { "trading" }
}

/// Request weight used per limiter window, as Prometheus gauges.
pub(crate) fn export_window_usage(limiters: &Limiters) {
    for (scope, limiter) in scopes(limiters) {
        for (window, used, limit) in limiter.usage() {
            let labels = [("scope", scope), ("window", window.as_str())];
            fff_runtime::metrics::gauge_set(
                "fff_gateway_rate_limit_used",
                "Exchange request weight / order count used in the current window.",
                &labels,
                f64::from(used),
            );
            fff_runtime::metrics::gauge_set(
                "fff_gateway_rate_limit_limit",
                "Exchange request weight / order count limit of the window.",
                &labels,
                f64::from(limit),
            );
        }
    }
}

fn export_spend(scope: &str, spend: &PathSpend) {
    let labels = [
        ("scope", scope),
        ("path", spend.path),
        ("class", class(spend.background)),
    ];
    fff_runtime::metrics::counter_add(
        "fff_gateway_request_weight_total",
        "Request weight spent, by scope, endpoint path and budget class.",
        &labels,
        spend.weight as f64,
    );
    fff_runtime::metrics::counter_add(
        "fff_gateway_requests_sent_total",
        "Requests sent to the exchange, by scope, endpoint path and budget class.",
        &labels,
        spend.requests as f64,
    );
    fff_runtime::metrics::counter_add(
        "fff_gateway_requests_refused_total",
        "Requests refused by the local budget or a 429/418 pause, by scope, path and class.",
        &labels,
        spend.refused as f64,
    );
}

/// One scope's minute: `path weight/requests (refused)` of the heaviest paths.
fn summary(minute: &BTreeMap<(&'static str, bool), PathSpend>) -> String {
    let mut paths: Vec<&PathSpend> = minute.values().collect();
    paths.sort_by(|a, b| b.weight.cmp(&a.weight).then(b.refused.cmp(&a.refused)));
    paths
        .iter()
        .take(SUMMARY_PATHS)
        .map(|s| {
            let bg = if s.background { " bg" } else { "" };
            if s.refused > 0 {
                format!(
                    "{}{bg} {}/{} ({} refused)",
                    s.path, s.weight, s.requests, s.refused
                )
            } else {
                format!("{}{bg} {}/{}", s.path, s.weight, s.requests)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Exports the budgets' use until cancelled.
pub(crate) async fn run(rest: RestClient, cancel: CancellationToken) {
    let mut minute: BTreeMap<&'static str, BTreeMap<(&'static str, bool), PathSpend>> =
        BTreeMap::new();
    let mut ticks = 0u32;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(EXPORT_EVERY) => {}
        }
        let limiters = rest.limiters();
        export_window_usage(limiters);
        for (scope, limiter) in scopes(limiters) {
            for spend in limiter.take_spend() {
                export_spend(scope, &spend);
                let total = minute
                    .entry(scope)
                    .or_default()
                    .entry((spend.path, spend.background))
                    .or_insert_with(|| PathSpend {
                        path: spend.path,
                        background: spend.background,
                        ..PathSpend::default()
                    });
                total.requests += spend.requests;
                total.weight += spend.weight;
                total.refused += spend.refused;
            }
        }
        ticks += 1;
        if ticks < SUMMARY_EVERY {
            continue;
        }
        ticks = 0;
        for (scope, paths) in std::mem::take(&mut minute) {
            let weight: u64 = paths.values().map(|s| s.weight).sum();
            let refused: u64 = paths.values().map(|s| s.refused).sum();
            if refused > 0 {
                tracing::warn!(scope, weight, refused, heaviest = %summary(&paths), "request weight by path, last minute");
            } else {
                tracing::info!(scope, weight, heaviest = %summary(&paths), "request weight by path, last minute");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_the_heaviest_paths_first_with_their_refusals() {
        let mut minute = BTreeMap::new();
        for (path, background, requests, weight, refused) in [
            ("/fapi/v1/fundingRate", true, 40, 40, 12),
            ("/fapi/v3/account", false, 30, 150, 0),
            ("/fapi/v1/income", false, 2, 60, 0),
        ] {
            minute.insert(
                (path, background),
                PathSpend {
                    path,
                    background,
                    requests,
                    weight,
                    refused,
                },
            );
        }
        assert_eq!(
            summary(&minute),
            "/fapi/v3/account 150/30, /fapi/v1/income 60/2, /fapi/v1/fundingRate bg 40/40 \
             (12 refused)"
        );
    }
}
