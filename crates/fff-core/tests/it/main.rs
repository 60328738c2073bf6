//! Integration tests: the decision pipeline as the services and the backtester chain it.

mod no_panic;
mod pipeline;
