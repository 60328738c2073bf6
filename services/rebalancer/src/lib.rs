//! fff-rebalancer
