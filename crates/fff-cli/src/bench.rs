//! `fff bench`: the latency of the paths that leave money exposed, timed at the venue.
//!
//! Starts a throwaway suite the way `fff soak` does (private PostgreSQL, the simulator and the
//! five roles on loopback, release binaries when run from a release build) with the default
//! configuration but for a few pacing overrides ([`BENCH_OVERRIDES`]: how soon the strategy
//! re-enters, never how an order travels). The strategy opens its hedges; each round closes
//! them as an operator (IMMEDIATE) and lets it enter again, until every path has `--samples`.
//!
//! The simulator stamps every order with the wall-clock microsecond its request reached the
//! venue and the one its engine matched it (`receivedUs`, `matchedUs` in `/admin/records`), so
//! the unhedged window is measured where it costs money: from the perp slice's fill at the
//! venue (a market order fills as it is matched) to its spot hedge reaching the venue (also
//! reported to the hedge's match, which adds the simulator's own authentication, limits and
//! locking). Each strategy entry is timed from its opportunity reaching the
//! executor (the position's `opportunity_received_at`, wall clock) to its first perp order at
//! the venue (same machine, same clock). The executor's own figures (fill answered -> hedge
//! handed to the gateway; opportunity -> perp handed to the gateway) come from its GetStatus
//! `fff-latency` metadata. Each role's resident memory is read from `/proc` after the rounds.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fff_proto::fff::executor::v1 as exec;
use serde_json::{Value, json};

use crate::cli::{BenchArgs, SoakArgs};
use fff_runtime::shutdown;

mod markdown;
mod scanner;
mod tiers;
use crate::soak::suite::SoakSuite;
use crate::soak::venue::{VenueOrder, VenueRecords};

/// Pacing only: the scanner re-ranks every second and a closed symbol may be entered again
/// after a second, so rounds follow each other quickly. Nothing here is on a measured path.
const BENCH_OVERRIDES: &[&str] = &[
    "scanner.scan_interval_secs=1",
    "execution.entry_retry_backoff_ms=1000",
    "execution.entry_retry_backoff_max_ms=5000",
    // The bench's own churn (every round closes at market what it just opened, and every tier
    // round deleverages and tops up) costs fees and spread, about 0.17 % of equity a round:
    // at the shipped 4 % halt, entries stop after some 25 rounds (2026-12-05). No measured
    // path reads these limits.
    "risk.max_monthly_drawdown=0.9",
    "risk.drawdown_halt_threshold=0.85",
    "risk.drawdown_resume_threshold=0.8",
];

/// Longest wait for the strategy's hedges in one round.
const ENTRY_WAIT: Duration = Duration::from_secs(90);
/// Longest wait for the venue to be flat after the closes.
const FLAT_WAIT: Duration = Duration::from_secs(60);

pub fn main(args: &BenchArgs) -> ExitCode {
    if let Some(path) = &args.render {
        let report = std::fs::read_to_string(path)
            .map_err(anyhow::Error::from)
            .and_then(|text| Ok(serde_json::from_str::<Value>(&text)?));
        return match report {
            Ok(report) => {
                outln!("{}", markdown::table(&report));
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("fff bench: --render {}: {error}", path.display());
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fff bench: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(report) => {
            if args.json {
                outln!("{report}");
            } else {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("fff bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &BenchArgs) -> anyhow::Result<Value> {
    if args.samples == 0 {
        bail!("--samples must be at least 1");
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("fff-bench-{}", std::process::id())));
    let soak_args = SoakArgs {
        scenarios: 0,
        seed: 1,
        replay: Vec::new(),
        json: args.json,
        accelerate: args.accelerate,
        quiesce_secs: 30,
        settle_secs: 3,
        ledger_lag_secs: 35,
        warmup_secs: 240,
        max_minutes: 0,
        dir: Some(dir.clone()),
        base_port: args.base_port,
        config: args.config.clone(),
        overrides: args.overrides.clone(),
        sim_config: None,
    };
    // listening from the first moment: killed without a handler, the suite's PostgreSQL (a
    // daemon of its own) outlived the bench
    let stop = shutdown::Shutdown::from_signal(shutdown::shutdown_signal());
    let started = Instant::now();
    let suite = tokio::select! {
        suite = SoakSuite::start_with(&soak_args, &dir, BENCH_OVERRIDES) => suite,
        () = stop.cancelled() => bail!("interrupted by a signal during start-up"),
    }
    .with_context(|| {
        format!(
            "the suite did not start; logs in {}",
            dir.join(".fff/logs").display()
        )
    })?;
    let measured = async {
        let (mut records, rounds, warm_from) = drive(args, &suite).await?;
        // the entry rounds' orders end here: their windows are reported apart from the
        // windows of the top-ups that follow each tier round (deleverage orders compete
        // with them for the gateway's order rate)
        let tiers_from = records.next_order_id;
        let tiers = drive_tiers(args, &suite, &mut records).await?;
        let scans = drive_scanner(args, &suite, &records).await?;
        Ok::<_, anyhow::Error>((records, rounds, warm_from, tiers, tiers_from, scans))
    };
    let result = tokio::select! {
        result = measured => result,
        () = stop.cancelled() => {
            suite.stop().await;
            bail!("interrupted by a signal: the suite is stopped, nothing is reported");
        }
    };
    let rss = role_rss(&suite).await;
    let executor = suite.executor_status_metadata("fff-latency").await;
    let opportunities = suite.opportunity_times().await;
    suite.stop().await;
    let (records, rounds, warm_from, mut tiers, tiers_from, (scans, scans_missed)) = result?;
    tiers.reactions.sort_unstable();
    let orders_in = |from: i64, to: i64| -> BTreeMap<i64, VenueOrder> {
        records
            .orders
            .range(from..to)
            .map(|(id, order)| (*id, order.clone()))
            .collect()
    };
    let (cold_orders, entry_orders, tier_orders) = (
        orders_in(i64::MIN, warm_from),
        orders_in(warm_from, tiers_from),
        orders_in(tiers_from, i64::MAX),
    );
    let windows = unhedged_windows(&entry_orders, Reached::Venue);
    let windows_matched = unhedged_windows(&entry_orders, Reached::Match);
    let opportunities = opportunities?;
    let opportunity_windows = opportunity_to_order(&opportunities, &entry_orders);
    let top_up_windows = unhedged_windows(&tier_orders, Reached::Venue);
    Ok(json!({
        "command": "fff bench",
        "date": chrono::Utc::now().to_rfc3339(),
        "machine": machine(),
        "wall_secs": started.elapsed().as_secs(),
        "rounds": rounds,
        "tier_rounds_stopped": tiers.stopped,
        "tier_rounds_without_deleverage": tiers.without_deleverage,
        "tier_rounds_not_moved": tiers.not_moved,
        "venue_orders": records.orders.len(),
        // the first round runs cold (margin type and leverage set on each symbol's first
        // entry, the first wallet transfers, new connections): reported apart, as a warm-up
        "first_round_cold": {
            "unhedged_window_at_venue_us": Stats::of(&unhedged_windows(&cold_orders, Reached::Venue)).to_json(
                "the first round's entry slices: perp filled -> hedge reaching the venue"),
            "opportunity_to_first_order_at_venue_us": Stats::of(&opportunity_to_order(&opportunities, &cold_orders)).to_json(
                "the first round's entries: opportunity -> first perp order at the venue"),
        },
        "paths": {
            "unhedged_window_at_venue_us": Stats::of(&windows).to_json(
                "perp entry slice filled at the venue -> its first spot hedge reaching the venue"),
            "unhedged_window_to_hedge_matched_us": Stats::of(&windows_matched).to_json(
                "perp entry slice filled at the venue -> its first spot hedge matched by the venue"),
            "unhedged_window_at_venue_during_tier_rounds_us": Stats::of(&top_up_windows).to_json(
                "the same, for the top-ups after each tier round (orders of the deleverage at the same time)"),
            "tier_change_to_first_deleverage_order_at_venue_us": Stats::of(&tiers.reactions).to_json(
                "price move at the venue into the Orange tier -> first deleverage order at the venue"),
            "opportunity_to_first_order_at_venue_us": Stats::of(&opportunity_windows).to_json(
                "scanner snapshot reaching the executor (its wall clock) -> the entry's first perp order at the venue"),
            "scanner_mark_to_stream_opportunities_us": {
                "rounds_without_snapshot": scans_missed,
                "stats": Stats::of(&scans).to_json(
                    "mark with a new funding rate on a gateway StreamMarket client -> the scanner's snapshot with it on a StreamOpportunities client"),
            },
            "executor_internal": parse_latency(executor.as_deref().unwrap_or_default()),
        },
        "role_rss_kib": rss,
        "dir": dir.display().to_string(),
    }))
}

/// Rounds of entries and operator closes until `--samples` unhedged windows are at the venue
/// after the first round (the warm-up); also returns the first venue order id after it.
async fn drive(args: &BenchArgs, suite: &SoakSuite) -> anyhow::Result<(VenueRecords, u32, i64)> {
    let mut records = VenueRecords::default();
    let deadline = Instant::now() + Duration::from_secs(args.max_minutes.max(1) * 60);
    let mut rounds = 0;
    let mut warm_from = i64::MAX;
    loop {
        wait_held(suite, &mut records, rounds).await?;
        rounds += 1;
        if rounds == 1 {
            warm_from = records.next_order_id;
        }
        let warm: BTreeMap<i64, VenueOrder> = records
            .orders
            .range(warm_from..)
            .map(|(id, order)| (*id, order.clone()))
            .collect();
        let samples = unhedged_windows(&warm, Reached::Venue).len();
        let entries = entries(&warm).count();
        if !args.json {
            eprintln!(
                "fff bench: round {rounds}: {samples} unhedged windows, {entries} entries at the venue"
            );
        }
        if (samples >= args.samples && entries >= args.samples) || Instant::now() >= deadline {
            return Ok((records, rounds, warm_from));
        }
        for symbol in records.held_symbols() {
            suite
                .close(
                    &symbol,
                    exec::CloseUrgency::Immediate as i32,
                    &format!("bench-{rounds}-{symbol}"),
                )
                .await;
        }
        let flat_deadline = Instant::now() + FLAT_WAIT;
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            suite.venue.refresh(&mut records).await?;
            if records.positions.is_empty() || Instant::now() >= flat_deadline {
                break;
            }
        }
    }
}

/// Waits until the venue holds the strategy's hedges and nothing is trading.
async fn wait_held(
    suite: &SoakSuite,
    records: &mut VenueRecords,
    round: u32,
) -> anyhow::Result<()> {
    let entry_deadline = Instant::now() + ENTRY_WAIT;
    loop {
        if let Some(fatal) = suite.fatal() {
            bail!("the suite failed: {fatal}");
        }
        suite.venue.refresh(records).await?;
        let trading = records.orders.values().any(VenueOrder::is_open);
        if !records.positions.is_empty() && !trading && settled(suite, records).await? {
            return Ok(());
        }
        if Instant::now() >= entry_deadline {
            bail!(
                "the strategy opened no hedge within {ENTRY_WAIT:?} (round {round}); logs in {}",
                suite.dir.join(".fff/logs").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Tier rounds after the entry rounds (the hedges held): microseconds from each move into
/// Orange to its first deleverage order at the venue, and why the rounds stopped early if
/// they did (the reactions so far are kept).
async fn drive_tiers(
    args: &BenchArgs,
    suite: &SoakSuite,
    records: &mut VenueRecords,
) -> anyhow::Result<TierRounds> {
    let mut rounds = TierRounds::default();
    for round in 0..args.tier_rounds {
        let outcome = match wait_held(suite, records, round).await {
            Ok(()) => tiers::round(suite, records).await,
            Err(error) => Err(error),
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                let stopped = format!("tier round {round}: {error:#}");
                eprintln!("fff bench: tier rounds stopped: {stopped}");
                rounds.stopped = Some(stopped);
                return Ok(rounds);
            }
        };
        match outcome {
            tiers::Round::Reaction(us) => rounds.reactions.push(us),
            tiers::Round::NoReduction => {
                rounds.without_deleverage += 1;
                eprintln!("fff bench: tier round {round}: no deleverage order within the wait");
            }
            tiers::Round::NotMoved => rounds.not_moved += 1,
        }
        if !args.json {
            eprintln!(
                "fff bench: tier round {}: {} reactions at the venue",
                round + 1,
                rounds.reactions.len()
            );
        }
    }
    Ok(rounds)
}

/// What the tier rounds measured, and the rounds that measured nothing.
#[derive(Debug, Default)]
struct TierRounds {
    reactions: Vec<i64>,
    /// Moved into Orange, and no deleverage order reached the venue within the wait.
    without_deleverage: u32,
    /// Nothing to move (nothing held, or the coverage already at or below the target).
    not_moved: u32,
    /// Why the rounds stopped early, if they did (the reactions so far are kept).
    stopped: Option<String>,
}

/// Scanner rounds after the tier rounds, on the first of a few liquid pairs the strategy does
/// not hold: microseconds from mark to snapshot, and the rounds that saw none.
async fn drive_scanner(
    args: &BenchArgs,
    suite: &SoakSuite,
    records: &VenueRecords,
) -> anyhow::Result<(Vec<i64>, usize)> {
    if args.scanner_rounds == 0 {
        return Ok((Vec::new(), 0));
    }
    let held = records.held_symbols();
    let Some(symbol) = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "ADAUSDT"]
        .into_iter()
        .find(|s| !held.iter().any(|h| h == s))
    else {
        bail!("every candidate pair for the scanner rounds is held");
    };
    if !args.json {
        eprintln!(
            "fff bench: {} scanner rounds on {symbol}",
            args.scanner_rounds
        );
    }
    scanner::rounds(suite, symbol, args.scanner_rounds).await
}

/// True when two reads 2.5 s apart (longer than the default 1 s between TWAP slices) show the
/// same venue: the entries' slices are done.
async fn settled(suite: &SoakSuite, records: &mut VenueRecords) -> anyhow::Result<bool> {
    let before = records.fingerprint();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    suite.venue.refresh(records).await?;
    Ok(records.fingerprint() == before)
}

/// The first perp order of every entry at the venue (`fff<id>-Pe0`), by position id.
fn entries(orders: &BTreeMap<i64, VenueOrder>) -> impl Iterator<Item = (i64, &VenueOrder)> {
    orders.values().filter_map(|o| {
        let id = o
            .client_order_id
            .strip_prefix("fff")?
            .strip_suffix("-Pe0")?;
        Some((id.parse().ok()?, o))
    })
}

/// Per strategy entry, the microseconds from its opportunity reaching the executor (wall
/// clock, `times`) to its first perp order at the venue (the venue's wall clock: the same
/// machine).
fn opportunity_to_order(times: &[(i64, i64)], orders: &BTreeMap<i64, VenueOrder>) -> Vec<i64> {
    let received: BTreeMap<i64, i64> = times.iter().copied().collect();
    let mut windows: Vec<i64> = entries(orders)
        .filter_map(|(id, order)| Some(order.received_us - received.get(&id)?))
        .collect();
    windows.sort_unstable();
    windows
}

/// Where a hedge's window ends.
#[derive(Debug, Clone, Copy)]
enum Reached {
    /// Its request reached the venue.
    Venue,
    /// The venue's engine matched it.
    Match,
}

/// Per entry slice (`fff<id>-Pe<n>` at the venue, filled), the microseconds from its fill to
/// its first hedge (`fff<id>-Se<n>r0`) `reached`.
fn unhedged_windows(orders: &BTreeMap<i64, VenueOrder>, reached: Reached) -> Vec<i64> {
    let by_id: BTreeMap<&str, &VenueOrder> = orders
        .values()
        .map(|o| (o.client_order_id.as_str(), o))
        .collect();
    let mut windows: Vec<i64> = by_id
        .iter()
        .filter_map(|(id, perp)| {
            let (position, slice) = id.split_once("-Pe")?;
            slice.parse::<u32>().ok()?;
            if perp.executed_qty.is_zero() || perp.matched_us == 0 {
                return None;
            }
            let hedge = by_id.get(format!("{position}-Se{slice}r0").as_str())?;
            let at = match reached {
                Reached::Venue => hedge.received_us,
                Reached::Match => hedge.matched_us,
            };
            (at > 0).then(|| at - perp.matched_us)
        })
        .collect();
    windows.sort_unstable();
    windows
}

/// n, p50, p90, p99 and max of sorted microsecond samples (nearest rank).
#[derive(Debug, Clone, PartialEq)]
struct Stats {
    n: usize,
    p50: Option<i64>,
    p90: Option<i64>,
    p99: Option<i64>,
    max: Option<i64>,
}

impl Stats {
    fn of(sorted: &[i64]) -> Self {
        let rank = |p: usize| -> Option<i64> {
            if sorted.is_empty() {
                return None;
            }
            let index = (p * sorted.len()).div_ceil(100).saturating_sub(1);
            sorted.get(index.min(sorted.len() - 1)).copied()
        };
        Self {
            n: sorted.len(),
            p50: rank(50),
            p90: rank(90),
            p99: rank(99),
            max: sorted.last().copied(),
        }
    }

    fn to_json(&self, what: &str) -> Value {
        json!({"what": what, "n": self.n, "p50": self.p50, "p90": self.p90, "p99": self.p99, "max": self.max})
    }
}

/// The executor's `fff-latency` metadata (`name n=.. p50=.. ...; name ...`) as JSON objects.
fn parse_latency(text: &str) -> Value {
    let mut paths = serde_json::Map::new();
    for part in text.split(';') {
        let mut words = part.split_whitespace();
        let Some(name) = words.next() else { continue };
        let mut figures = serde_json::Map::new();
        for word in words {
            if let Some((key, value)) = word.split_once('=') {
                let value = value.parse::<u64>().map_or(Value::Null, Value::from);
                figures.insert(key.to_owned(), value);
            }
        }
        paths.insert(name.to_owned(), Value::Object(figures));
    }
    Value::Object(paths)
}

/// Resident set of each running role, KiB (`VmRSS` in `/proc/<pid>/status`).
async fn role_rss(suite: &SoakSuite) -> Value {
    let mut rss = serde_json::Map::new();
    for (role, pid) in suite.role_pids().await {
        let kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            });
        rss.insert(role, kib.map_or(Value::Null, Value::from));
    }
    Value::Object(rss)
}

/// CPU model and count, from `/proc/cpuinfo` where there is one.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cores} cores, {model}")
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn order(id: i64, client: &str, executed: rust_decimal::Decimal, at: i64) -> VenueOrder {
        VenueOrder {
            order_id: id,
            venue: "Futures".into(),
            symbol: "BTCUSDT".into(),
            client_order_id: client.into(),
            side: "SELL".into(),
            status: "FILLED".into(),
            executed_qty: executed,
            fills: Vec::new(),
            received_us: at,
            matched_us: at,
        }
    }

    #[test]
    fn windows_pair_each_filled_perp_slice_with_its_first_hedge() {
        let orders: BTreeMap<i64, VenueOrder> = [
            order(1, "fff7-Pe0", dec!(1), 1_000),
            order(2, "fff7-Se0r0", dec!(1), 1_450),
            order(3, "fff7-Pe1", dec!(1), 2_000),
            order(4, "fff7-Se1r1", dec!(1), 9_000),
            order(5, "fff7-Pe2", dec!(0), 3_000),
            order(6, "fff7-Se2r0", dec!(0), 3_100),
            order(7, "fff8-Pe0", dec!(2), 5_000),
            order(8, "fff8-Se0r0", dec!(2), 5_900),
            order(9, "fff8-Px3", dec!(2), 6_000),
        ]
        .into_iter()
        .map(|o| (o.order_id, o))
        .collect();
        // slice 1's first hedge never reached the venue; slice 2's perp filled nothing
        assert_eq!(unhedged_windows(&orders, Reached::Venue), vec![450, 900]);
        assert_eq!(unhedged_windows(&orders, Reached::Match), vec![450, 900]);
    }

    #[test]
    fn a_window_runs_from_the_perp_match_to_the_hedge_reaching_or_matching() {
        let mut perp = order(1, "fff7-Pe0", dec!(1), 1_000);
        perp.matched_us = 1_100;
        let mut hedge = order(2, "fff7-Se0r0", dec!(1), 1_500);
        hedge.matched_us = 1_800;
        let orders: BTreeMap<i64, VenueOrder> = [(1, perp), (2, hedge)].into_iter().collect();
        assert_eq!(unhedged_windows(&orders, Reached::Venue), vec![400]);
        assert_eq!(unhedged_windows(&orders, Reached::Match), vec![700]);
    }

    #[test]
    fn stats_use_the_nearest_rank() {
        let samples: Vec<i64> = (1..=200).collect();
        let stats = Stats::of(&samples);
        assert_eq!(
            (stats.n, stats.p50, stats.p90, stats.p99, stats.max),
            (200, Some(100), Some(180), Some(198), Some(200))
        );
        assert_eq!(Stats::of(&[]).p99, None);
    }

    #[test]
    fn executor_latency_metadata_is_read_per_path() {
        let parsed = parse_latency(
            "unhedged_us n=3 p50=410 p90=700 p99=900 max=950; opportunity_to_order_us n=0 p50=- p90=- p99=- max=-",
        );
        assert_eq!(parsed["unhedged_us"]["p99"], json!(900));
        assert_eq!(parsed["opportunity_to_order_us"]["n"], json!(0));
        assert_eq!(parsed["opportunity_to_order_us"]["p50"], Value::Null);
    }
}
