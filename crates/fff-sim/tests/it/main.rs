//! Integration tests over real HTTP/WebSocket against an in-process simulator.

mod auth;
mod ccxt;
mod clients;
mod faults;
mod funding;
mod history;
mod margin;
mod market;
mod orders;
mod support;
mod ws;
