//! Prometheus metrics, hand-rolled over atomics.
//!
//! Why not the `prometheus` or `metrics` crates: every label here is known when the crate is
//! compiled (the route patterns, a fixed list of statuses, the token services and versions),
//! so fixed arrays of `AtomicU64` do the job with no lock, no hashing of label sets and no
//! allocation on the request path, and the text format is a few dozen lines to write.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::time::Duration;

use agtoken::Version;

/// The `route` label of each route of the table (`routes::TABLE`, its declared pattern: a
/// trailing-slash variant counts under its route), then `unmatched` for a request that matched
/// no route (404). Derived from the table, so no route can lack a label.
pub fn route_labels() -> &'static [&'static str] {
    static LABELS: std::sync::LazyLock<Vec<&'static str>> =
        std::sync::LazyLock::new(|| crate::routes::TABLE.iter().map(|r| r.path).chain([UNMATCHED_LABEL]).collect());
    &LABELS
}

/// The label of requests that matched no route.
pub const UNMATCHED_LABEL: &str = "unmatched";

const STATUSES: &[u16] = &[200, 204, 400, 401, 403, 404, 405, 408, 413, 415, 422, 429, 500, 503];
const STATUS_SLOTS: usize = STATUSES.len() + 1; // + "other"

fn status_slot(status: u16) -> usize {
    STATUSES.iter().position(|s| *s == status).unwrap_or(STATUSES.len())
}

/// Upper bounds of the latency histogram, microseconds.
const BUCKETS_US: &[u64] =
    &[100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000, 5_000_000];

/// Token services counted (by type name of the library) plus `other`.
static SERVICES: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| agtoken::ServiceType::ALL.iter().map(|t| t.name()).chain(["other"]).collect());

/// The metrics index of a service: its place in the library's [`agtoken::ServiceType::ALL`],
/// or `other` for a type it does not know.
pub fn service_index(service: Option<agtoken::ServiceType>) -> usize {
    service
        .and_then(|s| agtoken::ServiceType::ALL.iter().position(|t| *t == s))
        .unwrap_or(agtoken::ServiceType::ALL.len())
}

struct RouteStats {
    by_status: [AtomicU64; STATUS_SLOTS],
    buckets: [AtomicU64; BUCKETS_US.len()],
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl RouteStats {
    fn new() -> Self {
        RouteStats {
            by_status: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

/// The server's counters.
pub struct Metrics {
    routes: Vec<RouteStats>,
    /// `[service][version]`, version 0 = 007, 1 = 006.
    issued: Vec<[AtomicU64; 2]>,
    refused: AtomicU64,
    /// Connections: open now, times the accept loop found `max_connections` open, accept errors.
    connections_open: AtomicU64,
    connection_limit_hits: AtomicU64,
    accept_errors: AtomicU64,
    /// Rate-limit decisions `[store][outcome]`: store 0 = redis, 1 = local; outcome 0 = allowed, 1 = refused.
    limit_decisions: [[AtomicU64; 2]; 2],
    /// Calls to the shared store that failed or missed their deadline.
    store_errors: AtomicU64,
    /// Decisions made without the shared store, by fallback: 0 = local, 1 = refuse.
    store_fallbacks: [AtomicU64; 2],
    /// The shared store: 0 not configured, 1 up, 2 down.
    store_up: AtomicU8,
    /// Configuration reloads (see the reload block at the end of this file).
    reloads: ReloadStats,
    started: std::time::Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            routes: route_labels().iter().map(|_| RouteStats::new()).collect(),
            issued: SERVICES.iter().map(|_| [AtomicU64::new(0), AtomicU64::new(0)]).collect(),
            refused: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            connection_limit_hits: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            limit_decisions: std::array::from_fn(|_| [AtomicU64::new(0), AtomicU64::new(0)]),
            store_errors: AtomicU64::new(0),
            store_fallbacks: [AtomicU64::new(0), AtomicU64::new(0)],
            store_up: AtomicU8::new(0),
            reloads: ReloadStats::default(),
            started: std::time::Instant::now(),
        }
    }
}

impl Metrics {
    /// Counts one answered request of the route at `route` in the table (`None`: no route
    /// matched).
    pub(crate) fn observe(&self, route: Option<usize>, status: u16, elapsed: Duration) {
        let unmatched = self.routes.len() - 1;
        let stats = &self.routes[route.map_or(unmatched, |r| r.min(unmatched))];
        stats.by_status[status_slot(status)].fetch_add(1, Relaxed);
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        // Buckets are stored non-cumulatively and summed when rendered.
        if let Some(b) = BUCKETS_US.iter().position(|&le| us <= le) {
            stats.buckets[b].fetch_add(1, Relaxed);
        }
        stats.sum_us.fetch_add(us, Relaxed);
        stats.count.fetch_add(1, Relaxed);
    }

    /// Counts one issued token holding `service`.
    pub fn issued(&self, service: usize, version: Version) {
        let v = match version {
            Version::V007 => 0,
            Version::V006 => 1,
        };
        self.issued[service.min(SERVICES.len() - 1)][v].fetch_add(1, Relaxed);
    }

    /// Counts one request that was refused before a token was built (policy, later rate limits).
    pub fn refused(&self) {
        self.refused.fetch_add(1, Relaxed);
    }

    /// A connection was accepted.
    pub(crate) fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Relaxed);
    }

    /// A connection closed.
    pub(crate) fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    /// The accept loop found `max_connections` open and waits for one to close.
    pub(crate) fn connection_limit_hit(&self) {
        self.connection_limit_hits.fetch_add(1, Relaxed);
    }

    /// `accept` failed (e.g. out of file descriptors).
    pub(crate) fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Relaxed);
    }

    /// Counts one rate-limit decision, made in Redis (`shared`) or in this replica's memory.
    pub fn limit_decision(&self, shared: bool, allowed: bool) {
        self.limit_decisions[usize::from(!shared)][usize::from(!allowed)].fetch_add(1, Relaxed);
    }

    /// Counts one failed call to the shared store (error or deadline).
    pub fn limits_store_error(&self) {
        self.store_errors.fetch_add(1, Relaxed);
    }

    /// Counts one decision made without the shared store: in memory (`local`) or refused.
    pub fn limits_store_fallback(&self, local: bool) {
        self.store_fallbacks[usize::from(!local)].fetch_add(1, Relaxed);
    }

    /// Sets the shared store's state (`None`: not configured).
    pub fn set_limits_store_up(&self, up: Option<bool>) {
        self.store_up.store(up.map_or(0, |up| if up { 1 } else { 2 }), Relaxed);
    }

    /// Total tokens issued so far (all services counted once per token service).
    pub fn issued_total(&self) -> u64 {
        self.issued.iter().flat_map(|v| v.iter()).map(|c| c.load(Relaxed)).sum()
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, apps: usize, demo: bool) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP agtoken_http_requests_total HTTP requests answered, by route pattern and status.\n");
        out.push_str("# TYPE agtoken_http_requests_total counter\n");
        for (route, stats) in route_labels().iter().zip(&self.routes) {
            for (slot, counter) in stats.by_status.iter().enumerate() {
                let n = counter.load(Relaxed);
                if n == 0 {
                    continue;
                }
                let status = STATUSES.get(slot).map_or_else(|| "other".to_owned(), u16::to_string);
                let _ = writeln!(out, "agtoken_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
            }
        }
        out.push_str(
            "# HELP agtoken_http_request_duration_seconds Time from request to response head, by route pattern.\n",
        );
        out.push_str("# TYPE agtoken_http_request_duration_seconds histogram\n");
        for (route, stats) in route_labels().iter().zip(&self.routes) {
            let count = stats.count.load(Relaxed);
            if count == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (le, bucket) in BUCKETS_US.iter().zip(&stats.buckets) {
                cumulative += bucket.load(Relaxed);
                let _ = writeln!(
                    out,
                    "agtoken_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{}\"}} {cumulative}",
                    *le as f64 / 1e6
                );
            }
            let _ =
                writeln!(out, "agtoken_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}");
            let sum = stats.sum_us.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "agtoken_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}");
            let _ = writeln!(out, "agtoken_http_request_duration_seconds_count{{route=\"{route}\"}} {count}");
        }
        out.push_str("# HELP agtoken_tokens_issued_total Tokens issued, by service they hold and format version.\n");
        out.push_str("# TYPE agtoken_tokens_issued_total counter\n");
        for (service, counters) in SERVICES.iter().zip(&self.issued) {
            for (version, counter) in ["007", "006"].iter().zip(counters) {
                let n = counter.load(Relaxed);
                if n > 0 || (*service == "rtc" && *version == "007") {
                    let _ =
                        writeln!(out, "agtoken_tokens_issued_total{{service=\"{service}\",version=\"{version}\"}} {n}");
                }
            }
        }
        out.push_str("# HELP agtoken_tokens_refused_total Token requests refused by policy before building.\n");
        out.push_str("# TYPE agtoken_tokens_refused_total counter\n");
        let _ = writeln!(out, "agtoken_tokens_refused_total {}", self.refused.load(Relaxed));
        out.push_str("# HELP agtoken_connections_open Connections open (accepted, not yet closed).\n");
        out.push_str("# TYPE agtoken_connections_open gauge\n");
        let _ = writeln!(out, "agtoken_connections_open {}", self.connections_open.load(Relaxed));
        out.push_str(
            "# HELP agtoken_connection_limit_hits_total Times the server stopped accepting because max_connections were open.\n",
        );
        out.push_str("# TYPE agtoken_connection_limit_hits_total counter\n");
        let _ = writeln!(out, "agtoken_connection_limit_hits_total {}", self.connection_limit_hits.load(Relaxed));
        out.push_str("# HELP agtoken_accept_errors_total Failed accepts (e.g. out of file descriptors).\n");
        out.push_str("# TYPE agtoken_accept_errors_total counter\n");
        let _ = writeln!(out, "agtoken_accept_errors_total {}", self.accept_errors.load(Relaxed));
        out.push_str("# HELP agtoken_rate_limit_decisions_total Rate-limit decisions, by where they were made (redis: the shared store, local: this replica's memory) and outcome.\n");
        out.push_str("# TYPE agtoken_rate_limit_decisions_total counter\n");
        for (store, counters) in ["redis", "local"].iter().zip(&self.limit_decisions) {
            for (outcome, counter) in ["allowed", "refused"].iter().zip(counters) {
                let n = counter.load(Relaxed);
                let _ =
                    writeln!(out, "agtoken_rate_limit_decisions_total{{store=\"{store}\",outcome=\"{outcome}\"}} {n}");
            }
        }
        out.push_str("# HELP agtoken_limits_store_errors_total Calls to the shared rate-limit store that failed or missed their deadline.\n");
        out.push_str("# TYPE agtoken_limits_store_errors_total counter\n");
        let _ = writeln!(out, "agtoken_limits_store_errors_total {}", self.store_errors.load(Relaxed));
        out.push_str("# HELP agtoken_limits_store_fallbacks_total Rate-limit decisions made without the shared store, by fallback.\n");
        out.push_str("# TYPE agtoken_limits_store_fallbacks_total counter\n");
        for (fallback, counter) in ["local", "refuse"].iter().zip(&self.store_fallbacks) {
            let _ = writeln!(
                out,
                "agtoken_limits_store_fallbacks_total{{fallback=\"{fallback}\"}} {}",
                counter.load(Relaxed)
            );
        }
        match self.store_up.load(Relaxed) {
            0 => {}
            state => {
                out.push_str("# HELP agtoken_limits_store_up 1 while the shared rate-limit store answers, 0 while decisions are made without it.\n# TYPE agtoken_limits_store_up gauge\n");
                let _ = writeln!(out, "agtoken_limits_store_up {}", u8::from(state == 1));
            }
        }
        self.reloads.render(&mut out);
        out.push_str("# HELP agtoken_apps Apps configured.\n# TYPE agtoken_apps gauge\n");
        let _ = writeln!(out, "agtoken_apps {apps}");
        out.push_str(
            "# HELP agtoken_demo_mode 1 when running with a throwaway demo app.\n# TYPE agtoken_demo_mode gauge\n",
        );
        let _ = writeln!(out, "agtoken_demo_mode {}", u8::from(demo));
        out.push_str("# HELP agtoken_uptime_seconds Seconds since start.\n# TYPE agtoken_uptime_seconds gauge\n");
        let _ = writeln!(out, "agtoken_uptime_seconds {}", self.started.elapsed().as_secs());
        let _ = writeln!(
            out,
            "# HELP agtoken_build_info Build.\n# TYPE agtoken_build_info gauge\nagtoken_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

// ---- configuration reloads ---------------------------------------------------------------------

/// Reloads by outcome, and when the configuration in force was loaded.
#[derive(Default)]
struct ReloadStats {
    /// `[ok, failed]`.
    outcomes: [AtomicU64; 2],
    /// Unix seconds when the configuration in force was loaded (start-up or the last
    /// successful reload); 0 until the server says.
    last_success: AtomicU64,
}

impl ReloadStats {
    fn render(&self, out: &mut String) {
        out.push_str(
            "# HELP agtoken_config_reloads_total Configuration reloads (SIGHUP or a changed file), by outcome.\n",
        );
        out.push_str("# TYPE agtoken_config_reloads_total counter\n");
        for (outcome, counter) in ["ok", "failed"].iter().zip(&self.outcomes) {
            let _ = writeln!(out, "agtoken_config_reloads_total{{outcome=\"{outcome}\"}} {}", counter.load(Relaxed));
        }
        out.push_str("# HELP agtoken_config_last_reload_success_timestamp_seconds When the configuration in force was loaded (start-up or the last successful reload), Unix time.\n");
        out.push_str("# TYPE agtoken_config_last_reload_success_timestamp_seconds gauge\n");
        let _ =
            writeln!(out, "agtoken_config_last_reload_success_timestamp_seconds {}", self.last_success.load(Relaxed));
    }
}

impl Metrics {
    /// The configuration in force was loaded at `unix_secs` (start-up or a reload that
    /// succeeded); `reloaded` counts it as a reload.
    pub fn config_loaded(&self, unix_secs: u64, reloaded: bool) {
        self.reloads.last_success.store(unix_secs, Relaxed);
        if reloaded {
            self.reloads.outcomes[0].fetch_add(1, Relaxed);
        }
    }

    /// Counts one reload that failed (the previous configuration stays in force).
    pub fn config_reload_failed(&self) {
        self.reloads.outcomes[1].fetch_add(1, Relaxed);
    }
}

/// The JWKS lines: fetches by outcome, the last success and the keys held, per app whose JWT
/// keys come from a URL (nothing when none does).
pub(crate) fn render_jwks(out: &mut String, sources: &[std::sync::Arc<crate::jwks::RemoteJwks>]) {
    if sources.is_empty() {
        return;
    }
    out.push_str(
        "# HELP agtoken_jwks_fetches_total Fetches of JWT keys from identity providers, by app and outcome.\n",
    );
    out.push_str("# TYPE agtoken_jwks_fetches_total counter\n");
    for jwks in sources {
        for (outcome, n) in jwks.stats().fetches() {
            let _ = writeln!(
                out,
                "agtoken_jwks_fetches_total{{app_id=\"{}\",outcome=\"{}\"}} {n}",
                jwks.app_id(),
                outcome.as_str()
            );
        }
    }
    out.push_str(
        "# HELP agtoken_jwks_last_success_timestamp_seconds Unix time of the last successful JWKS fetch (0: never).\n",
    );
    out.push_str("# TYPE agtoken_jwks_last_success_timestamp_seconds gauge\n");
    for jwks in sources {
        let last = jwks.stats().last_success().unwrap_or(0);
        let _ = writeln!(out, "agtoken_jwks_last_success_timestamp_seconds{{app_id=\"{}\"}} {last}", jwks.app_id());
    }
    out.push_str("# HELP agtoken_jwks_keys Verification keys held from the last successful JWKS fetch.\n");
    out.push_str("# TYPE agtoken_jwks_keys gauge\n");
    for jwks in sources {
        let _ = writeln!(out, "agtoken_jwks_keys{{app_id=\"{}\"}} {}", jwks.app_id(), jwks.stats().keys());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        let r = crate::routes::TABLE.iter().position(|route| route.path == "/fetch_rtc_token");
        m.observe(r, 200, Duration::from_micros(80));
        m.observe(r, 200, Duration::from_micros(3000));
        m.observe(r, 400, Duration::from_micros(120));
        m.observe(None, 404, Duration::from_micros(10));
        m.issued(service_index(Some(agtoken::ServiceType::Rtc)), Version::V007);
        let text = m.render(1, false);
        assert!(text.contains("agtoken_http_requests_total{route=\"/fetch_rtc_token\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("agtoken_http_requests_total{route=\"unmatched\",status=\"404\"} 1"));
        assert!(
            text.contains("agtoken_http_request_duration_seconds_bucket{route=\"/fetch_rtc_token\",le=\"0.0001\"} 1")
        );
        assert!(
            text.contains("agtoken_http_request_duration_seconds_bucket{route=\"/fetch_rtc_token\",le=\"0.005\"} 3")
        );
        assert!(text.contains("agtoken_http_request_duration_seconds_count{route=\"/fetch_rtc_token\"} 3"));
        assert!(text.contains("agtoken_tokens_issued_total{service=\"rtc\",version=\"007\"} 1"));
        m.connection_opened();
        m.connection_opened();
        m.connection_closed();
        m.connection_limit_hit();
        let text = m.render(1, false);
        assert!(text.contains("\nagtoken_connections_open 1\n"), "{text}");
        assert!(text.contains("\nagtoken_connection_limit_hits_total 1\n"), "{text}");
        assert!(text.contains("\nagtoken_accept_errors_total 0\n"), "{text}");
    }
}
