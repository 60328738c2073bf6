//! Integration tests for fff-testkit (they start a real PostgreSQL).

mod postgres;
