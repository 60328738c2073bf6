//! Integration tests of the fff-proto crate.

mod descriptor;
mod wire;
