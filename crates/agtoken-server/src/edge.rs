//! The layer around every route ([`EdgeLayer`]): the request timeout, the count by route and
//! status (`metrics.rs`), the early 413 on `Expect: 100-continue`, and CORS.
//!
//! One hand-written service with its own future, rather than `axum::middleware::from_fn` for the
//! first three plus tower-http's `Cors` on every request: those cost a request four boxed
//! allocations for the service and its futures, tower-http's CORS configuration cloned and its
//! `Vary` header rebuilt, and a header map merged into the answer (12k of its ~139k instructions
//! under callgrind, `scripts/callgrind-request.sh`).
//!
//! CORS stays declared once, as tower-http's [`CorsLayer`] (`routes::router`), and tower-http
//! answers every preflight (`OPTIONS`) and every request whose `Origin` header must be compared
//! with a configured list. Any other request gets headers that do not depend on it: the set
//! tower-http gives a plain request without `Origin` (the same with one when every origin is
//! allowed), asked of tower-http once when the router is built ([`FixedCors::probe`]) and copied
//! into the answer. A unit test compares both paths on many requests.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service, ServiceExt as _};
use tower_http::cors::{Cors, CorsLayer};

use crate::error::ApiError;
use crate::state::AppState;

/// The CORS headers of a request that needs no comparison with a list, from tower-http.
struct FixedCors {
    headers: HeaderMap,
    /// Every origin is allowed: the headers do not depend on `Origin` either.
    any_origin: bool,
}

impl FixedCors {
    /// Asks `cors` which headers it adds to a plain `GET` without `Origin`. `any_origin`: it
    /// allows every origin (then the headers are the same with one).
    fn probe(cors: &CorsLayer, any_origin: bool) -> FixedCors {
        let headers = {
            let request = axum::http::Request::get("/").body(axum::body::Body::empty()).expect("a probe request");
            let service = cors.layer(tower::service_fn(|_: Request| async {
                Ok::<_, Infallible>(Response::new(axum::body::Body::empty()))
            }));
            // tower-http's CORS future is ready at once for a ready inner service.
            let mut future = std::pin::pin!(service.oneshot(request));
            match future.as_mut().poll(&mut Context::from_waker(std::task::Waker::noop())) {
                Poll::Ready(Ok(response)) => response.headers().clone(),
                Poll::Ready(Err(never)) => match never {},
                Poll::Pending => unreachable!("tower-http's CORS service waits for nothing but its inner one"),
            }
        };
        FixedCors { headers, any_origin }
    }

    /// Whether `req` gets these headers (else tower-http answers it): not a preflight, and no
    /// `Origin` to compare with a list.
    fn applies(&self, req: &Request) -> bool {
        req.method() != Method::OPTIONS && (self.any_origin || !req.headers().contains_key(header::ORIGIN))
    }
}

/// The layer ([`Edge`] around a route).
#[derive(Clone)]
pub(crate) struct EdgeLayer {
    state: AppState,
    cors: CorsLayer,
    fixed: Arc<FixedCors>,
    /// The index in `routes::TABLE` of the route it is put on (its metrics label); `None`: the
    /// 404 fallback.
    route: Option<usize>,
}

impl EdgeLayer {
    /// The edge of `state`'s routes, with the CORS rules of `cors`; `any_origin`: they allow
    /// every origin. Counted as unmatched until put on a route ([`EdgeLayer::for_route`]).
    pub(crate) fn new(state: AppState, cors: CorsLayer, any_origin: bool) -> EdgeLayer {
        let fixed = Arc::new(FixedCors::probe(&cors, any_origin));
        EdgeLayer { state, cors, fixed, route: None }
    }

    /// The same edge, for the route of index `route` in `routes::TABLE` (`None`: the fallback).
    pub(crate) fn for_route(&self, route: Option<usize>) -> EdgeLayer {
        EdgeLayer { route, ..self.clone() }
    }
}

impl<S: Clone> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            cors: Arc::new(self.cors.layer(inner.clone())),
            inner,
            state: self.state.clone(),
            fixed: self.fixed.clone(),
            route: self.route,
        }
    }
}

/// A route behind the edge.
#[derive(Clone)]
pub(crate) struct Edge<S> {
    inner: S,
    /// The same route behind tower-http's CORS, for preflights and listed origins. Shared: axum
    /// clones a route's service for every request, and this one (with its configuration) is
    /// cloned only when it answers.
    cors: Arc<Cors<S>>,
    state: AppState,
    fixed: Arc<FixedCors>,
    route: Option<usize>,
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future, <Cors<S> as Service<Request>>::Future>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // axum's routes are always ready (and `Cors` is ready when its route is).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let start = Instant::now();
        let config = self.state.config();
        let timeout = config.request_timeout;
        let inner = if continue_over_limit(req.headers(), config.body_limit) {
            // `Expect: 100-continue` with a declared body over the limit: refuse before the body
            // is read, so the client never gets a `100 Continue` inviting it to send it. (Without
            // `Expect`, the route reads up to the limit and answers 413 in its own error shape.)
            Inner::Ready { response: Some(ApiError::too_large(config.body_limit).into_response()) }
        } else if self.fixed.applies(&req) {
            Inner::Fixed { future: self.inner.call(req) }
        } else {
            Inner::Cors { future: Cors::clone(&self.cors).call(req) }
        };
        EdgeFuture {
            inner: tokio::time::timeout(timeout, inner),
            timeout_secs: timeout.as_secs_f64(),
            start,
            route: self.route,
            state: self.state.clone(),
            fixed: self.fixed.clone(),
        }
    }
}

fn continue_over_limit(headers: &HeaderMap, limit: usize) -> bool {
    let expects_continue =
        headers.get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    expects_continue
        && headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|declared| declared > limit as u64)
}

pin_project! {
    /// The route's answer, or the edge's own early 413.
    #[project = InnerProj]
    pub(crate) enum Inner<F, C> {
        Fixed { #[pin] future: F },
        Cors { #[pin] future: C },
        Ready { response: Option<Response> },
    }
}

/// Which way the answer came, for its CORS headers.
pub(crate) enum Answered {
    Fixed(Response),
    Other(Response),
}

impl<F, C> Future for Inner<F, C>
where
    F: Future<Output = Result<Response, Infallible>>,
    C: Future<Output = Result<Response, Infallible>>,
{
    type Output = Answered;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Answered> {
        match self.project() {
            InnerProj::Fixed { future } => future.poll(cx).map(|Ok(r)| Answered::Fixed(r)),
            InnerProj::Cors { future } => future.poll(cx).map(|Ok(r)| Answered::Other(r)),
            InnerProj::Ready { response } => {
                Poll::Ready(Answered::Other(response.take().expect("an edge future polled after it completed")))
            }
        }
    }
}

pin_project! {
    /// [`Edge`]'s future: the route's answer within the timeout, counted.
    pub(crate) struct EdgeFuture<F, C> {
        #[pin]
        inner: tokio::time::Timeout<Inner<F, C>>,
        timeout_secs: f64,
        start: Instant,
        route: Option<usize>,
        state: AppState,
        fixed: Arc<FixedCors>,
    }
}

impl<F, C> Future for EdgeFuture<F, C>
where
    F: Future<Output = Result<Response, Infallible>>,
    C: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match std::task::ready!(this.inner.poll(cx)) {
            Ok(Answered::Fixed(mut response)) => {
                // As tower-http merges them: `Vary` added to the route's, the others replacing.
                let headers = response.headers_mut();
                for (name, value) in &this.fixed.headers {
                    if name == header::VARY {
                        headers.append(name, value.clone());
                    } else {
                        headers.insert(name, value.clone());
                    }
                }
                response
            }
            Ok(Answered::Other(response)) => response,
            Err(_elapsed) => ApiError::timeout(*this.timeout_secs).into_response(),
        };
        this.state.metrics().observe(*this.route, response.status().as_u16(), this.start.elapsed());
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::HeaderValue;
    use tower_http::cors::{AllowHeaders, AllowOrigin};

    use super::*;
    use crate::config::Config;

    fn layers() -> Vec<(&'static str, CorsLayer)> {
        let base = || {
            CorsLayer::new()
                .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
                .allow_headers(AllowHeaders::mirror_request())
                .max_age(std::time::Duration::from_secs(86_400))
        };
        vec![
            ("any origin", base().allow_origin(AllowOrigin::any())),
            ("a list", base().allow_origin(AllowOrigin::list([HeaderValue::from_static("https://app.example.com")]))),
        ]
    }

    fn requests() -> Vec<axum::http::Request<Body>> {
        let mut out = Vec::new();
        for method in [Method::GET, Method::POST, Method::OPTIONS, Method::PUT] {
            for origin in [None, Some("https://app.example.com"), Some("https://evil.example"), Some("null")] {
                for preflight in [false, true] {
                    let mut r = axum::http::Request::builder().method(method.clone()).uri("/fetch_rtc_token");
                    if let Some(origin) = origin {
                        r = r.header(header::ORIGIN, origin);
                    }
                    if preflight {
                        r = r
                            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type, x-api-key");
                    }
                    out.push(r.body(Body::empty()).unwrap());
                }
            }
        }
        out
    }

    fn describe(r: &axum::http::Request<Body>) -> String {
        format!("{} {:?}", r.method(), r.headers())
    }

    /// The edge answers every request with the status and CORS headers tower-http's CORS layer
    /// alone gives it, whichever path it takes.
    #[tokio::test]
    async fn every_request_gets_the_cors_headers_of_tower_http() {
        let route = tower::service_fn(|_: Request| async {
            let mut response = Response::new(Body::from("ok"));
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            Ok::<_, Infallible>(response)
        });
        let mut fixed_paths = 0;
        for (name, cors) in layers() {
            let edge = EdgeLayer::new(AppState::new(Config::demo()), cors.clone(), name == "any origin");
            for (request, twin) in requests().into_iter().zip(requests()) {
                let what = format!("{name}: {}", describe(&request));
                fixed_paths += usize::from(edge.fixed.applies(&request));
                let ours = edge.layer(route).oneshot(request).await.unwrap();
                let theirs = cors.layer(route).oneshot(twin).await.unwrap();
                assert_eq!(ours.status(), theirs.status(), "{what}");
                assert_eq!(ours.headers(), theirs.headers(), "{what}");
            }
        }
        assert!(fixed_paths > 10, "the fixed path was taken {fixed_paths} times");
    }

    #[tokio::test]
    async fn a_declared_body_over_the_limit_with_expect_continue_is_refused_before_the_route() {
        let state = AppState::new(Config::demo());
        let limit = state.config().body_limit;
        let route = tower::service_fn(|_: Request| async { Ok::<_, Infallible>(Response::new(Body::from("ran"))) });
        let edge = EdgeLayer::new(state, layers().remove(0).1, true);
        let request = axum::http::Request::post("/fetch_rtc_token")
            .header(header::EXPECT, "100-Continue")
            .header(header::CONTENT_LENGTH, limit + 1)
            .body(Body::empty())
            .unwrap();
        let response: Response = edge.layer(route).oneshot(request).await.unwrap();
        assert_eq!(response.status(), 413);
    }
}
