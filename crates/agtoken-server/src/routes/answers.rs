//! The JSON answers of the compatibility routes (`compat.rs`), one type per shape, each in the
//! original server's shape. The handlers serialize these types and `/openapi.json` documents
//! their derived schemas (`openapi.rs`), so the two cannot differ. Plain-text answers (the
//! Spring routes, `/token/getNew`'s errors) have no type: they are a string.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use schemars::JsonSchema;
use serde::Serialize;

/// `answer` as a JSON response with `status`.
pub(crate) fn json_answer(status: StatusCode, answer: &impl Serialize) -> Response {
    // Room for a token's answer from the start (`to_string` starts at 128 bytes and grows).
    let mut json = Vec::with_capacity(ANSWER_CAPACITY);
    serde_json::to_writer(&mut json, answer).expect("an answer serializes");
    json_text(status, json)
}

/// The bytes an answer's JSON gets at first: a token's answer fits (a 007 RTC token with its
/// `{"code":"200","token":…}` is about 190 bytes).
const ANSWER_CAPACITY: usize = 512;

/// `json`, JSON already, as a response with `status`. Built directly: a `String`'s
/// `into_response` would insert `Content-Type: text/plain` first, to be replaced.
pub(crate) fn json_text(status: StatusCode, json: impl Into<axum::body::Body>) -> Response {
    let mut r = Response::new(json.into());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

// ---- 1. the docs' Go sample server (/fetch_rtc_token) ---------------------------------------

/// The token of `/fetch_rtc_token`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct FetchToken<'a> {
    /// Always `"200"`.
    #[schemars(extend("enum" = ["200"]))]
    pub(crate) code: &'static str,
    /// The token.
    pub(crate) token: &'a str,
}

/// An error of `/fetch_rtc_token`: what is wrong with the request.
#[derive(Serialize, JsonSchema)]
pub(crate) struct FetchError<'a> {
    /// The HTTP status, as text.
    pub(crate) code: String,
    /// What is wrong.
    pub(crate) message: &'a str,
    /// The request field it concerns (`null`: none).
    pub(crate) field: Option<&'a str>,
}

/// A refusal of `/fetch_rtc_token` (authentication, policy, rate limit).
#[derive(Serialize, JsonSchema)]
pub(crate) struct FetchRefusal<'a> {
    /// The HTTP status, as text.
    pub(crate) code: String,
    /// Why.
    pub(crate) message: &'a str,
}

// ---- 2. the docs' Docker token generator (/token/generate) ----------------------------------

/// The token of `/token/generate`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct GenerateToken<'a> {
    /// Always 0.
    #[schemars(extend("enum" = [0]))]
    pub(crate) code: i32,
    /// Always `Success`.
    #[schemars(extend("enum" = ["Success"]))]
    pub(crate) message: &'static str,
    /// The token.
    pub(crate) data: TokenData<'a>,
}

/// The token, under `data`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct TokenData<'a> {
    /// The token.
    pub(crate) token: &'a str,
}

/// An error or refusal of `/token/generate`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct GenerateFailure<'a> {
    /// -1: bad parameters (and refusals); -2: the token could not be generated.
    #[schemars(extend("enum" = [-1, -2]))]
    pub(crate) code: i32,
    /// What is wrong.
    pub(crate) message: &'a str,
    /// Always empty.
    #[schemars(extend("enum" = [""]))]
    pub(crate) data: &'static str,
}

// ---- 3. the community token service ---------------------------------------------------------

/// `/rtc/…`: the RTC token.
#[derive(Serialize, JsonSchema)]
pub(crate) struct RtcToken<'a> {
    /// The token.
    #[serde(rename = "rtcToken")]
    pub(crate) rtc_token: &'a str,
}

/// `/rtm/{uid}`: the RTM token.
#[derive(Serialize, JsonSchema)]
pub(crate) struct RtmToken<'a> {
    /// The token.
    #[serde(rename = "rtmToken")]
    pub(crate) rtm_token: &'a str,
}

/// `/rte/…`: both tokens.
#[derive(Serialize, JsonSchema)]
pub(crate) struct RteTokens<'a> {
    /// The RTC token.
    #[serde(rename = "rtcToken")]
    pub(crate) rtc_token: &'a str,
    /// The RTM token.
    #[serde(rename = "rtmToken")]
    pub(crate) rtm_token: &'a str,
}

/// `/chat/…`: the Chat token.
#[derive(Serialize, JsonSchema)]
pub(crate) struct ChatToken<'a> {
    /// The token.
    #[serde(rename = "chatToken")]
    pub(crate) chat_token: &'a str,
}

/// A bad parameter of the community service.
#[derive(Serialize, JsonSchema)]
pub(crate) struct CommunityMessage {
    /// What is wrong.
    pub(crate) message: String,
    /// The HTTP status (400).
    pub(crate) status: u16,
}

/// A token the community service could not build, or a refusal (authentication, policy,
/// rate limit).
#[derive(Serialize, JsonSchema)]
pub(crate) struct CommunityRefusal {
    /// What is wrong.
    pub(crate) error: String,
    /// The HTTP status.
    pub(crate) status: u16,
}

/// The community service's errors: parameter errors say `message`, build errors `error`.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum CommunityError {
    /// A bad parameter.
    Param(CommunityMessage),
    /// A token Agora's rules refuse.
    Build(CommunityRefusal),
}

/// `/getToken`, `/token/getNew`: the token.
#[derive(Serialize, JsonSchema)]
pub(crate) struct TokenAnswer<'a> {
    /// The token.
    pub(crate) token: &'a str,
}

/// `/getToken`: what is wrong.
#[derive(Serialize, JsonSchema)]
pub(crate) struct TokenRequestError<'a> {
    /// What is wrong.
    pub(crate) error: &'a str,
}

/// `/ping`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Pong {
    /// Always `pong`.
    #[schemars(extend("enum" = ["pong"]))]
    pub(crate) message: &'static str,
}
