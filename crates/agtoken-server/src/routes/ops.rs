//! Operations endpoints: health, readiness, metrics, the OpenAPI document.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;

use crate::jwks::Readiness as KeyReadiness;
use crate::limit_store::Fallback;
use crate::state::AppState;

fn with_type(status: StatusCode, body: String, content_type: &'static str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json_answer(status: StatusCode, body: &impl Serialize) -> Response {
    with_type(status, serde_json::to_string(body).expect("an answer serializes"), "application/json")
}

/// The answer of `GET /healthz`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Health {
    /// Always `ok`: the process answers.
    status: Liveness,
}

/// The only liveness there is.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Liveness {
    /// The process answers.
    Ok,
}

/// The answer of `GET /readyz`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Readiness {
    /// `ready` (200), `draining` or `not_ready` (503).
    status: ReadyStatus,
    /// How many apps are configured (absent while draining).
    #[serde(skip_serializing_if = "Option::is_none")]
    apps: Option<usize>,
    /// Whether the server runs in demo mode (absent while draining).
    #[serde(skip_serializing_if = "Option::is_none")]
    demo: Option<bool>,
    /// The shared rate-limit store, when one is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    limits_store: Option<StoreState>,
    /// Per app whose JWT keys come from a URL: whether they are fetched.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    jwks: BTreeMap<String, KeysState>,
    /// Why the server is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Ready, but something works less well than configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    degraded: Option<String>,
}

#[derive(Serialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum ReadyStatus {
    /// Accepting work.
    Ready,
    /// Shutdown has begun.
    Draining,
    /// A dependency is missing (see `reason`).
    NotReady,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum StoreState {
    /// The store answers.
    Up,
    /// The store does not answer.
    Down,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum KeysState {
    /// Fetched and fresh.
    Ok,
    /// The last fetch failed; the keys fetched before are used.
    Stale,
    /// Never fetched.
    Missing,
}

/// `GET /healthz`: the process answers.
pub(crate) async fn healthz() -> Response {
    json_answer(StatusCode::OK, &Health { status: Liveness::Ok })
}

/// `GET /readyz`: 200 while accepting work, 503 once shutdown has begun. With a shared
/// rate-limit store, the store is checked (a PING, or the last failure while its breaker is
/// open): unreachable with `limits_store_fallback = "refuse"` is 503 with the reason; with
/// `"local"` the answer stays 200 and says `degraded`.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let mut body = Readiness {
        status: ReadyStatus::Draining,
        apps: None,
        demo: None,
        limits_store: None,
        jwks: BTreeMap::new(),
        reason: None,
        degraded: None,
    };
    if !state.is_ready() {
        return json_answer(StatusCode::SERVICE_UNAVAILABLE, &body);
    }
    body.status = ReadyStatus::Ready;
    body.apps = Some(state.config().apps.len());
    body.demo = Some(state.config().demo);
    if let Some(store) = state.limits_store() {
        let settings = store.settings();
        match store.check().await {
            Ok(()) => body.limits_store = Some(StoreState::Up),
            Err((why, reason)) => {
                if matches!(why, crate::limit_store::Unavailable::Failed) {
                    state.metrics().limits_store_error();
                }
                body.limits_store = Some(StoreState::Down);
                match settings.fallback {
                    Fallback::Refuse => {
                        body.status = ReadyStatus::NotReady;
                        body.reason = Some(format!(
                            "rate-limit store unavailable ({reason}) and limits_store_fallback = \"refuse\""
                        ));
                    }
                    Fallback::Local => {
                        body.degraded = Some(format!(
                            "rate-limit store unavailable ({reason}): limits count in each replica's memory \
                             (limits_store_fallback = \"local\")"
                        ));
                    }
                }
            }
        }
    }
    // Apps whose JWT keys come from a URL: never fetched is not ready (their JWT requests get
    // 503); fetched but failing since is ready (the last good keys are used) and says so.
    for jwks in state.remote_jwks() {
        let app = jwks.app_id();
        match jwks.readiness() {
            KeyReadiness::Fresh => {
                body.jwks.insert(app.to_owned(), KeysState::Ok);
            }
            KeyReadiness::Stale(reason) => {
                body.jwks.insert(app.to_owned(), KeysState::Stale);
                body.degraded =
                    Some(format!("app {app}: the last JWKS fetch failed ({reason}); the keys fetched before are used"));
            }
            KeyReadiness::Missing(reason) => {
                body.jwks.insert(app.to_owned(), KeysState::Missing);
                body.status = ReadyStatus::NotReady;
                body.reason = Some(format!("app {app}: its JWT keys were never fetched ({reason})"));
            }
        }
    }
    let status = if body.status == ReadyStatus::Ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    json_answer(status, &body)
}

/// `GET /metrics`: Prometheus text.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    with_type(StatusCode::OK, state.metrics_text(), "text/plain; version=0.0.4; charset=utf-8")
}

/// `GET /openapi.json`.
pub(crate) async fn openapi(State(state): State<AppState>) -> Response {
    with_type(StatusCode::OK, crate::openapi::document_text(state.config()), "application/json")
}
