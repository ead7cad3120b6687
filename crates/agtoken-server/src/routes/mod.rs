//! The route table ([`TABLE`]): one declaration per route, from which the router, the metrics
//! labels (`metrics.rs`), the security layer's classes (`guard.rs`) and the OpenAPI document
//! (`openapi.rs`) are derived; and the layers every request goes through (CORS, timeout,
//! metrics; the body limit is the one of the body extractor, `body::Whole`).
//!
//! A new route is one entry in [`TABLE`] (and its handler, and the function that documents it
//! in `openapi.rs`). Nothing else lists routes.
//!
//! Trailing slashes are served per route (`+ slash`: the community token service's clients call
//! both forms) rather than by tower-http's `NormalizePath`, which would serve every route with a
//! trailing slash (the v1 and operations routes answer 404 there) and has to wrap the router
//! from outside, changing the type `app()` returns.

pub(crate) mod answers;
pub(crate) mod compat;
pub(crate) mod ops;
pub(crate) mod v1;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::handler::Handler;
use axum::http::{header, HeaderValue, Method, Uri};
use axum::response::{IntoResponse as _, Response};
use axum::Router;
use pin_project_lite::pin_project;
use tower::layer::util::{Identity, Stack};
use tower::util::Either;
use tower::{Service, ServiceBuilder};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::config::CorsOrigins;
use crate::error::ApiError;
use crate::openapi as doc;
use crate::state::AppState;

/// What the security layer (`guard.rs`) does on a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Issues tokens: authentication and policy (`issue.rs`), per-caller and per-address limits.
    Issuing,
    /// Issues nothing but is under the per-address limit (inspect, verify).
    Limited,
    /// Neither: health, metrics, the document, the web client.
    Open,
}

/// How a route reads its body, for the statuses the document derives (413, 415).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// No body is read.
    None,
    /// A body of any declared type, read as JSON (the compatibility routes, as their originals).
    Any,
    /// `Content-Type: application/json` required (415 otherwise): the v1 routes.
    Json,
}

/// One route: everything the server knows about it, in one place.
pub(crate) struct Route {
    /// The method.
    pub(crate) method: Method,
    /// The router's pattern; also the route's metrics label and, unless its documentation says
    /// otherwise, its path in the OpenAPI document.
    pub(crate) path: &'static str,
    /// Also served at `path` + `/` (the community token service's clients call both).
    pub(crate) trailing_slash: bool,
    /// What the security layer does on it.
    pub(crate) class: Class,
    /// How it reads its body.
    pub(crate) body: Body,
    /// Mounts the route's handler on a router ([`Mount::add`]).
    mount: fn(&Mount, Router, usize) -> Router,
    /// Its OpenAPI operations (one per documented path: one router pattern may serve two APIs).
    pub(crate) doc: fn(&doc::DocSettings) -> Vec<doc::Operation>,
}

macro_rules! route {
    ($method:ident $path:literal $(+ $slash:ident)?, $class:ident, $body:ident, $handler:expr, $doc:expr) => {
        Route {
            method: Method::$method,
            path: $path,
            trailing_slash: route!(@slash $($slash)?),
            class: Class::$class,
            body: Body::$body,
            mount: |mount, router, index| mount.add(router, index, $handler),
            doc: $doc,
        }
    };
    (@slash slash) => { true };
    (@slash) => { false };
}

/// Every route, each path once. `+ slash`: also at the path with a trailing `/`.
pub(crate) static TABLE: &[Route] = &[
    // 1. the docs' Go sample server
    route!(POST "/fetch_rtc_token", Issuing, Any, compat::fetch_rtc_token, doc::fetch_rtc_token),
    // 2. the docs' Docker token generator
    route!(POST "/token/generate", Issuing, Any, compat::token_generate, doc::token_generate),
    // 3. the community token service, and 4. the Spring server's RTC route (same depth)
    route!(GET "/rtc/{a}/{b}/{c}/{d}" + slash, Issuing, None, compat::rtc_four, doc::rtc_four),
    route!(GET "/rtm/{uid}" + slash, Issuing, None, compat::rtm, doc::rtm),
    route!(GET "/rte/{channel}/{role}/{tokentype}/{rtcuid}" + slash, Issuing, None, compat::rte, doc::rte),
    route!(
        GET "/rte/{channel}/{role}/{tokentype}/{rtcuid}/{rtmuid}" + slash,
        Issuing, None, compat::rte_with_rtm, doc::rte_with_rtm
    ),
    route!(GET "/chat/app" + slash, Issuing, None, compat::chat_app, doc::chat_app),
    route!(GET "/chat/account/{uid}" + slash, Issuing, None, compat::chat_account, doc::chat_account),
    route!(POST "/getToken", Issuing, Any, compat::get_token, doc::get_token),
    // 5. the community Go backend middleware (where Agora's docs now point)
    route!(POST "/token/getNew", Issuing, Any, compat::get_new, doc::get_new),
    route!(GET "/ping", Open, None, compat::ping, doc::ping),
    // 4. the docs' Spring chat server
    route!(GET "/chat/app/token", Issuing, None, compat::spring_chat_app, doc::spring_chat_app),
    route!(GET "/chat/user/{user}/token", Issuing, None, compat::spring_chat_user, doc::spring_chat_user),
    // v1
    route!(POST "/v1/tokens", Issuing, Json, v1::create, doc::v1_create),
    route!(POST "/v1/tokens/inspect", Limited, Json, v1::inspect, doc::v1_inspect),
    route!(POST "/v1/tokens/verify", Limited, Json, v1::verify, doc::v1_verify),
    // operations
    route!(GET "/healthz", Open, None, ops::healthz, doc::healthz),
    route!(GET "/readyz", Open, None, ops::readyz, doc::readyz),
    route!(GET "/metrics", Open, None, ops::metrics, doc::metrics),
    route!(GET "/openapi.json", Open, None, ops::openapi, doc::openapi),
    // the web client
    route!(GET "/v1/config", Open, None, crate::web::config, doc::web_config),
    route!(GET "/", Open, None, crate::web::index, doc::web_index),
    route!(GET "/client.js", Open, None, crate::web::client_js, doc::web_client_js),
    route!(GET "/style.css", Open, None, crate::web::style_css, doc::web_style_css),
    route!(GET "/favicon.svg", Open, None, crate::web::favicon, doc::web_favicon),
];

/// Builds the router for `state`.
pub(crate) fn router(state: AppState) -> Router {
    let config = state.config();
    let cors = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(std::time::Duration::from_secs(86_400));
    let any_origin = matches!(config.cors, CorsOrigins::Any);
    let cors = match &config.cors {
        CorsOrigins::Any => cors.allow_origin(AllowOrigin::any()),
        CorsOrigins::List(list) => {
            cors.allow_origin(AllowOrigin::list(list.iter().filter_map(|o| HeaderValue::from_str(o).ok())))
        }
    };
    let mount = Mount { edge: crate::edge::EdgeLayer::new(state.clone(), cors, any_origin), state };
    let mut router = Router::new();
    for (index, route) in TABLE.iter().enumerate() {
        router = (route.mount)(&mount, router, index);
    }
    let not_found = mount.layers(None).service(not_found.with_state(mount.state.clone()));
    router.fallback_service(not_found)
}

/// What mounting a route needs: the state its handler gets and the edge every route is behind.
pub(crate) struct Mount {
    state: AppState,
    edge: crate::edge::EdgeLayer,
}

impl Mount {
    /// The layers of one route as one stack (outermost first), each knowing its route: the edge
    /// (timeout, metrics, CORS: edge.rs) and, only when configured, the security layer
    /// (authentication context, per-address limit, HSTS: guard.rs). Put on each route's endpoint
    /// rather than by `Router::layer`, so that no layer looks the route up again by the request's
    /// matched path. (The body limit is the body extractor's, body.rs.)
    fn layers(&self, index: Option<usize>) -> ServiceBuilder<RouteLayers> {
        let route = index.map(|i| &TABLE[i]);
        ServiceBuilder::new()
            .layer(self.edge.for_route(index))
            .option_layer(self.state.guarded().then(|| crate::guard::GuardLayer::new(self.state.clone(), route)))
    }

    /// Adds route `index` of [`TABLE`] to `router`: `handler` behind the route's layers, as one
    /// service of one concrete type (axum boxes it once; a `MethodRouter` with layers would box
    /// the layered service and the handler's route inside it, each cloned per request).
    fn add<H, T>(&self, router: Router, index: usize, handler: H) -> Router
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let route = &TABLE[index];
        let endpoint = Endpoint::new(route.method.clone(), handler.with_state(self.state.clone()));
        let service = self.layers(Some(index)).service(endpoint);
        let router = router.route_service(route.path, service.clone());
        if route.trailing_slash {
            router.route_service(&format!("{}/", route.path), service)
        } else {
            router
        }
    }
}

/// The layers [`Mount::layers`] stacks.
type RouteLayers = Stack<Either<crate::guard::GuardLayer, Identity>, Stack<crate::edge::EdgeLayer, Identity>>;

/// One route's handler for its method (a `GET` route also answers `HEAD`: axum strips the body),
/// and the 405 answer, with `Allow`, for any other method.
#[derive(Clone)]
struct Endpoint<H> {
    method: Method,
    allow: HeaderValue,
    handler: H,
}

impl<H> Endpoint<H> {
    fn new(method: Method, handler: H) -> Self {
        let allow = if method == Method::GET {
            HeaderValue::from_static("GET,HEAD")
        } else {
            HeaderValue::from_str(method.as_str()).expect("a method is a header value")
        };
        Endpoint { method, allow, handler }
    }
}

impl<H> Service<Request> for Endpoint<H>
where
    H: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EndpointFuture<H::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.handler.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let method = req.method();
        if *method == self.method {
            return EndpointFuture::Handler { future: self.handler.call(req) };
        }
        if self.method == Method::GET && *method == Method::HEAD {
            return EndpointFuture::Head { future: self.handler.call(req) };
        }
        let mut response = ApiError::method_not_allowed(method.as_str(), req.uri().path()).into_response();
        response.headers_mut().insert(header::ALLOW, self.allow.clone());
        EndpointFuture::NotAllowed { response: Some(response) }
    }
}

pin_project! {
    /// [`Endpoint`]'s future: the handler's, the handler's without its body (`HEAD`), or the
    /// 405 answer.
    #[project = EndpointProj]
    pub(crate) enum EndpointFuture<F> {
        Handler { #[pin] future: F },
        Head { #[pin] future: F },
        NotAllowed { response: Option<Response> },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for EndpointFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            EndpointProj::Handler { future } => future.poll(cx),
            EndpointProj::Head { future } => {
                // As axum's `MethodRouter` answers `HEAD` with a `GET` handler: the `GET`
                // answer's headers, its `Content-Length` among them, and no body (hyper drops a
                // HEAD answer's body over HTTP/1 by itself, not over HTTP/2).
                let Ok(mut response) = std::task::ready!(future.poll(cx));
                if let Some(length) = axum::body::HttpBody::size_hint(response.body()).exact() {
                    response.headers_mut().entry(header::CONTENT_LENGTH).or_insert(HeaderValue::from(length));
                }
                *response.body_mut() = axum::body::Body::empty();
                Poll::Ready(Ok(response))
            }
            EndpointProj::NotAllowed { response } => {
                Poll::Ready(Ok(response.take().expect("an endpoint future polled after it completed")))
            }
        }
    }
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(uri.path())
}

#[cfg(test)]
mod tests {
    use axum::body::Body as HttpBody;
    use axum::http::{header, Request as HttpRequest, StatusCode};
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;
    use crate::config::Config;

    /// A concrete request path for a route pattern.
    fn concrete(pattern: &str) -> String {
        let sample = |name: &str| match name {
            "a" | "channel" => "ch",
            "b" | "role" => "publisher",
            "c" | "tokentype" => "uid",
            "d" | "rtcuid" => "5",
            _ => "someone",
        };
        pattern
            .split('/')
            .map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')).map_or(seg, sample))
            .collect::<Vec<_>>()
            .join("/")
    }

    async fn call(app: &Router, method: &Method, path: &str) -> (u16, String) {
        let mut request = HttpRequest::builder().method(method).uri(path);
        if method == Method::POST {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let response = app.clone().oneshot(request.body(HttpBody::from("{}")).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// Walks the table through the real router: every route (and its trailing-slash variant) is
    /// routed (not the 404 fallback) and counted under its own metrics label.
    #[tokio::test]
    async fn every_route_of_the_table_is_routed_and_has_its_metrics_label() {
        let app = router(AppState::new(Config::demo()));
        let mut expected = Vec::new();
        for route in TABLE {
            let mut paths = vec![concrete(route.path)];
            if route.trailing_slash {
                paths.push(format!("{}/", concrete(route.path)));
            }
            for path in paths {
                let (status, body) = call(&app, &route.method, &path).await;
                let code = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
                assert!(
                    !matches!(code.as_deref(), Some("not_found" | "method_not_allowed")),
                    "{} {path} ({}) is not routed: {status} {body}",
                    route.method,
                    route.path
                );
                expected.push((route.path, path));
            }
        }
        let (_, metrics) = call(&app, &Method::GET, "/metrics").await;
        for (label, path) in expected {
            let line = format!("agtoken_http_requests_total{{route=\"{label}\",");
            assert!(metrics.contains(&line), "{path} is not counted under {label}:\n{metrics}");
        }
        assert!(!metrics.contains("route=\"unmatched\""), "a route of the table fell through:\n{metrics}");
        // A path outside the table is the 404 fallback, counted as unmatched.
        assert_eq!(call(&app, &Method::GET, "/no/such/route").await.0, 404);
        let (_, metrics) = call(&app, &Method::GET, "/metrics").await;
        assert!(metrics.contains("agtoken_http_requests_total{route=\"unmatched\",status=\"404\"} 1"), "{metrics}");
    }

    /// Each route answers its method (and `HEAD` as its `GET`, without the body) and 405 with
    /// `Allow` for any other method, counted under its own label.
    #[tokio::test]
    async fn a_route_answers_its_method_head_for_get_and_405_with_allow_otherwise() {
        let app = router(AppState::new(Config::demo()));
        let send = |method: Method, path: &str| {
            let request = HttpRequest::builder().method(method).uri(path).body(HttpBody::empty()).unwrap();
            app.clone().oneshot(request)
        };
        let get = send(Method::GET, "/healthz").await.unwrap();
        let head = send(Method::HEAD, "/healthz").await.unwrap();
        assert_eq!((get.status(), head.status()), (StatusCode::OK, StatusCode::OK));
        assert_eq!(head.headers()[header::CONTENT_TYPE], get.headers()[header::CONTENT_TYPE]);
        let get_body = get.into_body().collect().await.unwrap().to_bytes();
        assert!(!get_body.is_empty());
        assert_eq!(head.headers()[header::CONTENT_LENGTH], get_body.len().to_string().as_str());
        assert!(head.into_body().collect().await.unwrap().to_bytes().is_empty(), "HEAD has no body");
        for (method, path, allow) in [
            (Method::POST, "/healthz", "GET,HEAD"),
            (Method::PUT, "/rtm/bob/", "GET,HEAD"),
            (Method::HEAD, "/fetch_rtc_token", "POST"),
            (Method::DELETE, "/v1/tokens", "POST"),
        ] {
            let response = send(method.clone(), path).await.unwrap();
            assert_eq!(response.status(), 405, "{method} {path}");
            assert_eq!(response.headers()[header::ALLOW], allow, "{method} {path}");
        }
        let (_, metrics) = call(&app, &Method::GET, "/metrics").await;
        assert!(metrics.contains("agtoken_http_requests_total{route=\"/healthz\",status=\"405\"} 1"), "{metrics}");
    }

    #[test]
    fn a_path_is_declared_once() {
        // Each route's layers carry its index: two entries of one path would be merged by the
        // router under one of them (and each has its own 405 fallback, which axum refuses).
        let mut seen = std::collections::HashSet::new();
        for route in TABLE {
            assert!(seen.insert(route.path), "{} {} declared twice", route.method, route.path);
        }
    }
}
