//! The JSON form of a token's structure, shared by the CLI (`inspect --json`, `build --spec`)
//! and the server's v1 API, so that `agtoken inspect --json T | agtoken build --spec -`
//! round-trips.
//!
//! 007: `{"version": "007", "app_id", "issue_ts", "expire", "salt", "services": [{"type", "name",
//! <fields>, "privileges": {"<id>": value}}]}`. 006: `{"version": "006", "app_id", "channel_name",
//! "uid", "salt", "ts", "privileges", "crc_channel_name", "crc_uid"}`. A spec to build from may
//! add `"app_certificate"`. Building from a spec encodes whatever the format allows: no
//! Agora-rule validation here.
//!
//! Reading ([`read`], [`read_007`], [`read_006`], [`build`]) takes JSON text and is typed
//! (serde): a field the format does not have is refused, and every error names the field's
//! path (`services[0].privileges.x`) and the rule it broke. Besides the form [`describe`]
//! writes, reading accepts what the reference's raw calls pass: a service's `"service"` for
//! `"name"`, privileges as `[[id, value], …]`, RTM 2 permissions as
//! `[{"resource_type", "permission_type", "resources"}]`, a numeric `uid` (0 packs as `""`)
//! or an `"account"`, and numbers where text is expected (written in decimal).
//!
//! Writing ([`describe`], [`describe_007`], [`describe_006`]) gives a [`Structure`], which
//! serializes (serde) to that JSON.
//!
//! ```
//! use agtoken::{spec, Token};
//!
//! let json = r#"{"version": "007", "app_certificate": "5CFd2fd1755d40ecb72977518be15d3b",
//!     "app_id": "970CA35de60c44645bbae8a215061b33", "issue_ts": 1700000000, "expire": 600,
//!     "salt": 1, "services": [{"name": "rtc", "channel_name": "room", "uid": 7,
//!     "privileges": {"1": 600}}]}"#;
//! let token = spec::build(json)?;
//! let structure = spec::describe(&Token::parse(&token)?, None, None);
//! let text = serde_json::to_string(&structure).unwrap();
//! assert!(text.contains(r#""channel_name":"room","uid":"7""#), "{text}");
//!
//! let err = spec::build(&json.replace(r#""1": 600"#, r#""join": 600"#)).unwrap_err();
//! assert_eq!(err.to_string(), "services[0].privileges.join: privilege ids are numbers 0..=65535");
//! # Ok::<(), agtoken::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::build::BuiltToken;
use crate::error::{Error, Result};
use crate::ids::AppCertificate;
use crate::v006::{crc32, AccessToken006, ParsedAccessToken006};
use crate::v007::{AccessToken2, Privileges, Rtm2Permissions, Service, ServiceType};
use crate::verify::{Token, Version};

fn invalid(path: impl Into<String>, rule: impl Into<String>) -> Error {
    Error::InvalidSpec { path: path.into(), rule: rule.into() }
}

// ---- reading -----------------------------------------------------------------------------

/// A spec read by [`read`]: the structure, and the certificate to sign it with when the spec
/// names one (`"app_certificate"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The structure to sign.
    pub structure: BuiltToken,
    /// The spec's `"app_certificate"`, if it has one.
    pub app_certificate: Option<AppCertificate>,
}

/// Reads a spec of either version (`"version"`: `"007"`, the default, or `"006"`).
pub fn read(json: &str) -> Result<Spec> {
    let value = parse_object(json)?;
    let version = version_of(&value)?;
    let (structure, certificate) = match version {
        Version::V007 => {
            let mut spec: Spec007 = typed(value)?;
            let certificate = spec.app_certificate.take();
            (BuiltToken::V007(spec.into_structure()?), certificate)
        }
        Version::V006 => {
            let mut spec: Spec006 = typed(value)?;
            let certificate = spec.app_certificate.take();
            (BuiltToken::V006(spec.into_structure()?), certificate)
        }
    };
    Ok(Spec { structure, app_certificate: certificate.map(|c| AppCertificate::unchecked(c.0)) })
}

/// Reads a 007 structure (a `"version"` other than `"007"` is refused).
pub fn read_007(json: &str) -> Result<AccessToken2> {
    let value = parse_object(json)?;
    if version_of(&value)? != Version::V007 {
        return Err(invalid("version", "must be \"007\" here (or absent)"));
    }
    typed::<Spec007>(value)?.into_structure()
}

/// Reads a 006 structure (`"version"`, when given, must be `"006"`). `crc_channel_name` and
/// `crc_uid`, when present, must match the channel and uid (they are derived, so a mismatch
/// means the spec is inconsistent).
pub fn read_006(json: &str) -> Result<AccessToken006> {
    let value = parse_object(json)?;
    if !matches!(value.get("version"), None | Some(serde_json::Value::Null)) && version_of(&value)? != Version::V006 {
        return Err(invalid("version", "must be \"006\" here (or absent)"));
    }
    typed::<Spec006>(value)?.into_structure()
}

/// Builds the token a spec describes, signed with its `"app_certificate"`.
pub fn build(json: &str) -> Result<String> {
    let spec = read(json)?;
    let certificate = spec.app_certificate.ok_or_else(|| Error::Missing { field: "app_certificate".into() })?;
    spec.structure.encode(&certificate)
}

/// The JSON text as an object; a syntax error keeps serde_json's line and column.
fn parse_object(json: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_str(json) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(other) => Err(invalid("spec", format!("must be a JSON object, not {}", json_kind(&other)))),
        Err(e) => Err(invalid("spec", format!("not valid JSON: {e}"))),
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

fn version_of(map: &serde_json::Map<String, serde_json::Value>) -> Result<Version> {
    match map.get("version") {
        None | Some(serde_json::Value::Null) => Ok(Version::V007),
        Some(serde_json::Value::String(v)) if v == "007" => Ok(Version::V007),
        Some(serde_json::Value::String(v)) if v == "006" => Ok(Version::V006),
        Some(_) => Err(invalid("version", "must be \"006\" or \"007\"")),
    }
}

/// Deserializes through serde with the path of the failing field. Reading from a
/// `serde_json::Value` (not the text) keeps line/column noise out of the rule.
fn typed<T: de::DeserializeOwned>(map: serde_json::Map<String, serde_json::Value>) -> Result<T> {
    serde_path_to_error::deserialize(serde_json::Value::Object(map)).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { "spec".to_owned() } else { path };
        Error::InvalidSpec { path, rule: rule_of(&e.into_inner().to_string()) }
    })
}

/// serde's wording turned into a rule: "invalid type: string \"x\", expected a whole number"
/// → "must be a whole number, not string \"x\"".
fn rule_of(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some((got, wanted)) = message.strip_prefix(prefix).and_then(|m| m.split_once(", expected ")) {
            return format!("must be {wanted}, not {got}");
        }
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        return format!("not a field of this structure (expected {expected})");
    }
    message.to_owned()
}

/// The top level of a 007 spec. Required fields are `Option`s so that their absence is
/// reported as [`Error::Missing`] with the field's name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct Spec007 {
    #[allow(dead_code)] // read by `version_of` before; declared so that it is not unknown
    version: Option<IgnoredAny>,
    app_certificate: Option<Text>,
    app_id: Option<Text>,
    issue_ts: Option<U32>,
    expire: Option<U32>,
    salt: Option<U32>,
    services: Option<Vec<ServiceSpec>>,
}

impl Spec007 {
    fn into_structure(self) -> Result<AccessToken2> {
        let services = self
            .services
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.into_service(&format!("services[{i}]")))
            .collect::<Result<_>>()?;
        Ok(AccessToken2 {
            app_id: required(self.app_id, "app_id")?.0,
            issued_at: required(self.issue_ts, "issue_ts")?.0,
            expire: required(self.expire, "expire")?.0,
            salt: required(self.salt, "salt")?.0,
            services,
        })
    }
}

fn required<T>(value: Option<T>, field: &str) -> Result<T> {
    value.ok_or_else(|| Error::Missing { field: field.to_owned() })
}

/// The top level of a 006 spec.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct Spec006 {
    #[allow(dead_code)] // read by `version_of` before; declared so that it is not unknown
    version: Option<IgnoredAny>,
    app_certificate: Option<Text>,
    app_id: Option<Text>,
    channel_name: Option<Text>,
    uid: Option<UidText>,
    account: Option<Text>,
    salt: Option<U32>,
    ts: Option<U32>,
    privileges: Option<PrivilegesSpec>,
    crc_channel_name: Option<U32>,
    crc_uid: Option<U32>,
}

impl Spec006 {
    fn into_structure(self) -> Result<AccessToken006> {
        let channel_name = self.channel_name.ok_or_else(|| {
            invalid("channel_name", "missing (a 006 token carries only its CRC-32: give it to inspect with --channel)")
        })?;
        // `uid` wins over `account`, as in the reference's raw calls (which may give both).
        let uid = match (self.uid, self.account) {
            (Some(uid), _) => uid.0,
            (None, Some(account)) => account.0,
            (None, None) => {
                return Err(invalid(
                    "uid",
                    "missing (a 006 token carries only its CRC-32: give it to inspect with --uid)",
                ))
            }
        };
        for (key, crc, text) in
            [("crc_channel_name", self.crc_channel_name, &channel_name.0), ("crc_uid", self.crc_uid, &uid)]
        {
            if crc.is_some_and(|c| c.0 != crc32(text)) {
                return Err(invalid(key, "does not match the CRC-32 of the given value"));
            }
        }
        Ok(AccessToken006 {
            app_id: required(self.app_id, "app_id")?.0,
            channel_name: channel_name.0,
            uid,
            salt: required(self.salt, "salt")?.0,
            ts: required(self.ts, "ts")?.0,
            privileges: self.privileges.map(|p| p.0).unwrap_or_default(),
        })
    }
}

/// One service of a 007 spec: every field any service has; [`ServiceSpec::into_service`]
/// refuses the ones its type does not have.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
struct ServiceSpec {
    #[serde(rename = "type")]
    type_code: Option<U16>,
    name: Option<String>,
    service: Option<String>,
    channel_name: Option<Text>,
    uid: Option<UidText>,
    account: Option<Text>,
    user_id: Option<Text>,
    room_uuid: Option<Text>,
    user_uuid: Option<Text>,
    role: Option<ApaasRole>,
    permissions: Option<PermissionsSpec>,
    privileges: Option<PrivilegesSpec>,
    remaining_hex: Option<Hex>,
    declared_services: Option<U16>,
}

/// The fields each kind of service has in the JSON form (besides `type`, `name`, `privileges`).
fn fields_of(kind: Option<ServiceType>) -> &'static [&'static str] {
    match kind {
        Some(ServiceType::Rtc) => &["channel_name", "uid", "account"],
        Some(ServiceType::Rtm | ServiceType::Chat) => &["user_id"],
        Some(ServiceType::Streaming | ServiceType::Fcdn) => &["channel_name", "account", "uid"],
        Some(ServiceType::Apaas) => &["room_uuid", "user_uuid", "role"],
        Some(ServiceType::Rtm2) => &["user_id", "permissions"],
        Some(ServiceType::Fpa | ServiceType::ConvoAi | ServiceType::Stt) => &[],
        None => &["remaining_hex", "declared_services"],
    }
}

impl ServiceSpec {
    /// The kind this spec names: by `type`, else by `name` (or `service`); a name that
    /// contradicts the type is refused.
    fn kind(&self, path: &str) -> Result<std::result::Result<ServiceType, u16>> {
        let at = |field: &str| format!("{path}.{field}");
        let (name, name_field) = match (&self.name, &self.service) {
            (Some(n), Some(s)) if !n.eq_ignore_ascii_case(s) => {
                return Err(invalid(at("service"), format!("{s:?} differs from name {n:?}")))
            }
            (Some(n), _) => (Some(n.as_str()), "name"),
            (None, Some(s)) => (Some(s.as_str()), "service"),
            (None, None) => (None, "name"),
        };
        let named = match name {
            Some(n) if n == "unknown" && self.type_code.is_some() => None,
            Some(n) => Some(ServiceType::from_name(n).ok_or_else(|| invalid(at(name_field), "unknown service name"))?),
            None => None,
        };
        match (self.type_code, named) {
            (Some(U16(code)), named) => match (ServiceType::from_code(code), named) {
                (Some(kind), Some(n)) if n != kind => Err(invalid(
                    at(name_field),
                    format!("names the {} service, but type {code} is {}", n.name(), kind.name()),
                )),
                (Some(kind), _) => Ok(Ok(kind)),
                (None, Some(n)) => Err(invalid(
                    at(name_field),
                    format!("names the {} service, but type {code} is not a known service type", n.name()),
                )),
                (None, None) => Ok(Err(code)),
            },
            (None, Some(kind)) => Ok(Ok(kind)),
            (None, None) => Err(Error::Missing { field: at("type") }),
        }
    }

    fn into_service(self, path: &str) -> Result<Service> {
        let kind = self.kind(path)?;
        let allowed = fields_of(kind.ok());
        let given = [
            ("channel_name", self.channel_name.is_some()),
            ("uid", self.uid.is_some()),
            ("account", self.account.is_some()),
            ("user_id", self.user_id.is_some()),
            ("room_uuid", self.room_uuid.is_some()),
            ("user_uuid", self.user_uuid.is_some()),
            ("role", self.role.is_some()),
            ("permissions", self.permissions.is_some()),
            ("remaining_hex", self.remaining_hex.is_some()),
            ("declared_services", self.declared_services.is_some()),
            ("privileges", self.privileges.is_some() && kind.is_err()),
        ];
        if let Some((field, _)) = given.iter().find(|(field, given)| *given && !allowed.contains(field)) {
            let what = kind
                .map_or_else(|code| format!("a service of unknown type {code}"), |k| format!("{} service", k.name()));
            let fields = if allowed.is_empty() { "only privileges".to_owned() } else { allowed.join(", ") };
            return Err(invalid(format!("{path}.{field}"), format!("{what} has no such field (its fields: {fields})")));
        }
        let kind = match kind {
            Ok(kind) => kind,
            Err(code) => {
                return Ok(Service::Unknown {
                    service_type: code,
                    remaining: self.remaining_hex.map(|h| h.0).unwrap_or_default(),
                    declared_services: self.declared_services.map_or(1, |d| d.0),
                })
            }
        };
        let text = |t: Option<Text>| t.map(|t| t.0).unwrap_or_default();
        let mut service = Service::empty(kind);
        if let (Some(p), Some(privileges)) = (self.privileges, service.privileges_mut()) {
            *privileges = p.0;
        }
        match &mut service {
            Service::Rtc { channel_name, uid, .. } => {
                *channel_name = text(self.channel_name);
                // `uid` (number or text) or `account`, as the reference's raw calls give them.
                *uid = self.uid.map(|u| u.0).or(self.account.map(|a| a.0)).unwrap_or_default();
            }
            Service::Rtm { user_id, .. } | Service::Chat { user_id, .. } => *user_id = text(self.user_id),
            Service::Streaming { channel_name, account, .. } | Service::Fcdn { channel_name, account, .. } => {
                *channel_name = text(self.channel_name);
                *account = self.account.map(|a| a.0).or(self.uid.map(|u| u.0)).unwrap_or_default();
            }
            Service::Apaas { room_uuid, user_uuid, role, .. } => {
                *room_uuid = text(self.room_uuid);
                *user_uuid = text(self.user_uuid);
                *role = self.role.map_or(-1, |r| r.0);
            }
            Service::Rtm2 { user_id, permissions, .. } => {
                *user_id = text(self.user_id);
                *permissions = self.permissions.map(|p| p.0).unwrap_or_default();
            }
            Service::Fpa { .. } | Service::ConvoAi { .. } | Service::Stt { .. } | Service::Unknown { .. } => {}
        }
        Ok(service)
    }
}

// ---- leaf values: each reads what the format allows and says the rule otherwise ------------

/// Text; a whole number is accepted and written in decimal (ids are often numbers).
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A uid: text as given; a number in decimal, where 0 (any user) packs as `""`.
struct UidText(String);

impl<'de> Deserialize<'de> for UidText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = UidText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number 0..=4294967295 or a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<UidText, E> {
                Ok(UidText(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<UidText, E> {
                let uid = u32::try_from(v).map_err(|_| E::custom(format!("{v} is not a uid (0..=4294967295)")))?;
                Ok(UidText(if uid == 0 { String::new() } else { uid.to_string() }))
            }
        }
        d.deserialize_any(V)
    }
}

/// An unsigned 32-bit field.
struct U32(u32);

impl<'de> Deserialize<'de> for U32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = U32;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number 0..=4294967295")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<U32, E> {
                u32::try_from(v)
                    .map(U32)
                    .map_err(|_| E::custom(format!("{v} does not fit an unsigned 32-bit field (at most 4294967295)")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<U32, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("{v} is negative; must be 0..=4294967295"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// An unsigned 16-bit field (service types, RTM 2 codes, counts).
#[derive(Clone, Copy)]
struct U16(u16);

impl<'de> Deserialize<'de> for U16 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = U16;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number 0..=65535")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<U16, E> {
                u16::try_from(v).map(U16).map_err(|_| E::custom(format!("{v} is above 65535; must be 0..=65535")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<U16, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("{v} is negative; must be 0..=65535"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A number 0..=65535 as an object key, in plain digits only: `"+1"` or `" 1"` would
/// otherwise collide with `"1"`.
fn small_number(key: &str) -> Option<u16> {
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    key.parse().ok()
}

/// A privilege id: a number 0..=65535, or its digits as an object key.
struct PrivilegeId(u16);

impl<'de> Deserialize<'de> for PrivilegeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        const RULE: &str = "privilege ids are numbers 0..=65535";
        struct V;
        impl Visitor<'_> for V {
            type Value = PrivilegeId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a privilege id 0..=65535")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<PrivilegeId, E> {
                small_number(v).map(PrivilegeId).ok_or_else(|| E::custom(RULE))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<PrivilegeId, E> {
                u16::try_from(v).map(PrivilegeId).map_err(|_| E::custom(RULE))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<PrivilegeId, E> {
                Err(E::custom(RULE))
            }
        }
        d.deserialize_any(V)
    }
}

/// Privileges: `{"<id>": value}`, or `[[id, value], …]` as the reference's raw calls list
/// them (a later id replaces an earlier one).
struct PrivilegesSpec(Privileges);

impl<'de> Deserialize<'de> for PrivilegesSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PrivilegesSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object {\"<id>\": value}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<PrivilegesSpec, A::Error> {
                let mut out = Privileges::new();
                while let Some((PrivilegeId(id), U32(value))) = map.next_entry()? {
                    out.insert(id, value);
                }
                Ok(PrivilegesSpec(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<PrivilegesSpec, A::Error> {
                let mut out = Privileges::new();
                while let Some(Pair(PrivilegeId(id), U32(value))) = seq.next_element()? {
                    out.insert(id, value);
                }
                Ok(PrivilegesSpec(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[id, value]`.
struct Pair(PrivilegeId, U32);

impl<'de> Deserialize<'de> for Pair {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pair;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[id, value]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Pair, A::Error> {
                let wrong = || de::Error::custom("must be [id, value]");
                let id = seq.next_element()?.ok_or_else(wrong)?;
                let value = seq.next_element()?.ok_or_else(wrong)?;
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(wrong());
                }
                Ok(Pair(id, value))
            }
        }
        d.deserialize_seq(V)
    }
}

/// RTM 2 permissions: `{"<resource type>": {"<permission>": ["item", …]}}`, or the reference's
/// call form `[{"resource_type", "permission_type", "resources"}]` (a later entry for the same
/// pair replacing the earlier list).
struct PermissionsSpec(Rtm2Permissions);

/// A key of the permission table: a number 0..=65535 in plain digits.
struct Code(u16);

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let key = String::deserialize(d)?;
        small_number(&key).map(Code).ok_or_else(|| de::Error::custom("keys are numbers 0..=65535"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object {\"resource_type\", \"permission_type\", \"resources\"}")]
struct PermissionCall {
    resource_type: U16,
    permission_type: U16,
    resources: Vec<String>,
}

impl<'de> Deserialize<'de> for PermissionsSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PermissionsSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("{\"<resource type>\": {\"<permission>\": [..]}}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<PermissionsSpec, A::Error> {
                let mut table = BTreeMap::new();
                while let Some((Code(resource), perms)) = map.next_entry::<Code, BTreeMap<Code, Vec<String>>>()? {
                    table.insert(resource, perms.into_iter().map(|(Code(p), list)| (p, list)).collect());
                }
                Ok(PermissionsSpec(Rtm2Permissions(table)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<PermissionsSpec, A::Error> {
                let mut table = BTreeMap::<u16, BTreeMap<u16, Vec<String>>>::new();
                while let Some(call) = seq.next_element::<PermissionCall>()? {
                    table.entry(call.resource_type.0).or_default().insert(call.permission_type.0, call.resources);
                }
                Ok(PermissionsSpec(Rtm2Permissions(table)))
            }
        }
        d.deserialize_any(V)
    }
}

// `Code` is a map key: the derive of BTreeMap<Code, _> needs an order.
impl PartialEq for Code {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Code {}
impl PartialOrd for Code {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Code {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

/// An APaaS role: -32768..=65535 (the reference's own parser reads -1 back as 65535: both
/// spellings are accepted and stored as the same 16 bits).
struct ApaasRole(i16);

impl<'de> Deserialize<'de> for ApaasRole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ApaasRole;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number -32768..=65535")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<ApaasRole, E> {
                match v {
                    -32768..=32767 => Ok(ApaasRole(v as i16)),
                    32768..=65535 => Ok(ApaasRole(v as u16 as i16)),
                    _ => Err(E::custom(format!("must be a number -32768..=65535, not {v}"))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<ApaasRole, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
        }
        d.deserialize_any(V)
    }
}

/// Bytes as hexadecimal text.
struct Hex(Vec<u8>);

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        base16ct::mixed::decode_vec(&text).map(Hex).map_err(|_| de::Error::custom("must be hex"))
    }
}

// ---- writing -----------------------------------------------------------------------------

/// The JSON form of a token's structure, as [`describe`] gives it: serialize it with serde
/// (`serde_json::to_string(&structure)`); [`read`] reads it back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Structure(Form);

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
enum Form {
    V007(Structure007),
    V006(Structure006),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct Structure007 {
    version: &'static str,
    app_id: String,
    issue_ts: u32,
    expire: u32,
    salt: u32,
    services: Vec<ServiceJson>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct Structure006 {
    version: &'static str,
    app_id: String,
    /// `null` when not given or its CRC does not match.
    channel_name: Option<String>,
    /// `null` when not given or its CRC does not match.
    uid: Option<String>,
    salt: u32,
    ts: u32,
    privileges: Privileges,
    crc_channel_name: u32,
    crc_uid: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
struct ServiceJson {
    #[serde(rename = "type")]
    type_code: u16,
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    room_uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<i16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<BTreeMap<u16, BTreeMap<u16, Vec<String>>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remaining_hex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    declared_services: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    privileges: Option<Privileges>,
}

impl From<&Service> for ServiceJson {
    fn from(service: &Service) -> Self {
        let mut out = ServiceJson {
            type_code: service.type_code(),
            name: service.service_type().map_or("unknown", ServiceType::name),
            privileges: service.service_type().map(|_| service.privileges().clone()),
            ..ServiceJson::default()
        };
        match service {
            Service::Rtc { channel_name, uid, .. } => {
                out.channel_name = Some(channel_name.clone());
                out.uid = Some(uid.clone());
            }
            Service::Rtm { user_id, .. } | Service::Chat { user_id, .. } => out.user_id = Some(user_id.clone()),
            Service::Streaming { channel_name, account, .. } | Service::Fcdn { channel_name, account, .. } => {
                out.channel_name = Some(channel_name.clone());
                out.account = Some(account.clone());
            }
            Service::Apaas { room_uuid, user_uuid, role, .. } => {
                out.room_uuid = Some(room_uuid.clone());
                out.user_uuid = Some(user_uuid.clone());
                out.role = Some(*role);
            }
            Service::Rtm2 { user_id, permissions, .. } => {
                out.user_id = Some(user_id.clone());
                out.permissions = Some(permissions.0.clone());
            }
            Service::Unknown { remaining, declared_services, .. } => {
                out.remaining_hex = Some(base16ct::lower::encode_string(remaining));
                out.declared_services = Some(*declared_services);
            }
            Service::Fpa { .. } | Service::ConvoAi { .. } | Service::Stt { .. } => {}
        }
        out
    }
}

/// The JSON form of a 007 structure (services in packed order).
pub fn describe_007(t: &AccessToken2) -> Structure {
    Structure(Form::V007(Structure007 {
        version: Version::V007.as_str(),
        app_id: t.app_id.clone(),
        issue_ts: t.issued_at,
        expire: t.expire,
        salt: t.salt,
        services: t.packed_services().into_iter().map(ServiceJson::from).collect(),
    }))
}

/// The JSON form of a parsed 006 token; `channel_name`/`uid` are filled in when given and
/// their CRC matches, `null` otherwise.
pub fn describe_006(t: &ParsedAccessToken006, channel: Option<&str>, uid: Option<&str>) -> Structure {
    Structure(Form::V006(Structure006 {
        version: Version::V006.as_str(),
        app_id: t.app_id().to_owned(),
        channel_name: channel.filter(|c| t.channel_matches(c)).map(str::to_owned),
        uid: uid.filter(|u| t.uid_matches(u)).map(str::to_owned),
        salt: t.salt(),
        ts: t.ts(),
        privileges: t.privileges().clone(),
        crc_channel_name: t.crc_channel_name(),
        crc_uid: t.crc_uid(),
    }))
}

/// The structure of any token, in the form [`read`] reads (`channel`/`uid`: a 006 token's
/// identity, see [`describe_006`]).
pub fn describe(token: &Token, channel: Option<&str>, uid: Option<&str>) -> Structure {
    match token {
        Token::V007(t) => describe_007(t.structure()),
        Token::V006(t) => describe_006(t, channel, uid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = r#""app_id": "a", "issue_ts": 1, "expire": 1, "salt": 1"#;

    fn err_007(json: &str) -> String {
        read_007(json).unwrap_err().to_string()
    }

    #[test]
    fn privilege_ids_are_plain_digits() {
        let err = err_007(&format!(r#"{{{HEAD}, "services": [{{"type": 1, "privileges": {{"1": 5, "+1": 6}}}}]}}"#));
        assert_eq!(err, "services[0].privileges.+1: privilege ids are numbers 0..=65535");
        assert!(read_007(&format!(r#"{{{HEAD}, "services": [{{"type": 77, "remaining_hex": "+f"}}]}}"#)).is_err());
        let err = err_007(&format!(r#"{{{HEAD}, "services": [{{"type": 1, "privileges": [[1, 5], [2]]}}]}}"#));
        assert_eq!(err, "services[0].privileges[1]: must be [id, value]");
        let err = err_007(&format!(r#"{{{HEAD}, "services": [{{"type": 1, "privileges": [[70000, 5]]}}]}}"#));
        assert_eq!(err, "services[0].privileges[0][0]: privilege ids are numbers 0..=65535");
    }

    #[test]
    fn numbers_out_of_range_name_the_field() {
        let err = err_007(r#"{"app_id": "a", "issue_ts": 4294967296, "expire": 1, "salt": 1}"#);
        assert!(err.starts_with("issue_ts: 4294967296 does not fit"), "{err}");
        let err = err_007(r#"{"app_id": "a", "issue_ts": 1, "expire": -1, "salt": 1}"#);
        assert!(err.starts_with("expire: -1 is negative"), "{err}");
        let err = err_007(r#"{"app_id": "a", "issue_ts": "soon", "expire": 1, "salt": 1}"#);
        assert_eq!(err, "issue_ts: must be a whole number 0..=4294967295, not string \"soon\"");
    }

    #[test]
    fn fields_the_format_does_not_have_are_refused_by_path() {
        let err = err_007(&format!(r#"{{{HEAD}, "expires": 5}}"#));
        assert!(err.starts_with("expires: not a field of this structure (expected "), "{err}");
        let err =
            err_007(&format!(r#"{{{HEAD}, "services": [{{"name": "rtm", "user_id": "u", "channel_name": "c"}}]}}"#));
        assert_eq!(err, "services[0].channel_name: rtm service has no such field (its fields: user_id)");
        let err = err_007(&format!(r#"{{{HEAD}, "services": [{{"name": "fpa", "uid": 1}}]}}"#));
        assert_eq!(err, "services[0].uid: fpa service has no such field (its fields: only privileges)");
        let err = err_006(r#"{"app_id": "a", "channel_name": "c", "uid": 1, "salt": 1, "ts": 1, "services": []}"#);
        assert!(err.starts_with("services: not a field of this structure"), "{err}");
    }

    fn err_006(json: &str) -> String {
        read_006(json).unwrap_err().to_string()
    }

    #[test]
    fn a_name_must_agree_with_the_type() {
        let err = err_007(&format!(r#"{{{HEAD}, "services": [{{"type": 1, "name": "rtm"}}]}}"#));
        assert_eq!(err, "services[0].name: names the rtm service, but type 1 is rtc");
        let err = err_007(&format!(r#"{{{HEAD}, "services": [{{"service": "video"}}]}}"#));
        assert_eq!(err, "services[0].service: unknown service name");
        let err = err_007(&format!(r#"{{{HEAD}, "services": [{{"privileges": {{}}}}]}}"#));
        assert_eq!(err, "services[0].type: missing");
        // The raw calls' spelling and inspect's "unknown" for a type we do not know.
        let t = read_007(&format!(r#"{{{HEAD}, "services": [{{"service": "RTC", "type": 1, "uid": 0}}]}}"#)).unwrap();
        assert_eq!(t.services, [Service::empty(ServiceType::Rtc)]);
        let t = read_007(&format!(r#"{{{HEAD}, "services": [{{"type": 99, "name": "unknown"}}]}}"#)).unwrap();
        assert_eq!(t.services, [Service::Unknown { service_type: 99, remaining: vec![], declared_services: 1 }]);
    }

    #[test]
    fn missing_and_wrong_top_level_fields() {
        assert_eq!(err_007(r#"{"issue_ts": 1, "expire": 1, "salt": 1}"#), "app_id: missing");
        assert_eq!(err_007("[1]"), "spec: must be a JSON object, not a list");
        assert!(err_007("{").starts_with("spec: not valid JSON: EOF"), "{}", err_007("{"));
        assert_eq!(err_007(r#"{"version": 7}"#), "version: must be \"006\" or \"007\"");
        let err = err_006(r#"{"app_id": "a", "uid": 1, "salt": 1, "ts": 1}"#);
        assert!(err.starts_with("channel_name: missing (a 006 token carries only its CRC-32"), "{err}");
        let err = err_006(r#"{"app_id": "a", "channel_name": "c", "uid": 1, "salt": 1, "ts": 1, "crc_uid": 5}"#);
        assert_eq!(err, "crc_uid: does not match the CRC-32 of the given value");
        let spec = read(r#"{"version": "006", "app_id": "a", "channel_name": "c", "uid": 0, "salt": 1, "ts": 1}"#);
        assert!(matches!(spec, Ok(Spec { structure: BuiltToken::V006(t), app_certificate: None }) if t.uid.is_empty()));
        assert_eq!(build(&format!("{{{HEAD}}}")).unwrap_err().to_string(), "app_certificate: missing");
    }

    #[test]
    fn the_written_form_reads_back() {
        let mut t = AccessToken2 { app_id: "a".into(), issued_at: 1, expire: 2, salt: 3, services: vec![] };
        let mut rtm2 = Service::empty(ServiceType::Rtm2);
        if let Service::Rtm2 { user_id, permissions, .. } = &mut rtm2 {
            *user_id = "u".into();
            permissions.add_entry("stream_channels:read:chan-*").unwrap();
        }
        t.services = vec![rtm2, Service::Unknown { service_type: 40, remaining: vec![1, 2], declared_services: 2 }];
        let text = serde_json::to_string(&describe_007(&t)).unwrap();
        assert_eq!(read_007(&text).unwrap(), t);
        assert!(text.contains(r#""permissions":{"1":{"0":["chan-*"]}}"#), "{text}");
    }
}
