//! The floor that `scripts/bench-server.sh` compares `agtoken serve` with: a minimal axum server
//! that reads the same `POST /fetch_rtc_token` body and builds the same token with the same
//! library, and nothing else (no logging, CORS, limits, metrics, authentication, policy or
//! parse-back of the token). Same runtime as the server: tokio's multi-thread scheduler.
//!
//! `cargo run --release -p agtoken-server --example minimal -- [--port N]` (127.0.0.1, default 18088).

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use agtoken::{AppCertificate, AppId, Role, RtcToken, Uid};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

/// The docs' Go sample server's body, as the docs' web client sends it.
#[derive(Deserialize)]
struct FetchBody {
    uid: u32,
    #[serde(rename = "ChannelName", alias = "channelName")]
    channel: String,
    role: u32,
}

#[derive(Clone)]
struct Credentials {
    app_id: &'static AppId,
    certificate: &'static AppCertificate,
}

async fn fetch_rtc_token(State(c): State<Credentials>, Json(body): Json<FetchBody>) -> (StatusCode, Json<Value>) {
    let role = if body.role == 2 { Role::Subscriber } else { Role::Publisher };
    let built = RtcToken::builder(c.app_id, c.certificate)
        .channel(body.channel)
        .uid(Uid::Int(body.uid))
        .role(role)
        .valid_for(Duration::from_secs(3600))
        .build();
    match built {
        Ok(token) => (StatusCode::OK, Json(json!({"code": "200", "token": token}))),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"code": "400", "message": e.to_string()}))),
    }
}

fn main() -> ExitCode {
    let mut port = 18088u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().and_then(|p| p.parse().ok())) {
            ("--port", Some(p)) => port = p,
            _ => {
                eprintln!("usage: minimal [--port N]");
                return ExitCode::from(2);
            }
        }
    }
    // A throwaway app, as the server's demo mode makes one.
    let app_id = Box::leak(Box::new(AppId::new("970CA35de60c44645bbae8a215061b33").expect("a valid app id")));
    let certificate =
        Box::leak(Box::new(AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").expect("a valid certificate")));
    let app =
        Router::new().route("/fetch_rtc_token", post(fetch_rtc_token)).with_state(Credentials { app_id, certificate });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .await
            .expect("the port is free");
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM");
            term.recv().await;
        };
        axum::serve(listener, app).with_graceful_shutdown(shutdown).await.expect("serving");
    });
    ExitCode::SUCCESS
}
