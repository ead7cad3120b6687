#![forbid(unsafe_code)]
#![deny(missing_docs)]
//! `agtoken serve`: a token server for Agora apps, as a library.
//!
//! It speaks the APIs of the token servers in Agora's docs unchanged on the wire (so their
//! clients need no change) and a v1 API, with health, readiness, Prometheus metrics and an
//! OpenAPI document. See the crate README for the routes and the configuration.
//!
//! ```no_run
//! use agtoken_server::{app, run, AppState, Config};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let state = AppState::new(Config::demo());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(run(listener, state, async move { let _ = stopped.await; }));
//! // … requests …
//! let _ = stop.send(());
//! server.await.expect("server task")?;
//! # Ok(()) }
//! ```
//!
//! Token issuance is stateless (HMAC over the request and the configured certificate), so the
//! server scales out by running more replicas behind any load balancer.

pub mod audit;
pub mod auth;
pub mod config;
pub mod error;
pub mod health;
pub mod issue;
pub mod jwks;
pub mod limit;
pub mod limit_store;
pub mod metrics;
pub mod openapi;
pub mod policy;
pub mod reload;
pub mod tls;

mod body;
mod conn;
mod edge;
mod guard;
mod logging;
mod outbound;
mod routes;
mod secrets;
mod state;
mod web;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use config::{AppConfig, Config, CorsOrigins, Endpoint, Env};
pub use error::{ApiError, ErrorCode, ServerError};
pub use reload::LiveState;
pub use state::AppState;

/// The router with every route and layer, for `state`. Serve it with [`run`] (or any
/// `axum::serve`-compatible server; `tower::ServiceExt::oneshot` in tests).
pub fn app(state: AppState) -> axum::Router {
    routes::router(state)
}

/// Serves `state` on `listener` until `shutdown` completes, then stops accepting, lets the
/// requests in flight finish (`/readyz` answers 503 meanwhile) and returns. Connections are
/// bounded in number (`max_connections`) and in time (`first_request_timeout`, `idle_timeout`,
/// `header_read_timeout`): see the crate README, "Connections". `agtoken serve` binds its
/// listener with a backlog of 1,024 (tokio's `TcpListener::bind` gives 128), where connections
/// wait while `max_connections` are open.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    conn::serve(listener, LiveState::new(state), shutdown).await
}

/// [`run`] with a configuration that can be replaced while serving ([`LiveState::apply`],
/// [`reload::watch`]): each request runs with the configuration in force when it arrived.
pub async fn run_live(
    listener: TcpListener,
    live: LiveState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    conn::serve(listener, live, shutdown).await
}

/// `agtoken serve --check-config`: loads and validates the configuration exactly as `serve`
/// does (options, environment, `.env`, TOML file, every secrets and certificate file) without
/// listening, and sums it up in one line. The error is the one `serve` would stop with.
pub fn check_config(options: &ServeOptions) -> Result<(Config, String), ServerError> {
    let config = Config::load(options)?;
    let summary = summary(&config);
    Ok((config, summary))
}

/// One line about `config`: apps, auth, TLS, address, warnings.
fn summary(config: &Config) -> String {
    let apps = config.apps.len();
    let mut auth: Vec<&str> = config.apps.iter().map(|a| a.auth.kind()).collect();
    auth.dedup();
    format!(
        "configuration OK: {apps} app{} (default {}{}), auth {}, {} on {}:{}, {} warning{}",
        if apps == 1 { "" } else { "s" },
        config.default_app().app_id,
        if config.demo { ", demo mode" } else { "" },
        auth.join("/"),
        if config.tls.is_some() { "https" } else { "http" },
        config.host,
        config.port,
        config.warnings.len(),
        if config.warnings.len() == 1 { "" } else { "s" },
    )
}

/// Options of `agtoken serve`.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// Address to listen on (overrides `AGTOKEN_HOST` and the file; default `0.0.0.0`).
    pub host: Option<String>,
    /// Port (overrides `SERVER_PORT`/`PORT` and the file; default 8080).
    pub port: Option<u16>,
    /// A TOML configuration file (overrides `AGTOKEN_CONFIG`).
    pub config: Option<PathBuf>,
    /// Logs as JSON lines instead of text.
    pub log_json: bool,
}

/// Loads configuration (env, .env, TOML), starts tokio, serves until SIGINT/SIGTERM, drains, returns.
pub fn serve_blocking(options: ServeOptions) -> Result<(), ServerError> {
    let config = Config::load(&options)?;
    let _log_guard = logging::init(options.log_json);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(ServerError::Runtime)?;
    let result = runtime.block_on(serve(config, options));
    // Let connection tasks that outlived the grace period go before the log is flushed.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

async fn serve(config: Config, options: ServeOptions) -> Result<(), ServerError> {
    let addr_text = if config.host.contains(':') && !config.host.starts_with('[') {
        format!("[{}]:{}", config.host, config.port)
    } else {
        format!("{}:{}", config.host, config.port)
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&addr_text)
        .await
        .map_err(|e| ServerError::Address { addr: addr_text.clone(), message: e.to_string() })?
        .collect();
    let first = *addrs
        .first()
        .ok_or_else(|| ServerError::Address { addr: addr_text.clone(), message: "resolves to no address".into() })?;
    let listener = conn::bind(first).map_err(|source| ServerError::Bind { addr: addr_text.clone(), source })?;
    let local = listener.local_addr().map_err(|source| ServerError::Bind { addr: addr_text.clone(), source })?;

    if config.demo {
        announce_demo(&config, local);
    }
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    for (i, app) in config.apps.iter().enumerate() {
        tracing::info!(
            app_id = app.app_id.as_str(),
            default = i == 0,
            token_version = app.token_version.as_str(),
            secondary_certificate = app.secondary_certificate.is_some(),
            default_lifetime = app.default_lifetime,
            max_lifetime = app.max_lifetime,
            compat_lifetime = app.compat_lifetime,
            auth = app.auth.kind(),
            policy = %policy::names(&app.policy),
            "app configured"
        );
    }
    let grace = config.shutdown_grace;
    let config_tls = config.tls.is_some();
    let live = LiveState::new(AppState::new(config));
    live.current().metrics().config_loaded(reload::unix_now(), false);
    // SIGHUP and changed files reload the configuration (see reload.rs).
    let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(4);
    reload::forward_hangups(reload_tx).map_err(ServerError::Signal)?;
    let load: reload::Loader = Arc::new(move || Config::load(&options));
    let watcher = tokio::spawn(reload::watch(live.clone(), load, reload_rx, reload::POLL_INTERVAL));
    let scheme = if config_tls { "https" } else { "http" };
    tracing::info!(address = %local, scheme, "agtoken server listening");

    let signal = shutdown_signal().map_err(ServerError::Signal)?;
    let started_shutdown = Arc::new(tokio::sync::Notify::new());
    let notify = started_shutdown.clone();
    let shutdown = async move {
        signal.await;
        notify.notify_one();
    };
    let deadline = async {
        started_shutdown.notified().await;
        tokio::time::sleep(grace).await;
    };
    let outcome = tokio::select! {
        result = run_live(listener, live, shutdown) => {
            let result = result.map_err(|source| ServerError::Serve { addr: local, source });
            if result.is_ok() {
                tracing::info!("stopped");
            }
            result
        }
        () = deadline => {
            tracing::warn!(grace_secs = grace.as_secs(), "requests still in flight after the grace period; stopping anyway");
            Ok(())
        }
    };
    watcher.abort();
    outcome
}

/// SIGINT or SIGTERM (Ctrl-C elsewhere). The handlers are installed now, so a signal that
/// arrives before the future is polled is not lost.
fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

fn announce_demo(config: &Config, local: SocketAddr) {
    let app = config.default_app();
    let line = "*".repeat(78);
    eprintln!(
        "{line}\n*  DEMO MODE: no app configured (APP_ID/APP_CERTIFICATE, .env or --config).\n\
         *  Tokens are signed with a THROWAWAY app id and certificate made up at start-up:\n\
         *      app id {}\n\
         *  Agora will REFUSE every token this server issues. Use it to try the APIs only.\n\
         *  Listening on http://{local}/\n{line}",
        app.app_id
    );
    tracing::warn!(app_id = app.app_id.as_str(), "demo mode: throwaway app, Agora will refuse these tokens");
}
