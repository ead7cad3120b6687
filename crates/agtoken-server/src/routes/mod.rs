//! The router: compatibility routes, the v1 API, operations endpoints, the web page; and
//! the layers every request goes through (CORS, body limit, timeout, metrics).

pub(crate) mod compat;
pub(crate) mod ops;
pub(crate) mod v1;

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::config::CorsOrigins;
use crate::error::ApiError;
use crate::metrics::route_index;
use crate::state::AppState;

/// Builds the router for `state`.
pub(crate) fn router(state: AppState) -> Router {
    let config = state.config();
    let cors = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(std::time::Duration::from_secs(86_400));
    let cors = match &config.cors {
        CorsOrigins::Any => cors.allow_origin(AllowOrigin::any()),
        CorsOrigins::List(list) => {
            cors.allow_origin(AllowOrigin::list(list.iter().filter_map(|o| HeaderValue::from_str(o).ok())))
        }
    };
    let body_limit = config.body_limit;

    let router = Router::new()
        // 1. the docs' Go sample server
        .route("/fetch_rtc_token", post(compat::fetch_rtc_token))
        // 2. the docs' Docker token generator
        .route("/token/generate", post(compat::token_generate))
        // 3. the community token service, and 4. the Spring server's RTC route (same depth)
        .route("/rtc/{a}/{b}/{c}/{d}", get(compat::rtc_four))
        .route("/rtc/{a}/{b}/{c}/{d}/", get(compat::rtc_four))
        .route("/rtm/{uid}", get(compat::rtm))
        .route("/rtm/{uid}/", get(compat::rtm))
        .route("/rte/{channel}/{role}/{tokentype}/{rtcuid}", get(compat::rte))
        .route("/rte/{channel}/{role}/{tokentype}/{rtcuid}/", get(compat::rte))
        .route("/rte/{channel}/{role}/{tokentype}/{rtcuid}/{rtmuid}", get(compat::rte_with_rtm))
        .route("/rte/{channel}/{role}/{tokentype}/{rtcuid}/{rtmuid}/", get(compat::rte_with_rtm))
        .route("/chat/app", get(compat::chat_app))
        .route("/chat/app/", get(compat::chat_app))
        .route("/chat/account/{uid}", get(compat::chat_account))
        .route("/chat/account/{uid}/", get(compat::chat_account))
        .route("/getToken", post(compat::get_token))
        // 5. the community Go backend middleware (where Agora's docs now point)
        .route("/token/getNew", post(compat::get_new))
        .route("/ping", get(compat::ping))
        // 4. the docs' Spring chat server
        .route("/chat/app/token", get(compat::spring_chat_app))
        .route("/chat/user/{user}/token", get(compat::spring_chat_user))
        // v1
        .route("/v1/tokens", post(v1::create))
        .route("/v1/tokens/inspect", post(v1::inspect))
        .route("/v1/tokens/verify", post(v1::verify))
        // operations
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route("/v1/config", get(crate::web::config))
        .route("/", get(crate::web::index))
        .route("/client.js", get(crate::web::client_js))
        .route("/style.css", get(crate::web::style_css))
        .route("/favicon.svg", get(crate::web::favicon))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    // Authentication context, per-address limit, HSTS: only when configured (see guard.rs).
    let router = if state.guarded() {
        router.layer(middleware::from_fn_with_state(state.clone(), crate::guard::guard))
    } else {
        router
    };
    router
        .layer(cors)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}

/// Times the request out and counts it by route pattern and status.
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = route_index(req.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
    let timeout = state.config().request_timeout;
    // `Expect: 100-continue` with a declared body over the limit: refuse before the body is read,
    // so the client never gets a `100 Continue` inviting it to send it. (Without `Expect`, the
    // route reads up to the limit and answers 413 in its own error shape.)
    let headers = req.headers();
    let expects_continue =
        headers.get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if expects_continue && declared.is_some_and(|n| n > state.config().body_limit as u64) {
        let response = ApiError::too_large(state.config().body_limit).into_response();
        state.metrics().observe(route, response.status().as_u16(), start.elapsed());
        return response;
    }
    let response = match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::timeout(timeout.as_secs_f64()).into_response(),
    };
    state.metrics().observe(route, response.status().as_u16(), start.elapsed());
    response
}
