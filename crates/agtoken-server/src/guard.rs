//! The security layer, in the router only when something needs it (an app with `auth`, a
//! per-address rate limit, or TLS):
//!
//! - the per-address rate limit of the API routes, before the route runs (429 + `Retry-After`);
//! - the request context of every other route: the credential headers and the client address,
//!   in a task-local that [`AppState::issue`](crate::state::AppState) reads. The check itself
//!   is in `issue.rs`, the one place every token goes through; a route that issues without
//!   this context is refused (fail closed) when its app has auth;
//! - the answer's headers: `WWW-Authenticate` on a 401, `Retry-After` on a 429, and
//!   `Strict-Transport-Security` when the server speaks TLS.

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{Caller, Credentials};
use crate::error::ApiError;
use crate::limit::retry_after_secs;
use crate::state::AppState;

tokio::task_local! {
    /// The request being answered (routes that may issue tokens).
    pub(crate) static REQUEST: RequestCtx;
}

/// An authentication result, with the index of the app it was for.
pub(crate) type Authenticated = Option<(usize, Result<Arc<Caller>, String>)>;

/// What the issuing pipeline needs from the request, and what it leaves for the answer.
pub(crate) struct RequestCtx {
    pub(crate) client: Option<IpAddr>,
    authorization: Option<HeaderValue>,
    api_key: Option<HeaderValue>,
    /// The authentication result, per app index (a request may issue two tokens).
    pub(crate) caller: RefCell<Authenticated>,
    /// The per-caller limit was charged for this request.
    pub(crate) charged: Cell<bool>,
    pub(crate) retry_after: Cell<Option<u64>>,
    pub(crate) unauthenticated: Cell<bool>,
}

impl RequestCtx {
    pub(crate) fn credentials(&self) -> Credentials<'_> {
        Credentials {
            authorization: self.authorization.as_ref().map(HeaderValue::as_bytes),
            api_key: self.api_key.as_ref().map(HeaderValue::as_bytes),
        }
    }
}

/// Routes that never issue a token; every other route gets the request context.
const NOT_ISSUING: &[&str] = &[
    "/ping",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/v1/config",
    "/",
    "/client.js",
    "/style.css",
    "/favicon.svg",
];

/// Routes under the per-address limit besides the issuing ones.
const LIMITED: &[&str] = &["/v1/tokens/inspect", "/v1/tokens/verify"];

const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");
const CHALLENGE: HeaderValue = HeaderValue::from_static("Bearer realm=\"agtoken\"");

/// The client's address: the peer, or the last address of the configured header (set by the
/// proxy in front; only trusted when configured). An IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d`) is the IPv4 address `a.b.c.d`: one client, one limit.
fn client_ip(state: &AppState, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
    client_ip_as_sent(state, headers, peer).map(|ip| ip.to_canonical())
}

fn client_ip_as_sent(state: &AppState, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
    if let Some(name) = &state.config().client_ip_header {
        let from_header = headers
            .get_all(name)
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        if from_header.is_some() {
            return from_header;
        }
    }
    peer.map(|p| p.ip())
}

/// The middleware.
pub(crate) async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map(MatchedPath::as_str);
    let issuing = route.is_some_and(|r| !NOT_ISSUING.contains(&r));
    let limited = issuing || route.is_some_and(|r| LIMITED.contains(&r));
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let client = client_ip(&state, req.headers(), peer);

    let mut response = 'answer: {
        if limited {
            if let (Some(limiter), Some(ip)) = (state.per_ip_limiter(), client) {
                if let Err(wait) = limiter.check(&ip) {
                    let secs = retry_after_secs(wait);
                    let reason =
                        format!("rate limit of {} per client address exceeded; retry in {secs} s", limiter.rate());
                    crate::audit::refused_early(route.unwrap_or("-"), client, 429, &reason);
                    state.metrics().refused();
                    let mut r = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", reason).into_response();
                    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
                    break 'answer r;
                }
            }
        }
        if !issuing {
            break 'answer next.run(req).await;
        }
        let ctx = RequestCtx {
            client,
            authorization: req.headers().get(header::AUTHORIZATION).cloned(),
            api_key: req.headers().get("x-api-key").cloned(),
            caller: RefCell::new(None),
            charged: Cell::new(false),
            retry_after: Cell::new(None),
            unauthenticated: Cell::new(false),
        };
        REQUEST
            .scope(ctx, async move {
                let mut response = next.run(req).await;
                REQUEST.with(|ctx| {
                    let headers = response.headers_mut();
                    if let Some(secs) = ctx.retry_after.get() {
                        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
                    }
                    if ctx.unauthenticated.get() {
                        headers.insert(header::WWW_AUTHENTICATE, CHALLENGE);
                    }
                });
                response
            })
            .await
    };
    if state.config().tls.is_some() {
        response.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    response
}
