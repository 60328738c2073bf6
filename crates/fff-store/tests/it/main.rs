//! Integration tests for fff-store against a real PostgreSQL (via fff-testkit: `DATABASE_URL`
//! or a private throwaway cluster).

mod charges;
mod equity;
mod helpers;
mod instruments;
mod ledger;
mod migrations;
mod orders;
mod pnl;
mod positions;
mod safety;
