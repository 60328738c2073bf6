//! Prometheus metrics: a small process-wide registry of counters, gauges and histograms
//! (optionally labelled), rendered in the text exposition format (0.0.4) and served at
//! `GET /metrics` on `telemetry.metrics_listen`.
//!
//! Hand-written rather than a metrics crate so the tree keeps one hyper/http stack. Values are
//! f64: they are statistics for dashboards, never inputs to trading decisions.

mod http;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

pub use http::serve;

/// Latency buckets in seconds, 1 ms .. 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Label sets kept per metric; further new sets are dropped.
const MAX_SERIES: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Debug, Clone)]
enum Value {
    Scalar(f64),
    Histogram(Histogram),
}

#[derive(Debug)]
struct Family {
    kind: Kind,
    help: &'static str,
    /// Rendered label set (`{a="x"}` or empty) -> value.
    series: BTreeMap<String, Value>,
}

fn registry() -> &'static Mutex<BTreeMap<&'static str, Family>> {
    static REGISTRY: OnceLock<Mutex<BTreeMap<&'static str, Family>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn labels_text(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut text = String::from("{");
    for (i, (key, value)) in labels.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let escaped = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(text, "{key}=\"{escaped}\"");
    }
    text.push('}');
    text
}

fn update(
    name: &'static str,
    help: &'static str,
    kind: Kind,
    labels: &[(&str, &str)],
    apply: impl FnOnce(&mut Value),
    initial: impl FnOnce() -> Value,
) {
    let mut families = registry().lock().unwrap_or_else(|e| e.into_inner());
    let family = families.entry(name).or_insert_with(|| Family {
        kind,
        help,
        series: BTreeMap::new(),
    });
    if family.kind != kind {
        // a name registered as another kind: ignore rather than emit an invalid exposition
        return;
    }
    let key = labels_text(labels);
    if !family.series.contains_key(&key) && family.series.len() >= MAX_SERIES {
        // label values can come from requests: bound the memory a scrape target can use
        return;
    }
    apply(family.series.entry(key).or_insert_with(initial));
}

/// Adds `delta` (ignored unless positive) to a counter.
pub fn counter_add(name: &'static str, help: &'static str, labels: &[(&str, &str)], delta: f64) {
    if delta.is_nan() || delta < 0.0 {
        return;
    }
    update(
        name,
        help,
        Kind::Counter,
        labels,
        |v| {
            if let Value::Scalar(x) = v {
                *x += delta;
            }
        },
        || Value::Scalar(0.0),
    );
}

/// Sets a gauge.
pub fn gauge_set(name: &'static str, help: &'static str, labels: &[(&str, &str)], value: f64) {
    update(
        name,
        help,
        Kind::Gauge,
        labels,
        |v| *v = Value::Scalar(value),
        || Value::Scalar(value),
    );
}

/// Records one observation into a histogram with [`LATENCY_BUCKETS`].
pub fn histogram_observe(
    name: &'static str,
    help: &'static str,
    labels: &[(&str, &str)],
    value: f64,
) {
    if value.is_nan() {
        return;
    }
    update(
        name,
        help,
        Kind::Histogram,
        labels,
        |v| {
            if let Value::Histogram(h) = v {
                for (bound, count) in h.bounds.iter().zip(h.counts.iter_mut()) {
                    if value <= *bound {
                        *count += 1;
                    }
                }
                h.sum += value;
                h.count += 1;
            }
        },
        || {
            Value::Histogram(Histogram {
                bounds: LATENCY_BUCKETS,
                counts: vec![0; LATENCY_BUCKETS.len()],
                sum: 0.0,
                count: 0,
            })
        },
    );
}

/// `le`/other labels merged into one label set text.
fn with_label(labels: &str, key: &str, value: &str) -> String {
    match labels.strip_suffix('}') {
        Some(open) => format!("{open},{key}=\"{value}\"}}"),
        None => format!("{{{key}=\"{value}\"}}"),
    }
}

/// The registry in the Prometheus text exposition format.
pub fn render() -> String {
    let families = registry().lock().unwrap_or_else(|e| e.into_inner());
    let mut out = String::new();
    for (name, family) in families.iter() {
        let _ = writeln!(out, "# HELP {name} {}", family.help);
        let _ = writeln!(out, "# TYPE {name} {}", family.kind.as_str());
        for (labels, value) in &family.series {
            match value {
                Value::Scalar(x) => {
                    let _ = writeln!(out, "{name}{labels} {x}");
                }
                Value::Histogram(h) => {
                    for (bound, count) in h.bounds.iter().zip(&h.counts) {
                        let le = with_label(labels, "le", &bound.to_string());
                        let _ = writeln!(out, "{name}_bucket{le} {count}");
                    }
                    let le = with_label(labels, "le", "+Inf");
                    let _ = writeln!(out, "{name}_bucket{le} {}", h.count);
                    let _ = writeln!(out, "{name}_sum{labels} {}", h.sum);
                    let _ = writeln!(out, "{name}_count{labels} {}", h.count);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_histograms() {
        counter_add("test_events_total", "Events.", &[("kind", "a\"b")], 2.0);
        counter_add("test_events_total", "Events.", &[("kind", "a\"b")], 1.0);
        counter_add("test_events_total", "Events.", &[("kind", "a\"b")], -5.0);
        gauge_set("test_level", "Level.", &[], 0.5);
        histogram_observe(
            "test_latency_seconds",
            "Latency.",
            &[("leg", "spot")],
            0.003,
        );
        histogram_observe("test_latency_seconds", "Latency.", &[("leg", "spot")], 20.0);
        // a kind clash is ignored
        gauge_set("test_events_total", "Events.", &[], 9.0);
        let text = render();
        assert!(
            text.contains("# TYPE test_events_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("test_events_total{kind=\"a\\\"b\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("test_level 0.5\n"), "{text}");
        assert!(
            text.contains("test_latency_seconds_bucket{leg=\"spot\",le=\"0.0025\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("test_latency_seconds_bucket{leg=\"spot\",le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("test_latency_seconds_bucket{leg=\"spot\",le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("test_latency_seconds_count{leg=\"spot\"} 2\n"),
            "{text}"
        );
    }
}
