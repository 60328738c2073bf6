//! PostgreSQL persistence for fff: embedded migrations and a repository API over [`Store`].
//!
//! # Table ownership
//!
//! Exactly one service writes each table; any service may read any table.
//!
//! | writer   | tables |
//! |----------|--------|
//! | gateway  | `instruments` |
//! | executor | `positions`, `orders`, `fills`, `funding_payments`, `borrow_interest`, `venue_charges`, `pnl_daily` |
//! | risk     | `equity_snapshots` |
//! | executor | `control_state`, `request_log` (safety state that survives a restart) |
//! | risk     | `risk_directives`, `risk_directive_acks`, `risk_monitor_state`, `risk_approvals` |
//! | lease holders | `lease_fences` (one row per lease name, its term's fencing token) |
//!
//! # Conventions
//!
//! - Money, prices, quantities and rates are unconstrained `NUMERIC` mapped to
//!   [`rust_decimal::Decimal`] (exact round trip); times are `TIMESTAMPTZ` mapped to
//!   `chrono::DateTime<Utc>`; every table has `created_at` and `updated_at` (trigger-maintained).
//! - Enumerations are `TEXT` with `CHECK` constraints, mirrored by the Rust enums in this crate
//!   ([`OrderStatus`], [`PositionState`], ...).
//! - Idempotency comes from unique keys: `orders.client_order_id`, `fills (venue, symbol,
//!   trade_id)`, `funding_payments (symbol, tran_id)`, `borrow_interest.tx_id`, `venue_charges
//!   (kind, symbol, tran_id)`. Inserts return [`Inserted`] with the stored row and whether it
//!   was new.
//! - State machines ([`OrderStatus::can_transition_to`], [`PositionState::can_transition_to`])
//!   are enforced inside the `UPDATE ... WHERE`, so concurrent writers cannot bypass them.
//! - [`Store::migrate`] runs at start-up of every service and is safe to run concurrently.
//! - Queries use runtime-checked `sqlx::query_as` with `FromRow`; the integration tests
//!   (`tests/it`) run every query against a real PostgreSQL.

mod charges;
mod enums;
mod equity;
mod error;
mod fence;
mod instruments;
mod lease;
mod ledger;
mod orders;
mod outcome;
mod pnl;
mod positions;
mod risk_state;
mod safety;
mod store;

pub use charges::{NewVenueCharge, VenueCharge};
pub use enums::{
    ChargeKind, Direction, Leg, OrderStatus, OrderType, PositionState, Side, SideEffect,
    TimeInForce, UnknownVariant, Venue,
};
pub use equity::{Drawdown, EquitySnapshot, NewEquitySnapshot};
pub use error::{Result, StoreError};
pub use fence::{Fenced, LeaseFence};
pub use instruments::Instrument;
pub use lease::{Lease, lease_key};
pub use ledger::{
    BaseCharges, BorrowInterest, Fill, FundingPayment, NewBorrowInterest, NewFill,
    NewFundingPayment,
};
pub use orders::{Order, OrderIntent, OrderUpdate};
pub use outcome::{Inserted, UpdateOutcome};
pub use pnl::{CashPnl, DailyCashPnl, PnlDaily};
pub use positions::{NewPosition, Position, PositionLegs};
pub use risk_state::{
    RiskApproval, RiskDirective, RiskDirectiveAck, RiskDirectiveQuery, RiskMonitorState,
};
pub use safety::ControlState;
/// Connection settings of a [`Store`], for sessions outside its pool ([`Lease`]).
pub use sqlx::postgres::PgConnectOptions;
pub use store::{MIGRATOR, Store};
