//! The gateway in-process against the in-process simulator (`fff_sim::spawn`).

mod account;
mod harness;
mod hedge_on_fill;
mod history;
mod orders;
mod startup;
mod transfer;
mod universe;
mod unknown;
