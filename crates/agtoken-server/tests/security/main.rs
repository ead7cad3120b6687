//! Caller authentication, policy, rate limits and TLS (issue 5), on a real socket.

#[allow(dead_code)]
#[path = "../server/common.rs"]
mod common;
mod support;

mod api_key;
mod config_errors;
mod holes;
mod jwt;
mod limits;
mod policy_property;
mod readme;
mod redis_server;
mod shared_limits;
mod tls;
