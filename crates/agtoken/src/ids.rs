//! Who a token is for: the app ([`AppId`]), the secret it is signed with
//! ([`AppCertificate`], [`CertificateSet`]) and the user ([`Uid`]).

use std::fmt;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

fn is_32_hex(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Agora's app id rule, on borrowed text (no copy).
pub(crate) fn check_app_id(app_id: &str) -> Result<()> {
    if is_32_hex(app_id) {
        Ok(())
    } else {
        Err(Error::invalid("app_id", "must be 32 hexadecimal characters", app_id))
    }
}

/// Agora's certificate rule, on borrowed text (no copy); the error never echoes it.
pub(crate) fn check_certificate(certificate: &str) -> Result<()> {
    if is_32_hex(certificate) {
        return Ok(());
    }
    Err(Error::Invalid {
        field: "app_certificate",
        rule: "must be 32 hexadecimal characters",
        value: format!("<redacted, {} characters>", certificate.chars().count()),
    })
}

/// An Agora app id: 32 hexadecimal characters, kept as given (case is significant on the wire).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppId(String);

impl AppId {
    /// Validates Agora's rule: exactly 32 hexadecimal characters.
    pub fn new(app_id: impl Into<String>) -> Result<Self> {
        let app_id = app_id.into();
        check_app_id(&app_id)?;
        Ok(AppId(app_id))
    }

    /// Any text up to 65535 bytes, for parsing and rebuilding tokens the rules would refuse.
    pub fn unchecked(app_id: impl Into<String>) -> Result<Self> {
        let app_id = app_id.into();
        if app_id.len() > u16::MAX as usize {
            return Err(Error::TooLong { field: "app_id", len: app_id.len() });
        }
        Ok(AppId(app_id))
    }

    /// The app id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppId({:?})", self.0)
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for AppId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        AppId::new(s)
    }
}

/// The app certificate: the HMAC key of every token of the app.
///
/// It is never shown: `Debug` and `Display` print `AppCertificate(..)`, and its memory is
/// zeroed when dropped. The reference libraries hash it as ASCII text (not hex-decoded).
///
/// Equality compares in constant time (no early exit on the first differing byte), so comparing
/// a candidate against the configured certificate does not leak how much of it matched.
#[derive(Clone)]
pub struct AppCertificate(Zeroizing<String>);

impl PartialEq for AppCertificate {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.secret().ct_eq(other.secret()))
    }
}

impl Eq for AppCertificate {}

impl AppCertificate {
    /// Validates Agora's rule: exactly 32 hexadecimal characters. The error never echoes it.
    pub fn new(certificate: impl Into<String>) -> Result<Self> {
        let certificate = Zeroizing::new(certificate.into());
        check_certificate(&certificate)?;
        Ok(AppCertificate(certificate))
    }

    /// Any text, for verifying or rebuilding tokens made with certificates the rules would refuse.
    pub fn unchecked(certificate: impl Into<String>) -> Self {
        AppCertificate(Zeroizing::new(certificate.into()))
    }

    /// The secret bytes, for the signing code only.
    pub(crate) fn secret(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The secret as text, for callers that must hand it on (e.g. writing a config file).
    /// Named so that it stands out in review.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AppCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppCertificate(..)")
    }
}

impl fmt::Display for AppCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppCertificate(..)")
    }
}

/// The certificates a token may be signed with: the primary, and during a rotation the
/// secondary. Verification tries them in that order.
#[derive(Clone, Debug)]
pub struct CertificateSet {
    certificates: Vec<AppCertificate>,
}

impl CertificateSet {
    /// Only a primary certificate.
    pub fn new(primary: AppCertificate) -> Self {
        CertificateSet { certificates: vec![primary] }
    }

    /// A primary and a secondary certificate (Agora lets a project have both while rotating).
    pub fn with_secondary(primary: AppCertificate, secondary: AppCertificate) -> Self {
        CertificateSet { certificates: vec![primary, secondary] }
    }

    /// The primary certificate: the one new tokens are signed with.
    pub fn primary(&self) -> &AppCertificate {
        &self.certificates[0]
    }

    /// The certificates, primary first.
    pub fn iter(&self) -> impl Iterator<Item = &AppCertificate> {
        self.certificates.iter()
    }

    /// How many certificates the set holds (1 or 2).
    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    /// Never true: a set always has a primary. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }
}

impl From<AppCertificate> for CertificateSet {
    fn from(primary: AppCertificate) -> Self {
        CertificateSet::new(primary)
    }
}

/// The user a token is for, as the client SDK sees it.
///
/// An integer uid and a string account are **different identities** to the SDK, even when
/// the digits match (`Int(42)` is not `Account("42")`), although both pack as the text
/// `"42"`. `Any` (and `Int(0)`, which Agora defines as the same) admits any user.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Uid {
    /// A numeric uid, 1..=4294967295 (0 means "any").
    Int(u32),
    /// A string user account (Agora: at most 255 bytes).
    Account(String),
    /// Any user: packed as the empty string.
    Any,
}

impl Uid {
    /// The string the token packs and signs: `""` for `Any` and `Int(0)`, the decimal digits
    /// of an integer uid, the account as it is.
    pub fn packed(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Uid::Int(0) | Uid::Any => "".into(),
            Uid::Int(n) => n.to_string().into(),
            Uid::Account(a) => a.as_str().into(),
        }
    }

    /// Whether this uid admits any user (`Any`, `Int(0)`).
    pub fn is_any(&self) -> bool {
        matches!(self, Uid::Any | Uid::Int(0))
    }

    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Uid::Int(_) => "an integer uid",
            Uid::Account(_) => "a string account",
            Uid::Any => "any uid",
        }
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uid::Int(n) => write!(f, "uid {n}"),
            Uid::Account(a) => write!(f, "account {a:?}"),
            Uid::Any => f.write_str("any uid"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_is_never_printed() {
        let cert = AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").unwrap();
        assert_eq!(format!("{cert:?}"), "AppCertificate(..)");
        assert_eq!(format!("{cert}"), "AppCertificate(..)");
        let set = CertificateSet::new(cert);
        assert!(!format!("{set:?}").contains("5CFd"));
    }

    #[test]
    fn invalid_certificate_error_does_not_echo_it() {
        let err = AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3").unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("5CFd2fd1755d"), "{text}");
        assert!(text.contains("app_certificate") && text.contains("32 hexadecimal"), "{text}");
    }

    #[test]
    fn app_id_rule() {
        assert!(AppId::new("970CA35de60c44645bbae8a215061b33").is_ok());
        for bad in [
            "",
            "970CA35de60c44645bbae8a215061b3",
            "970CA35de60c44645bbae8a215061b3g",
            "970CA35de60c44645bbae8a215061b333",
        ] {
            let err = AppId::new(bad).unwrap_err();
            assert!(matches!(err, Error::Invalid { field: "app_id", .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn packed_uid() {
        assert_eq!(Uid::Int(0).packed(), "");
        assert_eq!(Uid::Any.packed(), "");
        assert_eq!(Uid::Int(4294967295).packed(), "4294967295");
        assert_eq!(Uid::Account("0".into()).packed(), "0");
    }
}
