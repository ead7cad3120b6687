//! The one error type of the crate.
//!
//! Every variant carries the offending value (never a secret) and, where an input rule
//! was broken, the field and the rule, so a message can be shown to a person as it is.
//! Refusals of the admission check map to the error Agora's edge would give
//! ([`Error::agora_error`]).

use crate::time::UnixTime;
use crate::verify::{AgoraError, Product};

/// What went wrong, specifically.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- input rules -------------------------------------------------------------------
    /// An input broke one of Agora's documented rules (or the format's).
    #[error("{field}: {rule} (got {value})")]
    Invalid {
        /// The input field, as the API or JSON names it.
        field: &'static str,
        /// The rule, in words.
        rule: &'static str,
        /// The offending value, shortened for display. Never a secret.
        value: String,
    },
    /// A string or byte field is longer than the format's `u16` length prefix can say.
    #[error("{field}: {len} bytes do not fit the format's 16-bit length (at most 65535)")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A number does not fit the format's unsigned 32-bit field.
    #[error("{field}: {value} does not fit an unsigned 32-bit field (at most 4294967295)")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value.
        value: i128,
    },
    /// A structure (JSON) lacked a field the service type needs.
    #[error("{field}: missing")]
    Missing {
        /// The field.
        field: String,
    },

    /// A JSON structure (spec) broke a rule; `path` names the field, e.g. `services[0].privileges.1`.
    #[error("{path}: {rule}")]
    InvalidSpec {
        /// Where in the JSON.
        path: String,
        /// The rule.
        rule: String,
    },

    // ---- parsing -----------------------------------------------------------------------
    /// The text does not start with a known version (`006` or `007`).
    #[error("not an Agora token: unknown version prefix {prefix:?} (expected \"006\" or \"007\")")]
    UnknownVersion {
        /// The first characters of the input.
        prefix: String,
    },
    /// The token body is not valid base64 (standard alphabet, padded).
    #[error("not an Agora token: the body after the version is not base64 ({reason})")]
    Base64 {
        /// What the decoder said.
        reason: String,
    },
    /// The text is not a token as given, but looks like one that copying or transport changed:
    /// a `Bearer ` or `name=` prefix, quotes around it, URL encoding (`%2B`, `%2F`, `%3D`), a
    /// `+` turned into a space, a line break inside. `problem` says which, `fix` what to do.
    #[error("not an Agora token as given: {problem}; {fix}")]
    Mangled {
        /// What is wrong with the text.
        problem: &'static str,
        /// What to do about it.
        fix: &'static str,
    },
    /// The 007 body is not a valid zlib stream.
    #[error("not an Agora token: the 007 body is not a valid zlib stream ({reason})")]
    Inflate {
        /// What the inflater said.
        reason: String,
    },
    /// The binary content ended inside a field.
    #[error("truncated token: {field} needs {needed} more bytes at offset {offset}, {available} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Byte offset in the content.
        offset: usize,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// The binary content has bytes after the last field.
    #[error("malformed token: {count} unexpected bytes after the {after}")]
    TrailingBytes {
        /// How many.
        count: usize,
        /// What came last.
        after: &'static str,
    },
    /// A text field is not UTF-8.
    #[error("malformed token: {field} is not valid UTF-8")]
    NotUtf8 {
        /// The field.
        field: &'static str,
    },
    /// A structural rule of the format is broken (e.g. a signature that is not 32 bytes).
    #[error("malformed token: {field}: {rule}")]
    Malformed {
        /// The field.
        field: &'static str,
        /// The rule.
        rule: &'static str,
    },

    // ---- verification and admission (what Agora's edge would answer) ------------------
    /// The signature matches none of the certificates.
    #[error("invalid token: the signature does not match the app certificate{}", if *.certificates > 1 { "s" } else { "" })]
    InvalidSignature {
        /// How many certificates were tried.
        certificates: usize,
    },
    /// A 006 token signs its channel and uid but carries only their CRC-32, so they must be given.
    #[error("a 006 token carries channel and uid only as CRC-32: give the channel and uid to verify it")]
    IdentityRequired,
    /// The token was made for another app id.
    #[error("invalid app id: the token is for app {token}, not {expected}")]
    AppIdMismatch {
        /// App id in the token.
        token: String,
        /// App id expected.
        expected: String,
    },
    /// The token as a whole has expired.
    #[error("token expired at {expired_at} (now {now})")]
    TokenExpired {
        /// When it expired.
        expired_at: UnixTime,
        /// The instant checked.
        now: UnixTime,
    },
    /// One privilege has expired while the token has not.
    #[error("privilege {privilege} expired at {expired_at} (now {now})")]
    PrivilegeExpired {
        /// The privilege.
        privilege: &'static str,
        /// When it expired.
        expired_at: UnixTime,
        /// The instant checked.
        now: UnixTime,
    },
    /// The token holds no service that could admit the action.
    #[error("the token has no {needed} service for {user:?} (it holds: {holds})")]
    WrongService {
        /// The service the action needs.
        needed: &'static str,
        /// The user the action is for.
        user: String,
        /// What the token holds.
        holds: String,
        /// Which product's error the user sees.
        product: Product,
    },
    /// The token's channel does not match.
    #[error("channel mismatch: the token is for channel {token:?}, not {requested:?}")]
    ChannelMismatch {
        /// Channel (or pattern) in the token.
        token: String,
        /// Channel requested.
        requested: String,
    },
    /// The token's user id does not match.
    #[error("user mismatch: the token is for {token}, not {requested}")]
    UidMismatch {
        /// User in the token.
        token: String,
        /// User requested.
        requested: String,
    },
    /// The token was made for an integer uid and the client joins with a string account, or
    /// the other way round: different identities to the SDK even when the digits match.
    #[error("user kind mismatch: the token was made for {token} but the client joins with {client}")]
    UidKindMismatch {
        /// What the token was made for.
        token: &'static str,
        /// What the client uses.
        client: &'static str,
    },
    /// The service is there but lacks the privilege the action needs.
    #[error("missing privilege: the token does not grant {privilege}")]
    MissingPrivilege {
        /// The privilege.
        privilege: &'static str,
    },
}

impl Error {
    pub(crate) fn invalid(field: &'static str, rule: &'static str, value: impl AsRef<str>) -> Self {
        Error::Invalid { field, rule, value: shorten(value.as_ref()) }
    }

    pub(crate) fn truncated(field: &'static str, offset: usize, needed: usize, available: usize) -> Self {
        Error::Truncated { field, offset, needed, available }
    }

    /// The input field this error is about, as the library names it (`channel`, `account`,
    /// `expire`, …), for an input error; `None` otherwise.
    pub fn input_field(&self) -> Option<&str> {
        match self {
            Error::Invalid { field, .. } | Error::TooLong { field, .. } | Error::OutOfRange { field, .. } => {
                Some(field)
            }
            Error::Missing { field } => Some(field),
            _ => None,
        }
    }

    /// The same error with its input field named as the caller's API names it: a server route
    /// whose JSON says `channelName` where the library says `channel` passes
    /// `&[("channel", "channelName")]`. Other errors, and fields not in `names`, are unchanged.
    #[must_use]
    pub fn with_field_names(mut self, names: &[(&str, &'static str)]) -> Self {
        let to = |field: &str| names.iter().find(|(from, _)| *from == field).map(|(_, to)| *to);
        match &mut self {
            Error::Invalid { field, .. } | Error::TooLong { field, .. } | Error::OutOfRange { field, .. } => {
                if let Some(to) = to(field) {
                    *field = to;
                }
            }
            Error::Missing { field } => {
                if let Some(to) = to(field) {
                    *field = to.to_owned();
                }
            }
            _ => {}
        }
        self
    }

    /// Which concern this error belongs to: a bad input to a builder (or a JSON structure), a
    /// text that is not a readable token, or a token Agora would refuse. Exhaustive: a new
    /// variant must be placed here before it compiles.
    pub fn concern(&self) -> Concern {
        use Error::*;
        match self {
            Invalid { .. } | TooLong { .. } | OutOfRange { .. } | Missing { .. } | InvalidSpec { .. } => Concern::Input,
            UnknownVersion { .. }
            | Base64 { .. }
            | Mangled { .. }
            | Inflate { .. }
            | Truncated { .. }
            | TrailingBytes { .. }
            | NotUtf8 { .. }
            | Malformed { .. } => Concern::Format,
            IdentityRequired => Concern::Usage,
            InvalidSignature { .. }
            | AppIdMismatch { .. }
            | TokenExpired { .. }
            | PrivilegeExpired { .. }
            | WrongService { .. }
            | ChannelMismatch { .. }
            | UidMismatch { .. }
            | UidKindMismatch { .. }
            | MissingPrivilege { .. } => Concern::Refused,
        }
    }

    /// The error an RTC client (video/voice SDK) would see for this refusal, when it is one.
    ///
    /// Same as [`Error::agora_error_for`] with [`Product::Rtc`].
    pub fn agora_error(&self) -> Option<AgoraError> {
        self.agora_error_for(Product::Rtc)
    }

    /// The error the SDK of `product` would report for this refusal, when it is one.
    ///
    /// Parse failures map to "invalid token", as the edge refuses anything it cannot read;
    /// input-rule errors of the builders are not refusals and give `None`.
    pub fn agora_error_for(&self, product: Product) -> Option<AgoraError> {
        use Error::*;
        enum Kind {
            Invalid,
            AppId,
            Expired,
            NoPermission,
        }
        let kind = match self {
            AppIdMismatch { .. } => Kind::AppId,
            TokenExpired { .. } | PrivilegeExpired { .. } => Kind::Expired,
            MissingPrivilege { .. } => Kind::NoPermission,
            // Anything else the edge cannot read or accept is "invalid token"; a builder's input,
            // a JSON structure or a missing claimed identity is no refusal at all. `concern` is
            // exhaustive, so a new variant is placed there before it compiles.
            _ => match self.concern() {
                Concern::Format | Concern::Refused => Kind::Invalid,
                Concern::Input | Concern::Usage => return None,
            },
        };
        let product = match self {
            WrongService { product, .. } => *product,
            _ => product,
        };
        Some(match (product, kind) {
            (Product::Rtc, Kind::Invalid) => AgoraError::RTC_INVALID_TOKEN,
            (Product::Rtc, Kind::AppId) => AgoraError::RTC_INVALID_APP_ID,
            (Product::Rtc, Kind::Expired) => AgoraError::RTC_TOKEN_EXPIRED,
            (Product::Rtc, Kind::NoPermission) => AgoraError::RTC_NO_PERMISSION,
            (Product::Rtm, Kind::Invalid | Kind::NoPermission) => AgoraError::RTM_LOGIN_INVALID_TOKEN,
            (Product::Rtm, Kind::AppId) => AgoraError::RTM_LOGIN_INVALID_APP_ID,
            (Product::Rtm, Kind::Expired) => AgoraError::RTM_LOGIN_TOKEN_EXPIRED,
            (Product::Chat, Kind::Expired) => AgoraError::CHAT_TOKEN_EXPIRED,
            (Product::Chat, _) => AgoraError::CHAT_TOKEN_INVALID,
        })
    }
}

/// The concern of an [`Error`] ([`Error::concern`]): building, parsing and refusing are
/// different failures, shown and handled differently (a usage error, "not a token", or what
/// Agora's edge would answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Concern {
    /// A builder's input, or a JSON structure, broke a rule.
    Input,
    /// The text is not a readable token.
    Format,
    /// The call lacks what it needs (a 006 token verified without the identity it was made for).
    Usage,
    /// A readable token that Agora would refuse (signature, app, expiry, service, channel, user,
    /// privilege).
    Refused,
}

/// Values are echoed in messages; keep them readable.
fn shorten(value: &str) -> String {
    const MAX: usize = 80;
    if value.len() <= MAX {
        return format!("{value:?}");
    }
    let mut end = MAX;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} bytes)", &value[..end], value.len())
}

/// Result alias of the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod concern_tests {
    use super::*;

    #[test]
    fn every_refusal_maps_to_an_agora_error_and_no_input_error_does() {
        let now = UnixTime::from_secs(2);
        let cases = [
            (Error::invalid("channel", "rule", "x"), Concern::Input),
            (Error::Missing { field: "uid".into() }, Concern::Input),
            (Error::Base64 { reason: "r".into() }, Concern::Format),
            (Error::IdentityRequired, Concern::Usage),
            (Error::InvalidSignature { certificates: 1 }, Concern::Refused),
            (Error::TokenExpired { expired_at: UnixTime::from_secs(1), now }, Concern::Refused),
            (Error::MissingPrivilege { privilege: "join_channel" }, Concern::Refused),
        ];
        for (error, concern) in cases {
            assert_eq!(error.concern(), concern, "{error}");
            let mapped = error.agora_error().is_some();
            assert_eq!(mapped, matches!(concern, Concern::Format | Concern::Refused), "{error}");
        }
    }
}

#[cfg(test)]
mod field_name_tests {
    use super::*;

    #[test]
    fn a_renamed_field_shows_in_the_message_and_others_stay() {
        let names: &[(&str, &'static str)] = &[("channel", "channelName"), ("uid", "UID")];
        let e = Error::invalid("channel", "must be at most 64 bytes", "x").with_field_names(names);
        assert_eq!(e.input_field(), Some("channelName"));
        assert!(e.to_string().starts_with("channelName: must be at most 64 bytes"), "{e}");
        let e = Error::Missing { field: "uid".into() }.with_field_names(names);
        assert_eq!(e.to_string(), "UID: missing");
        let e = Error::TooLong { field: "account", len: 70_000 }.with_field_names(names);
        assert_eq!(e.input_field(), Some("account"), "not in the list: unchanged");
        let e = Error::InvalidSignature { certificates: 1 }.with_field_names(names);
        assert_eq!(e.input_field(), None);
        assert_eq!(e, Error::InvalidSignature { certificates: 1 });
    }
}
