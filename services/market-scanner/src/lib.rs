//! fff-scanner
