//! fff-gateway
