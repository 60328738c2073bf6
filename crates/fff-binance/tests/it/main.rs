//! Integration tests for fff-binance: a tiny fault-injecting fake on 127.0.0.1:0, and the fff-sim
//! simulator over real HTTP and WebSocket.

mod fake;
mod rest_faults;
mod sim;
mod sim_history;
mod sim_rest;
mod sim_ws;
mod ws_fake;
