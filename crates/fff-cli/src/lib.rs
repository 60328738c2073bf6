//! fff-cli
