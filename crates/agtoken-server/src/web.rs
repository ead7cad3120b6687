//! `GET /`: the web client. Until the client lands in `web/`, a placeholder page that says
//! what the server offers.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};

use crate::state::AppState;

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>agtoken</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 3rem auto; padding: 0 1rem; color: #222; }
code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; }
.demo { border: 2px solid #c00; padding: .5rem 1rem; color: #900; }
</style>
</head>
<body>
<h1>agtoken</h1>
<p>A token server for Agora apps. The web client is coming; meanwhile:</p>
__DEMO__
<ul>
<li><code>POST /v1/tokens</code>, <code>/v1/tokens/inspect</code>, <code>/v1/tokens/verify</code>: the v1 API (<a href="/openapi.json">OpenAPI document</a>)</li>
<li><code>POST /fetch_rtc_token</code>, <code>/token/generate</code>, <code>/getToken</code>, <code>GET /rtc/…</code>, <code>/rtm/…</code>, <code>/rte/…</code>, <code>/chat/…</code>: the APIs of the token servers in Agora's docs</li>
<li><a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a>, <a href="/metrics">/metrics</a></li>
</ul>
</body>
</html>
"#;

const DEMO: &str = r#"<p class="demo"><strong>Demo mode:</strong> this server signs with a throwaway app id and certificate.
Agora will refuse its tokens. Configure <code>APP_ID</code> and <code>APP_CERTIFICATE</code> to issue real ones.</p>"#;

/// The page.
pub(crate) async fn index(State(state): State<AppState>) -> Response {
    let page = PAGE.replace("__DEMO__", if state.config().demo { DEMO } else { "" });
    let mut r = Html(page).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
