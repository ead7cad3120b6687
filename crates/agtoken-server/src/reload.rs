//! Reloading the configuration without a restart.
//!
//! **What the server runs with** is a [`LiveState`]: the current *generation* (a state, the
//! router built for it, its TLS acceptor) behind an [`ArcSwap`]. Each request takes the
//! generation in force when it arrives and keeps it to its end, so it sees one configuration
//! from start to end; a reload swaps the pointer and never waits for, drops or fails a request
//! in flight. New TLS handshakes take the acceptor of the generation in force, so a renewed
//! certificate serves the next connection.
//!
//! **When**: on SIGHUP, and when one of the configuration's files changes (the TOML file,
//! `.env`, every certificate, key, JWT key, JWKS and TLS file it names: [`Config::source_files`]).
//! The files are polled once a second by content (SHA-256, compared with what they held when
//! the configuration in force read them): a Kubernetes ConfigMap or Secret
//! update (its `..data` symlink swapped) changes what the path reads, an editor's rename or
//! in-place write too, whatever the filesystem. A change is acted on once the files read the
//! same on two polls in a row, so a file caught half-written is not loaded.
//!
//! **How**: the new configuration is loaded and validated by the start-up code
//! ([`Config::load`]); on any error the one in force stays, the error is logged with the
//! setting and the rule, and `agtoken_config_reloads_total{outcome="failed"}` counts it. The
//! configuration is then not loaded again until a file changes again (or SIGHUP).
//!
//! **What needs a restart** (the listener and the connection loop own them): `host`, `port`,
//! `max_connections`, `first_request_timeout_secs`, `idle_timeout_secs`,
//! `header_read_timeout_secs`, `shutdown_grace_secs`, and turning TLS on or off (a new TLS
//! certificate and key reload). A reload that changes one keeps the running value and names it
//! in its log line (`restart_needed`). In demo mode the throwaway app stays the same.
//!
//! **Rate limits**: the counters of a per-caller rule carry over when the rule keeps its app,
//! place, name and rate; the per-address counters when `per_ip_rate_limit` is unchanged; the
//! shared store's connection when its settings are (its counters live in Redis anyway). A
//! changed rule starts from a full allowance.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::mpsc;

use crate::config::files::Digests;
use crate::config::Config;
use crate::error::ServerError;
use crate::state::AppState;

/// How often the configuration's files are read for changes.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The state a server runs with, replaceable while it serves. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct LiveState {
    current: Arc<ArcSwap<Generation>>,
}

/// One configuration in force: the state, its router and its TLS acceptor.
pub(crate) struct Generation {
    pub(crate) state: AppState,
    pub(crate) router: axum::Router,
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Generation {
    fn new(state: AppState) -> Generation {
        let tls = state.config().tls.as_ref().map(crate::tls::TlsSettings::acceptor);
        Generation { router: crate::app(state.clone()), tls, state }
    }
}

/// What a reload changed that it could not apply, and the new configuration's warnings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Settings that changed but need a restart (their running values were kept).
    pub restart_needed: Vec<&'static str>,
    /// Warnings of the new configuration that the previous one did not have.
    pub new_warnings: Vec<String>,
}

impl LiveState {
    /// Serving `state`.
    pub fn new(state: AppState) -> LiveState {
        LiveState { current: Arc::new(ArcSwap::from_pointee(Generation::new(state))) }
    }

    /// The state in force.
    pub fn current(&self) -> AppState {
        self.current.load().state.clone()
    }

    /// The generation in force, for one request or one new connection.
    pub(crate) fn generation(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// Puts `config` (validated, as [`Config::load`] gives it) in force for the requests and
    /// connections that start from now on. Settings that need a restart keep their running
    /// values and are named in the result.
    pub fn apply(&self, mut config: Config) -> Applied {
        let running = self.current();
        let restart_needed = keep_restart_only(running.config(), &mut config);
        let new_warnings = config.warnings.iter().filter(|w| !running.config().warnings.contains(w)).cloned().collect();
        self.current.store(Arc::new(Generation::new(running.successor(config))));
        Applied { restart_needed, new_warnings }
    }
}

/// Copies into `new` the settings of `running` that only a restart changes, naming those that
/// differed. In demo mode the throwaway app id and certificate stay too.
fn keep_restart_only(running: &Config, new: &mut Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! keep {
        ($field:ident, $name:literal) => {
            if new.$field != running.$field {
                changed.push($name);
                new.$field = running.$field.clone();
            }
        };
    }
    keep!(host, "host");
    keep!(port, "port");
    keep!(max_connections, "max_connections");
    keep!(first_request_timeout, "first_request_timeout_secs");
    keep!(idle_timeout, "idle_timeout_secs");
    keep!(header_read_timeout, "header_read_timeout_secs");
    keep!(shutdown_grace, "shutdown_grace_secs");
    if new.tls.is_some() != running.tls.is_some() {
        changed.push("tls_cert_file/tls_key_file (TLS on or off)");
        new.tls.clone_from(&running.tls);
    }
    if new.demo && running.demo {
        new.apps[0].app_id = running.apps[0].app_id.clone();
        new.apps[0].certificate = running.apps[0].certificate.clone();
    }
    changed
}

/// Loads a configuration (as `serve` does: [`Config::load`] with its options).
pub type Loader = Arc<dyn Fn() -> Result<Config, ServerError> + Send + Sync>;

/// Loads a configuration with `load` and puts it in force in `live`, or keeps the one in force
/// when it fails; logs the outcome (the error's setting and rule) and counts it in the metrics.
/// `trigger` says why (`SIGHUP`, `file change`), in the log line.
pub fn reload_now(live: &LiveState, load: &Loader, trigger: &str) -> Result<Applied, ServerError> {
    let metrics = live.current().inner.metrics.clone();
    let config = match load() {
        Ok(config) => config,
        Err(e) => {
            metrics.config_reload_failed();
            log_failure(&e, trigger);
            return Err(e);
        }
    };
    let apps = config.apps.len();
    let applied = live.apply(config);
    metrics.config_loaded(unix_now(), true);
    for warning in &applied.new_warnings {
        tracing::warn!("{warning}");
    }
    if applied.restart_needed.is_empty() {
        tracing::info!(trigger, apps, "configuration reloaded");
    } else {
        let restart_needed = applied.restart_needed.join(", ");
        tracing::warn!(
            trigger,
            apps,
            restart_needed = %restart_needed,
            "configuration reloaded; these changed settings need a restart and keep their running values: {restart_needed}"
        );
    }
    Ok(applied)
}

fn log_failure(error: &ServerError, trigger: &str) {
    const KEPT: &str = "configuration reload failed; the previous configuration stays in force";
    match error {
        ServerError::Config { source_name, field, message } => {
            tracing::error!(trigger, source = %source_name, setting = %field, rule = %message, "{KEPT}: {error}");
        }
        ServerError::Setting { source_name, field, error: rule } => {
            tracing::error!(trigger, source = %source_name, setting = %field, rule = %rule, "{KEPT}: {error}");
        }
        other => tracing::error!(trigger, error = %other, "{KEPT}: {other}"),
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Reloads `live` with `load` for each trigger received on `requests` (its name goes in the
/// log line) and whenever one of the configuration's files changes (read every `poll`).
/// Returns when `requests` is closed.
pub async fn watch(live: LiveState, load: Loader, mut requests: mpsc::Receiver<&'static str>, poll: Duration) {
    // What the files held when the configuration in force read them.
    let mut applied = live.current().config().source_digests.clone();
    let mut last_seen = applied.clone();
    let mut ticks = tokio::time::interval(poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let files = live.current().config().source_files.clone();
        let (trigger, before) = tokio::select! {
            request = requests.recv() => match request {
                Some(trigger) => (trigger, digests(files).await),
                None => return,
            },
            _ = ticks.tick() => {
                let now = digests(files).await;
                // Changed since the last load, and read the same twice: not caught mid-write.
                let settled = now != applied && now == last_seen;
                last_seen = now.clone();
                if !settled {
                    continue;
                }
                ("file change", now)
            }
        };
        let (live_now, load_now) = (live.clone(), load.clone());
        let result = tokio::task::spawn_blocking(move || reload_now(&live_now, &load_now, trigger)).await;
        applied = match result {
            Ok(Ok(_)) => live.current().config().source_digests.clone(),
            // Not tried again until a file changes again (or SIGHUP).
            _ => before,
        };
        last_seen = applied.clone();
    }
}

/// The digests of `files`, read off the runtime's threads.
async fn digests(files: Vec<PathBuf>) -> Digests {
    tokio::task::spawn_blocking(move || Digests::of(&files)).await.unwrap_or_default()
}

/// Sends `"SIGHUP"` on `requests` for each SIGHUP. The handler is installed now, so a SIGHUP
/// that arrives once this returns is never the default action (which ends the process).
#[cfg(unix)]
pub(crate) fn forward_hangups(requests: mpsc::Sender<&'static str>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP received: reloading the configuration");
            if requests.send("SIGHUP").await.is_err() {
                return;
            }
        }
    });
    Ok(())
}

/// No SIGHUP here: the files are still watched.
#[cfg(not(unix))]
pub(crate) fn forward_hangups(_requests: mpsc::Sender<&'static str>) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_only_settings_keep_their_running_values() {
        let running = Config::demo();
        let mut new = Config::demo();
        new.port = 9;
        new.shutdown_grace = Duration::from_secs(1);
        new.body_limit = 1024;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().self_signed(&key).unwrap();
        new.tls =
            Some(crate::tls::TlsSettings::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap());
        let changed = keep_restart_only(&running, &mut new);
        assert_eq!(changed, vec!["port", "shutdown_grace_secs", "tls_cert_file/tls_key_file (TLS on or off)"]);
        assert_eq!((new.port, new.shutdown_grace), (running.port, running.shutdown_grace));
        assert!(new.tls.is_none(), "TLS was turned on by a reload");
        assert_eq!(new.body_limit, 1024, "a reloadable setting was reverted");
        // Demo mode keeps its throwaway app: tokens issued before the reload stay verifiable.
        assert_eq!(new.apps[0].app_id, running.apps[0].app_id);
        assert_eq!(new.apps[0].certificate.expose_secret(), running.apps[0].certificate.expose_secret());
    }
}
