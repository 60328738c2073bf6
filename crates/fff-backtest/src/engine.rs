//! The replay engine: book-keeping, market state, the event loop and the policy interface.

pub mod book;
pub mod market;
pub mod policy;
pub mod replay;
