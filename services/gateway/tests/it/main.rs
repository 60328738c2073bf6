//! The gateway in-process against the in-process simulator (`fff_sim::spawn`).

mod harness;
mod orders;
mod universe;
