//! The security layer, in the router only when something needs it (an app with `auth`, a
//! per-address rate limit, or TLS):
//!
//! - the per-address rate limit of the API routes, before the route runs (429 + `Retry-After`);
//! - with a shared rate-limit store (`limits_store`), the per-caller limit too: the store is
//!   asked here, where the request may wait for it, and `issue.rs` (synchronous) takes the
//!   decision from the request context. The caller is authenticated here for the app the route
//!   will issue for (the default app, or on `/v1/tokens` the body's `app_id`), and that result
//!   is what `issue.rs` uses. A store that gives no answer with fallback `refuse` is a 503 +
//!   `Retry-After` here, before the route runs;
//! - the request context of every route the table (`routes::TABLE`) classes as issuing: the
//!   credential headers and the client address, in the request's extensions, from which the
//!   handler takes it with the [`Issuer`] extractor (it is in the handler's signature) and
//!   binds it to the state it issues with. The check itself is in `issue.rs`, the one place
//!   every token goes through; a route that issues without this context is refused (fail
//!   closed) when its app has auth;
//! - the answer's headers: `WWW-Authenticate` on a 401, `Retry-After` on a 429, and
//!   `Strict-Transport-Security` when the server speaks TLS.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Extensions, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service, ServiceExt as _};

use crate::auth::{Caller, Credentials};
use crate::error::{ApiError, ErrorCode};
use crate::limit::retry_after_secs;
use crate::limit_store::{Verdict, OPEN_FOR};
use crate::routes::{Class, Route};
use crate::state::AppState;

/// An authentication result, with the index of the app it was for.
pub(crate) type Authenticated = Option<(usize, Result<Arc<Caller>, crate::auth::AuthError>)>;

/// What the issuing pipeline needs from the request, and what it leaves for the answer.
pub(crate) struct RequestCtx {
    pub(crate) client: Option<IpAddr>,
    authorization: Option<HeaderValue>,
    api_key: Option<HeaderValue>,
    /// The authentication result, per app index (a request may issue two tokens).
    caller: Mutex<Authenticated>,
    /// The per-caller limit was charged for this request.
    charged: AtomicBool,
    /// The shared store's per-caller decision, made before the route ran: (app index, rule
    /// index, admitted or the wait).
    precharged: Mutex<Option<Precharged>>,
    /// For the answer: `Retry-After` seconds, and whether to challenge (`WWW-Authenticate`).
    retry_after: Mutex<Option<u64>>,
    unauthenticated: AtomicBool,
}

/// A lock that a panic elsewhere cannot poison for good (the data is plain values).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A per-caller decision of the shared store: (app index, rule index, admitted or the wait).
pub(crate) type Precharged = (usize, usize, Result<(), std::time::Duration>);

impl RequestCtx {
    /// The authentication result kept for this request (per app index).
    pub(crate) fn caller(&self) -> MutexGuard<'_, Authenticated> {
        lock(&self.caller)
    }

    /// Marks the per-caller limit charged; whether it was already.
    pub(crate) fn charge_once(&self) -> bool {
        self.charged.swap(true, Relaxed)
    }

    /// The shared store's decision made before the route ran, once.
    pub(crate) fn take_precharged(&self) -> Option<Precharged> {
        lock(&self.precharged).take()
    }

    /// The answer gets `Retry-After: secs`.
    pub(crate) fn retry_after(&self, secs: u64) {
        *lock(&self.retry_after) = Some(secs);
    }

    /// The answer gets a `WWW-Authenticate` challenge.
    pub(crate) fn challenge(&self) {
        self.unauthenticated.store(true, Relaxed);
    }

    pub(crate) fn credentials(&self) -> Credentials<'_> {
        Credentials {
            authorization: self.authorization.as_ref().map(HeaderValue::as_bytes),
            api_key: self.api_key.as_ref().map(HeaderValue::as_bytes),
        }
    }
}

/// The extractor of a handler that issues tokens: the request's issuing context (credentials,
/// client address, the per-request authentication result), put in the request by the security
/// layer. The handler binds it to the state it issues with ([`Issuer::bind`]), so
/// [`AppState::issue`](crate::state::AppState) authenticates this request's caller. Without the
/// security layer (no app has auth, no per-address limit, no TLS) it holds only the client
/// address (for the audit line), and an app with auth would refuse (fail closed).
#[derive(Clone)]
pub(crate) enum Issuer {
    /// The context the security layer made.
    Guarded(Arc<RequestCtx>),
    /// No security layer: the client's address only.
    Unguarded(Option<IpAddr>),
}

impl Issuer {
    /// `state`, issuing for this request.
    pub(crate) fn bind(self, state: AppState) -> AppState {
        state.for_request(self)
    }
}

impl FromRequestParts<AppState> for Issuer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        if let Some(issuer) = parts.extensions.get::<Issuer>() {
            return Ok(issuer.clone());
        }
        Ok(Issuer::Unguarded(client_of(state, &parts.headers, &parts.extensions)))
    }
}

/// The API key's header, made once (a name given as text is parsed again for every lookup).
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
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

/// The security layer of one route of the table (`None`: the 404 fallback), which it knows
/// from where it was put (`routes::router`) rather than by looking the request's matched path
/// up in the table.
#[derive(Clone)]
pub(crate) struct GuardLayer {
    state: AppState,
    route: Option<&'static Route>,
}

impl GuardLayer {
    pub(crate) fn new(state: AppState, route: Option<&'static Route>) -> GuardLayer {
        GuardLayer { state, route }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard { inner, state: self.state.clone(), route: self.route }
    }
}

/// A route behind the security layer.
#[derive(Clone)]
pub(crate) struct Guard<S> {
    inner: S,
    state: AppState,
    route: Option<&'static Route>,
}

impl<S> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // axum's routes are always ready (the waiting path below also waits for it: `oneshot`).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let tls = self.state.config().tls.is_some();
        if self.state.limits_store().is_some() || self.state.has_remote_jwks() {
            // The work may wait (for the shared store, for a refetch of keys): an async block.
            let (state, route, inner) = (self.state.clone(), self.route, self.inner.clone());
            return GuardFuture::Waiting { future: Box::pin(guard(state, route, req, inner)), tls };
        }
        // Nothing to wait for: every decision is made here, now, without the boxed future of
        // the waiting path (its allocation, a clone of the route, the moves of a large future:
        // 2k instructions per request under callgrind, `scripts/callgrind-request.sh key`, and
        // about 2.5 µs of CPU natively; the server README).
        match before_route_now(&self.state, self.route, req) {
            Step::Answer(response) => GuardFuture::Answered { response: Some(response), tls },
            Step::Route(req, ctx) => GuardFuture::Route { future: self.inner.call(req), ctx, tls },
        }
    }
}

pin_project_lite::pin_project! {
    /// [`Guard`]'s future: the route's answer (or the layer's own) with the answer's headers.
    #[project = GuardProj]
    pub(crate) enum GuardFuture<F> {
        /// The route runs, with this context when it issues.
        Route { #[pin] future: F, ctx: Option<Arc<RequestCtx>>, tls: bool },
        /// Answered without the route (per-address limit).
        Answered { response: Option<Response>, tls: bool },
        /// The path that may wait ([`guard`]).
        Waiting { future: Pin<Box<dyn Future<Output = Response> + Send>>, tls: bool },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for GuardFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (mut response, tls) = match self.project() {
            GuardProj::Route { future, ctx, tls } => {
                let Ok(mut response) = std::task::ready!(future.poll(cx));
                if let Some(ctx) = ctx {
                    ctx.answer_headers(&mut response);
                }
                (response, *tls)
            }
            GuardProj::Answered { response, tls } => {
                (response.take().expect("a guard future polled after it completed"), *tls)
            }
            GuardProj::Waiting { future, tls } => (std::task::ready!(future.as_mut().poll(cx)), *tls),
        };
        if tls {
            response.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
        }
        Poll::Ready(Ok(response))
    }
}

/// What comes before the route: an answer without it, or the request to send it (with the
/// issuing context when it issues).
enum Step {
    Answer(Response),
    Route(Request, Option<Arc<RequestCtx>>),
}

/// The security layer's work before `route` when nothing waits: no shared store (limits are
/// counted here) and no keys from a URL (a JWT never waits for a refetch). The same decisions
/// as [`guard`] makes in that case.
fn before_route_now(state: &AppState, route: Option<&'static Route>, mut req: Request) -> Step {
    let (class, path) = class_of(route);
    let client = client_of(state, req.headers(), req.extensions());
    if class != Class::Open {
        if let (Some(limiter), Some(ip)) = (state.per_ip_limiter(), client) {
            let verdict = match state.limit_locally(limiter, &ip) {
                Ok(()) => Verdict::Allowed,
                Err(wait) => Verdict::Wait(wait),
            };
            if let Some(refusal) = refused_by_address(state, limiter, verdict, path, client) {
                return Step::Answer(refusal);
            }
        }
    }
    if class != Class::Issuing {
        return Step::Route(req, None);
    }
    let ctx = RequestCtx::new(client, req.headers());
    req.extensions_mut().insert(Issuer::Guarded(ctx.clone()));
    Step::Route(req, Some(ctx))
}

/// A route's class (a request that matched no route is open: 404) and path.
fn class_of(route: Option<&'static Route>) -> (Class, Option<&'static str>) {
    (route.map_or(Class::Open, |r| r.class), route.map(|r| r.path))
}

/// The client's address ([`client_ip`]) of a request with these headers and extensions (the
/// peer's address, from the connection).
fn client_of(state: &AppState, headers: &HeaderMap, extensions: &Extensions) -> Option<IpAddr> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    client_ip(state, headers, peer)
}

/// The answer to a request the per-address limit refuses (429, or 503 when the shared store gave
/// no answer and the fallback is `refuse`); `None` when it is allowed.
fn refused_by_address(
    state: &AppState,
    limiter: &crate::limit::Limiter<IpAddr>,
    verdict: Verdict,
    route: Option<&str>,
    client: Option<IpAddr>,
) -> Option<Response> {
    match verdict {
        Verdict::Allowed => None,
        Verdict::Wait(wait) => {
            let secs = retry_after_secs(wait);
            let reason = format!("rate limit of {} per client address exceeded; retry in {secs} s", limiter.rate());
            crate::audit::refused_early(route.unwrap_or("-"), client, 429, &reason);
            state.metrics().refused();
            let mut r = ApiError::new(ErrorCode::RateLimited, reason).into_response();
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            Some(r)
        }
        Verdict::Unavailable => Some(store_unavailable(state, route, client)),
    }
}

impl RequestCtx {
    /// The context of an issuing request from `client` with these headers (its credentials);
    /// nothing decided yet.
    fn new(client: Option<IpAddr>, headers: &HeaderMap) -> Arc<RequestCtx> {
        Arc::new(RequestCtx {
            client,
            authorization: headers.get(header::AUTHORIZATION).cloned(),
            api_key: headers.get(&X_API_KEY).cloned(),
            caller: Mutex::new(None),
            charged: AtomicBool::new(false),
            precharged: Mutex::new(None),
            retry_after: Mutex::new(None),
            unauthenticated: AtomicBool::new(false),
        })
    }

    /// What the issuing left for the answer: `Retry-After`, `WWW-Authenticate`.
    fn answer_headers(&self, response: &mut Response) {
        let headers = response.headers_mut();
        if let Some(secs) = *lock(&self.retry_after) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.unauthenticated.load(Relaxed) {
            headers.insert(header::WWW_AUTHENTICATE, CHALLENGE);
        }
    }
}

/// The security layer's work on one request to `route` (`inner` serves it) when it may wait:
/// with a shared store (limits are asked of it) or keys from a URL. HSTS is added by
/// [`GuardFuture`].
async fn guard<S>(state: AppState, route: Option<&'static Route>, req: Request, inner: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let next = |req: Request| async move {
        let Ok(response) = inner.oneshot(req).await;
        response
    };
    let (class, route) = class_of(route);
    let client = client_of(&state, req.headers(), req.extensions());
    if class != Class::Open {
        if let (Some(limiter), Some(ip)) = (state.per_ip_limiter(), client) {
            let verdict = state.limit(limiter, &ip).await;
            if let Some(refusal) = refused_by_address(&state, limiter, verdict, route, client) {
                return refusal;
            }
        }
    }
    if class != Class::Issuing {
        return next(req).await;
    }
    let (req, app) = app_of(&state, route, req).await;
    let ctx = RequestCtx::new(client, req.headers());
    let credentials = ctx.credentials();
    // Keys from a URL: a JWT of a key id not yet known may wait here for a (rate-limited,
    // shared) refetch, so that the synchronous check in issue.rs sees a rotation at once.
    if let crate::auth::Auth::Jwt(jwt) = &state.apps()[app].cfg.auth {
        jwt.prepare(&credentials).await;
    }
    if state.limits_store().is_some() {
        match precharge(&state, app, &credentials).await {
            Ok((caller, precharged)) => {
                *ctx.caller() = caller;
                *lock(&ctx.precharged) = precharged;
            }
            Err(()) => return store_unavailable(&state, route, client),
        }
    }
    let mut req = req;
    req.extensions_mut().insert(Issuer::Guarded(ctx.clone()));
    let mut response = next(req).await;
    ctx.answer_headers(&mut response);
    response
}

/// 503 + `Retry-After` when the shared store gave no answer and the fallback is `refuse`.
fn store_unavailable(state: &AppState, route: Option<&str>, client: Option<IpAddr>) -> Response {
    let secs = OPEN_FOR.as_secs().max(1);
    let reason = format!("the rate-limit store is unavailable; retry in {secs} s");
    crate::audit::refused_early(route.unwrap_or("-"), client, 503, &reason);
    state.metrics().refused();
    let mut r = ApiError::new(ErrorCode::Unavailable, reason).into_response();
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// The index of the app an issuing route will issue for: the default app, except on
/// `/v1/tokens` with several apps, where the body says (`app_id`, or `structure.app_id`; the
/// route refuses a request where both are given and differ, or that names an unknown app,
/// before it issues anything). The body is read here (at most the body limit plus one byte,
/// so that the route still answers 413 over it) and handed on unchanged.
async fn app_of(state: &AppState, route: Option<&str>, req: Request) -> (Request, usize) {
    use http_body_util::BodyExt as _;

    if route != Some("/v1/tokens") || state.apps().len() < 2 {
        return (req, 0);
    }
    let limit = state.config().body_limit;
    let (parts, mut body) = req.into_parts();
    let mut bytes = Vec::new();
    while bytes.len() <= limit {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
            }
            // The route answers what it would for a body cut short (or too long).
            Some(Err(_)) | None => break,
        }
    }
    // Parsed as the route parses it (a JSON object; the last of repeated keys counts), and
    // read as it reads it: `structure.app_id` when it is a string, else `app_id`.
    let named = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(map)) => {
            let inner = map.get("structure").and_then(|s| s.get("app_id")).and_then(serde_json::Value::as_str);
            inner.or_else(|| map.get("app_id").and_then(serde_json::Value::as_str)).map(str::to_owned)
        }
        _ => None,
    };
    let index = named.and_then(|id| state.apps().iter().position(|a| a.id() == id)).unwrap_or(0);
    (Request::from_parts(parts, axum::body::Body::from(bytes)), index)
}

/// With a shared store: authenticates the caller for app `index` and, when the rule that
/// selects it has a per-caller limit, asks the store. Gives the authentication result (which
/// `issue.rs` reuses) and the decision; `Err` when the store gave no answer and the fallback
/// is `refuse`. A refusal by authentication or policy is left to `issue.rs`.
async fn precharge(
    state: &AppState,
    index: usize,
    credentials: &Credentials<'_>,
) -> Result<(Authenticated, Option<Precharged>), ()> {
    let app = &state.apps()[index];
    if app.cfg.auth.is_none() {
        return Ok((None, None));
    }
    let result = app.cfg.auth.authenticate(credentials, state.now().as_secs());
    let authenticated = Some((index, result.clone()));
    let Ok(caller) = result else {
        return Ok((authenticated, None));
    };
    let Some(limiter) = crate::policy::select(&app.cfg.policy, &caller)
        .and_then(|(rule, _)| app.limiter(rule).map(|limiter| (rule, limiter)))
    else {
        return Ok((authenticated, None));
    };
    let (rule, limiter) = limiter;
    match state.limit(limiter, &caller.id).await {
        Verdict::Allowed => Ok((authenticated, Some((index, rule, Ok(()))))),
        Verdict::Wait(wait) => Ok((authenticated, Some((index, rule, Err(wait))))),
        Verdict::Unavailable => Err(()),
    }
}
