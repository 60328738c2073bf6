//! `[execution]` section.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use super::{Checker, ParamError};

/// `[execution]`: order placement and hedging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutionParams {
    /// Orders larger than this (per-leg notional, USDT) are split by TWAP (50 000).
    pub twap_threshold_usdt: Decimal,
    /// Target notional of one TWAP slice (10 000).
    pub twap_slice_usdt: Decimal,
    /// Pause between TWAP slices in milliseconds (1000).
    pub twap_slice_interval_ms: u64,
    /// Maximum adverse price move accepted on a fill, as a fraction (0.0005).
    pub slippage_tolerance: Decimal,
    /// Attempts to complete the second (hedge) leg before unwinding (3).
    pub hedge_max_retries: u32,
    /// Delay between hedge attempts in milliseconds (500).
    pub hedge_retry_delay_ms: u64,
    /// Maximum relative quantity mismatch between legs during entry (0.05).
    pub max_entry_leg_drift: Decimal,
    /// Retired: it never limited anything (the gateway's order queue reads
    /// `exchange.orders_per_second`). Still parsed so that a configuration naming it gets an
    /// error saying where the setting lives instead of "unknown field".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_orders_per_second: Option<u32>,
    /// Exit with limit (maker) orders first, falling back to market.
    pub exit_prefer_limit: bool,
    /// How long an exit limit order may rest before falling back to market, in ms (5000).
    pub exit_limit_timeout_ms: u64,
    /// First wait before an entry the slippage guard paused is resumed, or a symbol whose
    /// entry failed is tried again, in ms (5000). Doubles with each failure in a row.
    pub entry_retry_backoff_ms: u64,
    /// Longest such wait, in ms (600 000 = 10 min).
    pub entry_retry_backoff_max_ms: u64,
    /// A held position below `(1 - entry_resize_band)` of its target is topped up (0.10).
    pub entry_resize_band: Decimal,
}

impl Default for ExecutionParams {
    fn default() -> Self {
        Self {
            twap_threshold_usdt: dec!(50_000),
            twap_slice_usdt: dec!(10_000),
            twap_slice_interval_ms: 1000,
            slippage_tolerance: dec!(0.0005),
            hedge_max_retries: 3,
            hedge_retry_delay_ms: 500,
            max_entry_leg_drift: dec!(0.05),
            max_orders_per_second: None,
            exit_prefer_limit: true,
            exit_limit_timeout_ms: 5000,
            entry_retry_backoff_ms: 5000,
            entry_retry_backoff_max_ms: 600_000,
            entry_resize_band: dec!(0.10),
        }
    }
}

impl ExecutionParams {
    /// Every violation in this section.
    pub fn validate(&self) -> Vec<ParamError> {
        let mut c = Checker::new("execution");
        c.positive("twap_threshold_usdt", self.twap_threshold_usdt);
        c.positive("twap_slice_usdt", self.twap_slice_usdt);
        c.check(
            self.twap_slice_usdt <= self.twap_threshold_usdt,
            "twap_slice_usdt",
            format!(
                "must not exceed twap_threshold_usdt ({}), got {}",
                self.twap_threshold_usdt, self.twap_slice_usdt
            ),
        );
        c.in_closed_open(
            "slippage_tolerance",
            self.slippage_tolerance,
            Decimal::ZERO,
            dec!(0.1),
        );
        c.check(
            self.entry_retry_backoff_ms > 0
                && self.entry_retry_backoff_ms <= self.entry_retry_backoff_max_ms,
            "entry_retry_backoff_ms",
            format!(
                "must be in (0, entry_retry_backoff_max_ms = {}], got {}",
                self.entry_retry_backoff_max_ms, self.entry_retry_backoff_ms
            ),
        );
        c.in_closed_open(
            "entry_resize_band",
            self.entry_resize_band,
            Decimal::ZERO,
            Decimal::ONE,
        );
        c.in_open_closed(
            "max_entry_leg_drift",
            self.max_entry_leg_drift,
            Decimal::ZERO,
            Decimal::ONE,
        );
        c.check(
            self.max_orders_per_second.is_none(),
            "max_orders_per_second",
            "is retired: the order rate is exchange.orders_per_second (the gateway's queue)",
        );
        c.errors
    }
}
