//! The shared state of the server: the validated configuration, each app's certificates
//! ready for signing and verifying, the clock and salt source, the metrics and the readiness flag.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use agtoken::{CertificateSet, Clock, OsSalt, SaltSource, SystemClock, UnixTime};

use crate::auth::Auth;
use crate::config::{AppConfig, Config};
use crate::jwks::RemoteJwks;
use crate::limit::Limiter;
use crate::limit_store::SharedStore;
use crate::metrics::Metrics;

/// What every handler shares. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) apps: Vec<App>,
    pub(crate) metrics: Metrics,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) salts: Arc<dyn SaltSource>,
    pub(crate) ready: AtomicBool,
    /// The per-address rate limit, if configured.
    pub(crate) per_ip: Option<Limiter<IpAddr>>,
    /// The shared rate-limit store (`limits_store`), if configured.
    pub(crate) store: Option<SharedStore>,
    /// Whether the security layer is in the router (auth, per-address limit or TLS).
    pub(crate) guarded: bool,
    /// The apps' JWT keys fetched from their identity providers.
    pub(crate) remote_jwks: Vec<Arc<RemoteJwks>>,
}

/// One app, prepared once: its settings, its certificate set, its per-caller rate limiters.
pub(crate) struct App {
    pub(crate) cfg: AppConfig,
    pub(crate) certs: CertificateSet,
    /// One limiter per policy rule with its own `rate_limit`.
    rule_limits: Vec<Option<Limiter<String>>>,
    /// The app's `rate_limit`, for rules without one.
    default_limit: Option<Limiter<String>>,
}

impl App {
    /// The per-caller limiter of policy rule `rule`.
    pub(crate) fn limiter(&self, rule: usize) -> Option<&Limiter<String>> {
        self.rule_limits.get(rule).and_then(Option::as_ref).or(self.default_limit.as_ref())
    }
}

impl AppState {
    /// State for `config`, with the system clock and OS random salts.
    pub fn new(config: Config) -> Self {
        AppState::with_sources(config, Arc::new(SystemClock), Arc::new(OsSalt))
    }

    /// State with an injected clock and salt source (for tests and reproducible runs).
    pub fn with_sources(config: Config, clock: Arc<dyn Clock>, salts: Arc<dyn SaltSource>) -> Self {
        let apps = config
            .apps
            .iter()
            .map(|cfg| {
                let certs = match &cfg.secondary_certificate {
                    Some(second) => CertificateSet::with_secondary(cfg.certificate.clone(), second.clone()),
                    None => CertificateSet::new(cfg.certificate.clone()),
                };
                let id = cfg.app_id.as_str();
                App {
                    cfg: cfg.clone(),
                    certs,
                    rule_limits: (cfg.policy.iter().enumerate())
                        .map(|(i, r)| r.rate_limit.map(|rate| Limiter::scoped(rate, format!("{id}:rule:{i}"))))
                        .collect(),
                    default_limit: cfg.rate_limit.map(|rate| Limiter::scoped(rate, format!("{id}:app"))),
                }
            })
            .collect();
        let per_ip = config.per_ip_rate_limit.map(|rate| Limiter::scoped(rate, "ip".to_owned()));
        let store = config.limits_store.clone().map(SharedStore::new);
        if let Some(store) = &store {
            store.connect_in_background();
        }
        let remote_jwks: Vec<Arc<RemoteJwks>> = (config.apps.iter())
            .filter_map(|app| match &app.auth {
                Auth::Jwt(jwt) => jwt.remote().cloned(),
                _ => None,
            })
            .collect();
        for jwks in &remote_jwks {
            jwks.start();
        }
        let guarded = per_ip.is_some() || config.tls.is_some() || config.apps.iter().any(|a| !a.auth.is_none());
        AppState {
            inner: Arc::new(Shared {
                config,
                apps,
                metrics: Metrics::default(),
                clock,
                salts,
                ready: AtomicBool::new(true),
                per_ip,
                store,
                guarded,
                remote_jwks,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Whether `/readyz` answers 200. Cleared when shutdown begins, so that load balancers
    /// stop sending new requests while in-flight ones drain.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Relaxed)
    }

    /// Sets readiness.
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Relaxed);
    }

    /// The Prometheus text of the metrics.
    pub fn metrics_text(&self) -> String {
        self.inner.metrics.set_limits_store_up(self.limits_store().map(|s| !s.is_down()));
        let mut text = self.inner.metrics.render(self.inner.apps.len(), self.inner.config.demo);
        crate::metrics::render_jwks(&mut text, &self.inner.remote_jwks);
        text
    }

    /// The apps' JWT keys fetched from their identity providers.
    pub(crate) fn remote_jwks(&self) -> &[Arc<RemoteJwks>] {
        &self.inner.remote_jwks
    }

    /// Whether an app's JWT keys come from a URL.
    pub(crate) fn has_remote_jwks(&self) -> bool {
        !self.inner.remote_jwks.is_empty()
    }

    pub(crate) fn now(&self) -> UnixTime {
        self.inner.clock.now()
    }

    pub(crate) fn salt(&self) -> u32 {
        self.inner.salts.salt()
    }

    pub(crate) fn default_app(&self) -> &App {
        &self.inner.apps[0]
    }

    pub(crate) fn app(&self, app_id: &str) -> Option<&App> {
        self.inner.apps.iter().find(|a| a.cfg.app_id.as_str() == app_id)
    }

    pub(crate) fn app_indexed(&self, app_id: &str) -> Option<(usize, &App)> {
        self.inner.apps.iter().enumerate().find(|(_, a)| a.cfg.app_id.as_str() == app_id)
    }

    pub(crate) fn per_ip_limiter(&self) -> Option<&Limiter<IpAddr>> {
        self.inner.per_ip.as_ref()
    }

    /// The shared rate-limit store, if configured.
    pub(crate) fn limits_store(&self) -> Option<&SharedStore> {
        self.inner.store.as_ref()
    }

    pub(crate) fn apps(&self) -> &[App] {
        &self.inner.apps
    }

    /// Whether the security layer (auth context, per-address limit, HSTS) is needed.
    pub(crate) fn guarded(&self) -> bool {
        self.inner.guarded
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("apps", &self.inner.apps.iter().map(|a| a.cfg.app_id.as_str()).collect::<Vec<_>>())
            .field("demo", &self.inner.config.demo)
            .finish_non_exhaustive()
    }
}
