//! fff-core: the pure decision core shared by the live services and the backtester.
//!
//! Synchronous and I/O-free: every input (market data, balances, time via [`Clock`]) is passed
//! in, every output is a value. Money, prices, quantities and rates are [`rust_decimal::Decimal`].
//!
//! Pipeline: [`scan()`] (= [`qualify()`]'s verdict + [`score()`]'s total per [`MarketSnapshot`]) → [`ranked_symbols`] →
//! [`allocate()`] (capital of both legs, [`capital`]) → [`plan_turnover`] → [`size_legs`] / [`twap_slices`] for execution; then per
//! open hedge [`decide`] (drift, reversal, borrow) and account-wide [`TierTracker`] (margin
//! tiers) and [`DrawdownTracker`] (halt/resume). Rates are compared per
//! `pair_selection.rate_period_hours` (see [`rates`]).

#![warn(missing_docs)]

pub mod admission;
pub mod allocate;
pub mod capital;
pub mod clock;
pub mod drawdown;
pub mod drift;
pub mod error;
pub mod filters;
pub mod margin;
pub mod market;
pub mod params;
pub mod priority;
pub mod qualify;
pub mod rates;
pub mod rebalance;
pub mod scan;
pub mod score;
pub mod sizing;
pub mod turnover;
pub mod twap;
pub mod types;
pub mod wallets;

pub use admission::{CarryEstimate, estimate, estimate_for, round_trip_cost};
pub use allocate::{Allocation, PairTarget, SkipReason, allocate};
pub use capital::{CapitalModel, HedgeCapital, Utilization};
pub use clock::{Clock, ManualClock, SystemClock};
pub use drawdown::{DrawdownEvent, DrawdownStatus, DrawdownTracker};
pub use drift::{LegAdjustment, delta_drift, smaller_leg_adjustment};
pub use error::{Error, Result, SizingError};
pub use filters::{PriceRounding, SymbolFilters};
pub use margin::{
    MarginDirective, MarginTier, TierTracker, TierTransition, directive_for, margin_ratio,
    margin_ratio_from_binance, tier_for,
};
pub use market::MarketSnapshot;
pub use params::{
    CapitalParams, ExecutionParams, PairSelectionParams, ParamError, RebalanceParams, RiskParams,
};
pub use qualify::{CheckName, CheckSet, FilterCheck, Qualification, Qualifier, Verdict, qualify};
pub use rebalance::{
    Action, HedgeContext, HedgeState, Priority, Reason, RebalanceDecision, decide, decide_with,
};
pub use scan::{PairEvaluation, evaluate, ranked_pairs, ranked_symbols, scan};
pub use score::{ScoreBreakdown, score};
pub use sizing::{LegSizes, size_legs};
pub use turnover::{
    CarryPosition, NOT_REPLACEABLE, SwitchCosts, TurnoverPlan, held_carry, plan_turnover,
};
pub use twap::twap_slices;
pub use types::{Direction, FundingInterval, Side, Symbol, Venue};
pub use wallets::{
    TransferReason, WalletBalances, WalletHealth, WalletSide, WalletTransfer, plan_transfer,
    wallet_targets,
};
