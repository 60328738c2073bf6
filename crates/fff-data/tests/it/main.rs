//! Integration tests: pulls from an in-process fff-sim over HTTP into temporary directories.

mod pull;
