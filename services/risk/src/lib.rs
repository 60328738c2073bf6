//! fff-risk
