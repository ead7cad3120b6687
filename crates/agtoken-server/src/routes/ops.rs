//! Operations endpoints: health, readiness, metrics, the OpenAPI document.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::jwks::Readiness;
use crate::limit_store::Fallback;
use crate::state::AppState;

fn with_type(status: StatusCode, body: String, content_type: &'static str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// `GET /healthz`: the process answers.
pub(crate) async fn healthz() -> Response {
    with_type(StatusCode::OK, r#"{"status":"ok"}"#.to_owned(), "application/json")
}

/// `GET /readyz`: 200 while accepting work, 503 once shutdown has begun. With a shared
/// rate-limit store, the store is checked (a PING, or the last failure while its breaker is
/// open): unreachable with `limits_store_fallback = "refuse"` is 503 with the reason; with
/// `"local"` the answer stays 200 and says `degraded`.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    if !state.is_ready() {
        return with_type(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "draining"}).to_string(),
            "application/json",
        );
    }
    let mut body = json!({"status": "ready", "apps": state.config().apps.len(), "demo": state.config().demo});
    let mut status = StatusCode::OK;
    if let Some(store) = state.limits_store() {
        let settings = store.settings();
        match store.check().await {
            Ok(()) => body["limits_store"] = json!("up"),
            Err((why, reason)) => {
                if matches!(why, crate::limit_store::Unavailable::Failed) {
                    state.metrics().limits_store_error();
                }
                body["limits_store"] = json!("down");
                match settings.fallback {
                    Fallback::Refuse => {
                        status = StatusCode::SERVICE_UNAVAILABLE;
                        body["status"] = json!("not_ready");
                        body["reason"] = json!(format!(
                            "rate-limit store unavailable ({reason}) and limits_store_fallback = \"refuse\""
                        ));
                    }
                    Fallback::Local => {
                        body["degraded"] = json!(format!(
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
            Readiness::Fresh => body["jwks"][app] = json!("ok"),
            Readiness::Stale(reason) => {
                body["jwks"][app] = json!("stale");
                body["degraded"] = json!(format!(
                    "app {app}: the last JWKS fetch failed ({reason}); the keys fetched before are used"
                ));
            }
            Readiness::Missing(reason) => {
                body["jwks"][app] = json!("missing");
                status = StatusCode::SERVICE_UNAVAILABLE;
                body["status"] = json!("not_ready");
                body["reason"] = json!(format!("app {app}: its JWT keys were never fetched ({reason})"));
            }
        }
    }
    with_type(status, body.to_string(), "application/json")
}

/// `GET /metrics`: Prometheus text.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    with_type(StatusCode::OK, state.metrics_text(), "text/plain; version=0.0.4; charset=utf-8")
}

/// `GET /openapi.json`.
pub(crate) async fn openapi(State(state): State<AppState>) -> Response {
    with_type(StatusCode::OK, crate::openapi::document_text(state.config()), "application/json")
}
