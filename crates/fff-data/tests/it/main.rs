//! Integration tests: pulls from an in-process fff-sim or a loopback copy of Binance's bulk
//! archive, and records from the simulator, into temporary directories.

mod archive;
mod pull;
mod record;
