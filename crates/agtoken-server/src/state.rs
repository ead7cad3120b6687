//! The shared state of the server: the validated configuration, each app's certificates
//! ready for signing and verifying, the clock and salt source, the metrics and the readiness flag.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use agtoken::{CertificateSet, Clock, OsSalt, SaltSource, SystemClock, UnixTime};

use crate::config::{AppConfig, Config};
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
}

/// One app, prepared once: its settings and its certificate set.
pub(crate) struct App {
    pub(crate) cfg: AppConfig,
    pub(crate) certs: CertificateSet,
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
                App { cfg: cfg.clone(), certs }
            })
            .collect();
        AppState {
            inner: Arc::new(Shared {
                config,
                apps,
                metrics: Metrics::default(),
                clock,
                salts,
                ready: AtomicBool::new(true),
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
        self.inner.metrics.render(self.inner.apps.len(), self.inner.config.demo)
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
