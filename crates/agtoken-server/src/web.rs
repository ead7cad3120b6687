//! The web client in `web/` (`index.html`, `client.js`, `style.css`, `favicon.svg`), embedded
//! in the binary at build time and served at `GET /`; and `GET /v1/config`, which tells the
//! client what it needs to know about the server (demo mode and the lifetime the page suggests
//! in it, the default app's token version, lifetimes and whether it requires credentials).
//!
//! The page's Content-Security-Policy allows only this origin: scripts, styles, images and
//! `fetch` all stay on it. The one exception is the API the page was told to use with
//! `?api=https://tokens.example.com` (the client then calls that server, which must allow this
//! page's origin with `CORS_ALLOW_ORIGIN`): its origin, and nothing else of the parameter, is
//! added to `connect-src`.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Serialize;

use crate::config::Config;
use crate::state::AppState;

const INDEX_HTML: &str = include_str!("../../../web/index.html");
const CLIENT_JS: &str = include_str!("../../../web/client.js");
const STYLE_CSS: &str = include_str!("../../../web/style.css");
const FAVICON_SVG: &str = include_str!("../../../web/favicon.svg");

/// The policy of the page, before `connect-src` (which [`csp`] completes).
const CSP_BASE: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                        base-uri 'none'; form-action 'none'; frame-ancestors 'none'; connect-src 'self'";

fn asset(content_type: &'static str, body: &'static str, extra: Option<(HeaderName, HeaderValue)>) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Some((name, value)) = extra {
        h.insert(name, value);
    }
    r
}

/// The origin (`scheme://host[:port]`) of an `?api=` value, if it is a plain http(s) URL.
/// Conservative on purpose: anything unusual in the authority (user info, spaces, quotes,
/// `;`) gives `None`, so the result is always safe to put in a header.
fn api_origin(api: &str) -> Option<String> {
    let (scheme, rest) = if let Some(rest) = api.strip_prefix("http://") {
        ("http", rest)
    } else if let Some(rest) = api.strip_prefix("https://") {
        ("https", rest)
    } else {
        return None;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let ok = !authority.is_empty()
        && authority.len() <= 255
        && authority.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ok.then(|| format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// The Content-Security-Policy of the page for an optional `?api=` value.
fn csp(api: Option<&str>) -> HeaderValue {
    let policy = match api.and_then(api_origin) {
        Some(origin) => format!("{CSP_BASE} {origin}"),
        None => CSP_BASE.to_owned(),
    };
    HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static(CSP_BASE))
}

/// `GET /`: the page.
pub(crate) async fn index(query: Result<Query<HashMap<String, String>>, QueryRejection>) -> Response {
    let api = query.as_ref().ok().and_then(|q| q.get("api")).map(String::as_str);
    let policy = csp(api);
    let mut r = asset("text/html; charset=utf-8", INDEX_HTML, Some((header::CONTENT_SECURITY_POLICY, policy)));
    r.headers_mut().insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// `GET /client.js`.
pub(crate) async fn client_js() -> Response {
    asset("text/javascript; charset=utf-8", CLIENT_JS, None)
}

/// `GET /style.css`.
pub(crate) async fn style_css() -> Response {
    asset("text/css; charset=utf-8", STYLE_CSS, None)
}

/// `GET /favicon.svg`.
pub(crate) async fn favicon() -> Response {
    asset("image/svg+xml", FAVICON_SVG, None)
}

/// The lifetime the web client fills in by default in demo mode, seconds: the docs' Go demo
/// value, so that the SDK's renewal (30 s before expiry) shows 10 s after Join. Only the
/// page's default: the server's own lifetimes (`compat_lifetime` included) are unchanged.
pub(crate) const DEMO_LIFETIME_SECS: u32 = 40;

/// `GET /v1/config`: what the web client shows and decides with. `demo` is true when the
/// server signs with a throwaway app (Agora refuses its tokens); `demo_lifetime` is then the
/// lifetime the page fills in ([`DEMO_LIFETIME_SECS`], within the app's maximum), `null`
/// otherwise; `compat_lifetime` is the lifetime `POST /fetch_rtc_token` gives (it takes none
/// in its request); `auth` is how the default app's token routes authenticate callers
/// (`none`, `api_key`, `jwt`: the page then asks for a key or token). No secret here.
pub(crate) async fn config(State(state): State<AppState>) -> Response {
    let body = config_body(state.config(), state.now().as_secs());
    let mut r = (StatusCode::OK, body.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The answer of `GET /v1/config`: settings of the server and its default app (never a
/// certificate).
#[derive(Serialize, JsonSchema)]
pub(crate) struct WebConfig<'a> {
    /// Whether the server signs with a throwaway app (Agora refuses its tokens).
    demo: bool,
    /// Demo mode: the lifetime the web client fills in (renewals show within a minute).
    demo_lifetime: Option<u32>,
    /// What the default app's token routes require.
    #[schemars(extend("enum" = ["none", "api_key", "jwt"]))]
    auth: &'static str,
    /// The default app.
    app_id: &'a str,
    /// The default app's token version.
    #[schemars(extend("enum" = ["007", "006"]))]
    token_version: &'static str,
    /// The default app's default lifetime (seconds).
    default_lifetime: u32,
    /// The default app's maximum lifetime (seconds).
    max_lifetime: u32,
    /// The lifetime of the compatibility routes' tokens (seconds).
    compat_lifetime: u32,
    /// The server's clock (Unix seconds).
    server_time: u64,
    /// The server's version.
    server_version: &'static str,
}

/// The body of `GET /v1/config` at `now` (Unix seconds).
fn config_body(config: &Config, now: u64) -> serde_json::Value {
    let app = config.default_app();
    let body = WebConfig {
        demo: config.demo,
        demo_lifetime: config.demo.then(|| DEMO_LIFETIME_SECS.min(app.max_lifetime)),
        auth: app.auth.kind(),
        app_id: app.app_id.as_str(),
        token_version: app.token_version.as_str(),
        default_lifetime: app.default_lifetime,
        max_lifetime: app.max_lifetime,
        compat_lifetime: app.compat_lifetime,
        server_time: now,
        server_version: env!("CARGO_PKG_VERSION"),
    };
    serde_json::to_value(body).expect("the settings serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_origin_keeps_only_a_plain_origin() {
        assert_eq!(api_origin("http://127.0.0.1:8080").as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(api_origin("https://Tokens.Example.com/base/?x#y").as_deref(), Some("https://tokens.example.com"));
        assert_eq!(api_origin("http://[::1]:9/").as_deref(), Some("http://[::1]:9"));
        for bad in ["", "ftp://x", "javascript:alert(1)", "http://", "http://a b", "http://x;y", "http://u@h", "//h"] {
            assert_eq!(api_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn csp_allows_only_self_and_the_api_origin() {
        let plain = csp(None);
        assert!(plain.to_str().unwrap().ends_with("connect-src 'self'"));
        let with = csp(Some("http://127.0.0.1:9/x"));
        assert!(with.to_str().unwrap().ends_with("connect-src 'self' http://127.0.0.1:9"));
        assert_eq!(csp(Some("http://evil\r\nX: y")), plain);
    }

    #[test]
    fn config_tells_the_page_the_demo_lifetime_and_auth() {
        let mut demo = Config::demo();
        let body = config_body(&demo, 7);
        assert_eq!(body["demo"], true);
        assert_eq!(body["demo_lifetime"], DEMO_LIFETIME_SECS);
        assert_eq!(body["compat_lifetime"], 3600, "the server's own lifetimes are unchanged in demo mode");
        assert_eq!(body["auth"], "none");
        assert_eq!(body["server_time"], 7);
        demo.apps[0].max_lifetime = 30;
        assert_eq!(config_body(&demo, 7)["demo_lifetime"], 30, "never over the app's maximum");
        let mut real = demo.clone();
        real.demo = false;
        assert!(config_body(&real, 7)["demo_lifetime"].is_null());
        let text = config_body(&demo, 7).to_string();
        assert!(!text.contains(demo.apps[0].certificate.expose_secret()), "no certificate in /v1/config");
    }
}
