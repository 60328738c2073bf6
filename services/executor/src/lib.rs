//! fff-executor
