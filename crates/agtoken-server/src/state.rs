//! The shared state of the server: the validated configuration, each app's certificates
//! ready for signing and verifying, the clock and salt source, the metrics and the readiness flag.
//!
//! A reload builds a new state with [`AppState::successor`]: the metrics, the readiness flag,
//! the clock and salts carry over, and so do the rate limiters whose rule is unchanged (same
//! app, same place, same name, same rate) and the shared store when its settings are.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use agtoken::{CertificateSet, Clock, OsSalt, SaltSource, SystemClock, UnixTime};

use crate::auth::Auth;
use crate::config::{AppConfig, Config};
use crate::guard::Issuer;
use crate::jwks::RemoteJwks;
use crate::limit::Limiter;
use crate::limit_store::SharedStore;
use crate::metrics::Metrics;

/// What every handler shares. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Shared>,
    /// The request this state issues for (see `guard::Issuer`): the security layer's context
    /// (credentials and client address), or the client address alone; no address outside a
    /// request.
    issuer: Issuer,
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) apps: Vec<App>,
    /// Shared by every configuration a server runs with (reloads keep counting).
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) salts: Arc<dyn SaltSource>,
    /// Shared by every configuration a server runs with.
    pub(crate) ready: Arc<AtomicBool>,
    /// The per-address rate limit, if configured.
    pub(crate) per_ip: Option<Arc<Limiter<IpAddr>>>,
    /// The shared rate-limit store (`limits_store`), if configured.
    pub(crate) store: Option<Arc<SharedStore>>,
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
    rule_limits: Vec<Option<Arc<Limiter<String>>>>,
    /// The app's `rate_limit`, for rules without one.
    default_limit: Option<Arc<Limiter<String>>>,
}

impl App {
    /// The per-caller limiter of policy rule `rule`.
    pub(crate) fn limiter(&self, rule: usize) -> Option<&Limiter<String>> {
        self.rule_limits.get(rule).and_then(Option::as_deref).or(self.default_limit.as_deref())
    }

    /// `cfg` prepared; its limiters taken from `previous` (the same app before a reload) where
    /// the rule is unchanged, so their counters carry over.
    fn prepare(cfg: &AppConfig, previous: Option<&App>) -> App {
        let certs = match &cfg.secondary_certificate {
            Some(second) => CertificateSet::with_secondary(cfg.certificate.clone(), second.clone()),
            None => CertificateSet::new(cfg.certificate.clone()),
        };
        let id = cfg.app_id.as_str();
        let rule_limits = (cfg.policy.iter().enumerate())
            .map(|(i, rule)| {
                let rate = rule.rate_limit?;
                let kept = previous.and_then(|old| {
                    let same_rule = old.cfg.policy.get(i).is_some_and(|r| r.name == rule.name);
                    old.rule_limits.get(i)?.clone().filter(|l| same_rule && l.rate() == rate)
                });
                Some(kept.unwrap_or_else(|| Arc::new(Limiter::scoped(rate, format!("{id}:rule:{i}")))))
            })
            .collect();
        let default_limit = cfg.rate_limit.map(|rate| {
            let kept = previous.and_then(|old| old.default_limit.clone()).filter(|l| l.rate() == rate);
            kept.unwrap_or_else(|| Arc::new(Limiter::scoped(rate, format!("{id}:app"))))
        });
        App { cfg: cfg.clone(), certs, rule_limits, default_limit }
    }
}

/// What a new state takes over from the one it replaces.
struct Carried {
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    clock: Arc<dyn Clock>,
    salts: Arc<dyn SaltSource>,
}

impl AppState {
    /// This state, issuing for the request of `issuer` (`guard::Issuer::bind`).
    pub(crate) fn for_request(self, issuer: Issuer) -> AppState {
        AppState { inner: self.inner, issuer }
    }

    /// The address of the client this state issues for, if known.
    pub(crate) fn client(&self) -> Option<IpAddr> {
        match &self.issuer {
            Issuer::Guarded(ctx) => ctx.client,
            Issuer::Unguarded(client) => *client,
        }
    }

    /// The security layer's context of the request this state issues for, if any.
    pub(crate) fn request(&self) -> Option<&crate::guard::RequestCtx> {
        match &self.issuer {
            Issuer::Guarded(ctx) => Some(ctx),
            Issuer::Unguarded(_) => None,
        }
    }

    /// State for `config`, with the system clock and OS random salts.
    pub fn new(config: Config) -> Self {
        AppState::with_sources(config, Arc::new(SystemClock), Arc::new(OsSalt))
    }

    /// State with an injected clock and salt source (for tests and reproducible runs).
    pub fn with_sources(config: Config, clock: Arc<dyn Clock>, salts: Arc<dyn SaltSource>) -> Self {
        let carried =
            Carried { metrics: Arc::new(Metrics::default()), ready: Arc::new(AtomicBool::new(true)), clock, salts };
        AppState::build(config, carried, None)
    }

    /// The state for `config` that replaces this one on a reload: the metrics, readiness,
    /// clock and salts are this state's; rate limiters of unchanged rules and the shared store
    /// (when its settings are unchanged) too, so their counts and connection carry over.
    pub(crate) fn successor(&self, config: Config) -> AppState {
        let old = &self.inner;
        let carried = Carried {
            metrics: old.metrics.clone(),
            ready: old.ready.clone(),
            clock: old.clock.clone(),
            salts: old.salts.clone(),
        };
        AppState::build(config, carried, Some(old))
    }

    fn build(config: Config, carried: Carried, previous: Option<&Shared>) -> Self {
        let apps = (config.apps.iter())
            .map(|cfg| {
                let old = previous.and_then(|p| p.apps.iter().find(|a| a.cfg.app_id == cfg.app_id));
                App::prepare(cfg, old)
            })
            .collect();
        let per_ip = config.per_ip_rate_limit.map(|rate| {
            let kept = previous.and_then(|p| p.per_ip.clone()).filter(|l| l.rate() == rate);
            kept.unwrap_or_else(|| Arc::new(Limiter::scoped(rate, "ip".to_owned())))
        });
        let store = config.limits_store.as_ref().map(|settings| {
            let kept = previous.and_then(|p| p.store.clone()).filter(|s| s.settings().same_as(settings));
            kept.unwrap_or_else(|| {
                let store = Arc::new(SharedStore::new(settings.clone()));
                store.connect_in_background();
                store
            })
        });
        let remote_jwks: Vec<Arc<RemoteJwks>> = (config.apps.iter())
            .filter_map(|app| match &app.auth {
                Auth::Jwt(jwt) => jwt.remote().cloned(),
                _ => None,
            })
            .collect();
        for jwks in &remote_jwks {
            let old = previous.and_then(|p| p.remote_jwks.iter().find(|o| o.app_id() == jwks.app_id()));
            if let Some(old) = old {
                jwks.inherit(old);
            }
            jwks.start();
        }
        let guarded = per_ip.is_some() || config.tls.is_some() || config.apps.iter().any(|a| !a.auth.is_none());
        AppState {
            issuer: Issuer::Unguarded(None),
            inner: Arc::new(Shared {
                config,
                apps,
                metrics: carried.metrics,
                clock: carried.clock,
                salts: carried.salts,
                ready: carried.ready,
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
        self.inner.per_ip.as_deref()
    }

    /// The shared rate-limit store, if configured.
    pub(crate) fn limits_store(&self) -> Option<&SharedStore> {
        self.inner.store.as_deref()
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
