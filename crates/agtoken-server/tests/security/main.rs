//! Caller authentication, policy, rate limits and TLS (issue 5), and `agtoken healthcheck`
//! over HTTP and HTTPS, on a real socket.

#[allow(dead_code)]
#[path = "../server/common.rs"]
mod common;
mod support;

mod api_key;
mod config_errors;
mod health;
mod holes;
mod jwks_remote;
mod jwt;
mod limits;
mod policy_property;
mod readme;
mod redis_server;
mod shared_limits;
mod tls;
