//! Operations endpoints: health, readiness, metrics, the OpenAPI document.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

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

/// `GET /readyz`: 200 while accepting work, 503 once shutdown has begun.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let (status, body) = if state.is_ready() {
        (StatusCode::OK, json!({"status": "ready", "apps": state.config().apps.len(), "demo": state.config().demo}))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, json!({"status": "draining"}))
    };
    with_type(status, body.to_string(), "application/json")
}

/// `GET /metrics`: Prometheus text.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    with_type(StatusCode::OK, state.metrics_text(), "text/plain; version=0.0.4; charset=utf-8")
}

/// `GET /openapi.json`.
pub(crate) async fn openapi() -> Response {
    with_type(StatusCode::OK, crate::openapi::document_text().to_owned(), "application/json")
}
