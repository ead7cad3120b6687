//! The JSON form of a token's structure, shared by the CLI (`inspect --json`, `build --spec`)
//! and the server's v1 API, so that `agtoken inspect --json T | agtoken build --spec -`
//! round-trips.
//!
//! 007: `{"version": "007", "app_id", "issue_ts", "expire", "salt", "services": [{"type", "name",
//! <fields>, "privileges": {"<id>": value}}]}`. 006: `{"version": "006", "app_id", "channel_name",
//! "uid", "salt", "ts", "privileges", "crc_channel_name", "crc_uid"}`. Building from a spec
//! encodes whatever the format allows: no Agora-rule validation here.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::ids::AppCertificate;
use crate::v006::{crc32, AccessToken006, ParsedAccessToken006};
use crate::v007::{AccessToken2, Privileges, Rtm2Permissions, Service, ServiceType};
use crate::verify::Token;

fn invalid(path: impl Into<String>, rule: &str) -> Error {
    Error::InvalidSpec { path: path.into(), rule: rule.to_owned() }
}

/// A JSON object being read, with the path that names it in errors.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn new(value: &'a Value, path: impl Into<String>) -> Result<Self> {
        let path = path.into();
        let map = value.as_object().ok_or_else(|| invalid(&path, "must be a JSON object"))?;
        Ok(Obj { map, path })
    }

    fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn u32(&self, key: &str) -> Result<u32> {
        match self.get(key) {
            None => Err(Error::Missing { field: self.at(key) }),
            Some(v) => number_u32(v, &self.at(key)),
        }
    }

    /// A string; numbers are accepted and written in decimal (uids are often numbers).
    fn text(&self, key: &str) -> Result<String> {
        match self.get(key) {
            None => Err(Error::Missing { field: self.at(key) }),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) if n.is_u64() => Ok(n.to_string()),
            Some(_) => Err(invalid(self.at(key), "must be a string")),
        }
    }

    fn text_or_empty(&self, key: &str) -> Result<String> {
        if self.get(key).is_none() {
            return Ok(String::new());
        }
        self.text(key)
    }
}

fn number_u32(v: &Value, path: &str) -> Result<u32> {
    let n = v.as_u64().ok_or_else(|| match v.as_i64() {
        Some(neg) => invalid(path, &format!("{neg} is negative; must be 0..=4294967295")),
        None => invalid(path, "must be a whole number 0..=4294967295"),
    })?;
    u32::try_from(n)
        .map_err(|_| invalid(path, &format!("{n} does not fit an unsigned 32-bit field (at most 4294967295)")))
}

fn privileges_from(obj: &Obj<'_>) -> Result<Privileges> {
    let mut out = Privileges::new();
    let Some(value) = obj.get("privileges") else { return Ok(out) };
    let path = obj.at("privileges");
    match value {
        // {"1": 600}
        Value::Object(map) => {
            for (key, v) in map {
                let id = small_number(key)
                    .ok_or_else(|| invalid(format!("{path}.{key}"), "privilege ids are numbers 0..=65535"))?;
                out.insert(id, number_u32(v, &format!("{path}.{key}"))?);
            }
        }
        // [[1, 600], …] as the reference's raw calls list them: a later id replaces an earlier one.
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                let pair =
                    item.as_array().filter(|a| a.len() == 2).ok_or_else(|| invalid(&p, "must be [id, value]"))?;
                let id = number_u32(&pair[0], &p)?;
                let id = u16::try_from(id).map_err(|_| invalid(&p, "privilege ids are numbers 0..=65535"))?;
                out.insert(id, number_u32(&pair[1], &p)?);
            }
        }
        _ => return Err(invalid(path, "must be an object {\"<id>\": value}")),
    }
    Ok(out)
}

fn permissions_from(obj: &Obj<'_>) -> Result<Rtm2Permissions> {
    let mut table = BTreeMap::new();
    let Some(value) = obj.get("permissions") else { return Ok(Rtm2Permissions(table)) };
    let path = obj.at("permissions");
    let code = |k: &str, p: &str| small_number(k).ok_or_else(|| invalid(p, "keys are numbers 0..=65535"));
    // The reference's call form: [{"resource_type", "permission_type", "resources"}], a later
    // entry for the same pair replacing the earlier list.
    if let Value::Array(calls) = value {
        for (i, call) in calls.iter().enumerate() {
            let c = Obj::new(call, format!("{path}[{i}]"))?;
            let small = |key: &str| -> Result<u16> {
                u16::try_from(c.u32(key)?).map_err(|_| invalid(c.at(key), "must be 0..=65535"))
            };
            let list = match c.get("resources") {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| invalid(c.at("resources"), "must be strings")))
                    .collect::<Result<Vec<_>>>()?,
                _ => return Err(invalid(c.at("resources"), "must be a list of strings")),
            };
            table.entry(small("resource_type")?).or_insert_with(BTreeMap::new).insert(small("permission_type")?, list);
        }
        return Ok(Rtm2Permissions(table));
    }
    let map =
        value.as_object().ok_or_else(|| invalid(&path, "must be {\"<resource type>\": {\"<permission>\": [..]}}"))?;
    for (resource, perms) in map {
        let rp = format!("{path}.{resource}");
        let perms = perms.as_object().ok_or_else(|| invalid(&rp, "must be an object"))?;
        let mut inner = BTreeMap::new();
        for (perm, list) in perms {
            let pp = format!("{rp}.{perm}");
            let list = list.as_array().ok_or_else(|| invalid(&pp, "must be a list of strings"))?;
            let list = list
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| invalid(&pp, "must be a list of strings")))
                .collect::<Result<Vec<_>>>()?;
            inner.insert(code(perm, &pp)?, list);
        }
        table.insert(code(resource, &rp)?, inner);
    }
    Ok(Rtm2Permissions(table))
}

fn service_from(value: &Value, path: String) -> Result<Service> {
    let obj = Obj::new(value, path)?;
    let kind = match (obj.get("type"), obj.get("name").or_else(|| obj.get("service")).and_then(Value::as_str)) {
        (Some(t), _) => {
            let code = number_u32(t, &obj.at("type"))?;
            let code = u16::try_from(code).map_err(|_| invalid(obj.at("type"), "service types are 0..=65535"))?;
            match ServiceType::from_code(code) {
                Some(kind) => kind,
                None => {
                    let hex = obj.get("remaining_hex").and_then(Value::as_str).unwrap_or("");
                    let remaining = base16ct::mixed::decode_vec(hex)
                        .map_err(|_| ())
                        .ok()
                        .ok_or_else(|| invalid(obj.at("remaining_hex"), "must be hex"))?;
                    let declared = match obj.get("declared_services") {
                        Some(v) => u16::try_from(number_u32(v, &obj.at("declared_services"))?)
                            .map_err(|_| invalid(obj.at("declared_services"), "at most 65535"))?,
                        None => 1,
                    };
                    return Ok(Service::Unknown { service_type: code, remaining, declared_services: declared });
                }
            }
        }
        (None, Some(name)) => {
            ServiceType::from_name(name).ok_or_else(|| invalid(obj.at("name"), "unknown service name"))?
        }
        (None, None) => return Err(Error::Missing { field: obj.at("type") }),
    };
    let mut service = Service::empty(kind);
    *service.privileges_mut().expect("known service") = privileges_from(&obj)?;
    match &mut service {
        Service::Rtc { channel_name, uid, .. } => {
            *channel_name = obj.text_or_empty("channel_name")?;
            // Accept `uid` (number or string) or `account`, as the reference's raw calls do.
            *uid = match (obj.get("uid"), obj.get("account")) {
                (Some(Value::Number(n)), _) if n.as_u64() == Some(0) => String::new(),
                (Some(_), _) => obj.text("uid")?,
                (None, Some(_)) => obj.text("account")?,
                (None, None) => String::new(),
            };
        }
        Service::Rtm { user_id, .. } | Service::Chat { user_id, .. } => *user_id = obj.text_or_empty("user_id")?,
        Service::Streaming { channel_name, account, .. } | Service::Fcdn { channel_name, account, .. } => {
            *channel_name = obj.text_or_empty("channel_name")?;
            // The reference's raw calls may pass a numeric uid here: 0 packs as "".
            *account = match (obj.get("account"), obj.get("uid")) {
                (Some(_), _) => obj.text("account")?,
                (None, Some(Value::Number(n))) if n.as_u64() == Some(0) => String::new(),
                (None, Some(_)) => obj.text("uid")?,
                (None, None) => String::new(),
            };
        }
        Service::Apaas { room_uuid, user_uuid, role, .. } => {
            *room_uuid = obj.text_or_empty("room_uuid")?;
            *user_uuid = obj.text_or_empty("user_uuid")?;
            *role = match obj.get("role") {
                None => -1,
                Some(v) => {
                    let n = v.as_i64().ok_or_else(|| invalid(obj.at("role"), "must be a number -32768..=65535"))?;
                    // The reference's own parser reads -1 back as 65535: accept both spellings.
                    match n {
                        -32768..=32767 => n as i16,
                        32768..=65535 => n as u16 as i16,
                        _ => return Err(invalid(obj.at("role"), "must be a number -32768..=65535")),
                    }
                }
            };
        }
        Service::Rtm2 { user_id, permissions, .. } => {
            *user_id = obj.text_or_empty("user_id")?;
            *permissions = permissions_from(&obj)?;
        }
        Service::Fpa { .. } | Service::ConvoAi { .. } | Service::Stt { .. } | Service::Unknown { .. } => {}
    }
    Ok(service)
}

/// A JSON object key that is a number 0..=65535, in plain digits only: `"+1"` or `" 1"` would
/// otherwise collide with `"1"`.
fn small_number(key: &str) -> Option<u16> {
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    key.parse().ok()
}

/// Reads a 007 structure.
pub fn access_token2_from_json(value: &Value) -> Result<AccessToken2> {
    let obj = Obj::new(value, "")?;
    let services = match obj.get("services") {
        None => Vec::new(),
        Some(Value::Array(list)) => {
            list.iter().enumerate().map(|(i, s)| service_from(s, format!("services[{i}]"))).collect::<Result<_>>()?
        }
        Some(_) => return Err(invalid("services", "must be a list")),
    };
    Ok(AccessToken2 {
        app_id: obj.text("app_id")?,
        issued_at: obj.u32("issue_ts")?,
        expire: obj.u32("expire")?,
        salt: obj.u32("salt")?,
        services,
    })
}

/// Reads a 006 structure. `crc_channel_name`/`crc_uid`, when present, must match the channel
/// and uid (they are derived, so a mismatch means the spec is inconsistent).
pub fn access_token006_from_json(value: &Value) -> Result<AccessToken006> {
    let obj = Obj::new(value, "")?;
    let channel_name = obj.text("channel_name").map_err(|e| match e {
        Error::Missing { .. } => {
            invalid("channel_name", "missing (a 006 token carries only its CRC-32: give it to inspect with --channel)")
        }
        e => e,
    })?;
    let uid = match obj.get("uid") {
        Some(Value::Number(n)) if n.as_u64() == Some(0) => String::new(),
        Some(_) => obj.text("uid")?,
        None => match obj.get("account") {
            Some(_) => obj.text("account")?,
            None => {
                return Err(invalid(
                    "uid",
                    "missing (a 006 token carries only its CRC-32: give it to inspect with --uid)",
                ))
            }
        },
    };
    for (key, text) in [("crc_channel_name", &channel_name), ("crc_uid", &uid)] {
        if let Some(v) = obj.get(key) {
            if number_u32(v, key)? != crc32(text) {
                return Err(invalid(key, "does not match the CRC-32 of the given value"));
            }
        }
    }
    Ok(AccessToken006 {
        app_id: obj.text("app_id")?,
        channel_name,
        uid,
        salt: obj.u32("salt")?,
        ts: obj.u32("ts")?,
        privileges: privileges_from(&obj)?,
    })
}

/// Builds the token a spec describes: `version` (`"007"` by default), `app_certificate` and
/// the structure fields.
pub fn build_from_json(value: &Value) -> Result<String> {
    let obj = Obj::new(value, "")?;
    let certificate = AppCertificate::unchecked(obj.text("app_certificate")?);
    match obj.get("version").map(|v| v.as_str().unwrap_or("")) {
        None | Some("007") => access_token2_from_json(value)?.encode(&certificate),
        Some("006") => access_token006_from_json(value)?.encode(&certificate),
        Some(_) => Err(invalid("version", "must be \"006\" or \"007\"")),
    }
}

fn privileges_json(p: &Privileges) -> Value {
    Value::Object(p.iter().map(|(k, v)| (k.to_string(), json!(v))).collect())
}

/// The JSON form of one 007 service.
pub fn service_to_json(service: &Service) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(service.type_code()));
    if let Some(kind) = service.service_type() {
        m.insert("name".into(), json!(kind.name()));
    }
    match service {
        Service::Rtc { channel_name, uid, .. } => {
            m.insert("channel_name".into(), json!(channel_name));
            m.insert("uid".into(), json!(uid));
        }
        Service::Rtm { user_id, .. } | Service::Chat { user_id, .. } => {
            m.insert("user_id".into(), json!(user_id));
        }
        Service::Streaming { channel_name, account, .. } | Service::Fcdn { channel_name, account, .. } => {
            m.insert("channel_name".into(), json!(channel_name));
            m.insert("account".into(), json!(account));
        }
        Service::Apaas { room_uuid, user_uuid, role, .. } => {
            m.insert("room_uuid".into(), json!(room_uuid));
            m.insert("user_uuid".into(), json!(user_uuid));
            m.insert("role".into(), json!(role));
        }
        Service::Rtm2 { user_id, permissions, .. } => {
            m.insert("user_id".into(), json!(user_id));
            let table: Map<String, Value> = permissions
                .0
                .iter()
                .map(|(r, perms)| {
                    let inner: Map<String, Value> =
                        perms.iter().map(|(p, list)| (p.to_string(), json!(list))).collect();
                    (r.to_string(), Value::Object(inner))
                })
                .collect();
            m.insert("permissions".into(), Value::Object(table));
        }
        Service::Unknown { remaining, declared_services, .. } => {
            m.insert("name".into(), json!("unknown"));
            m.insert("remaining_hex".into(), json!(base16ct::lower::encode_string(remaining)));
            m.insert("declared_services".into(), json!(declared_services));
            return Value::Object(m);
        }
        Service::Fpa { .. } | Service::ConvoAi { .. } | Service::Stt { .. } => {}
    }
    m.insert("privileges".into(), privileges_json(service.privileges()));
    Value::Object(m)
}

/// The JSON form of a 007 structure (services in packed order).
pub fn access_token2_to_json(t: &AccessToken2) -> Value {
    json!({
        "app_id": t.app_id,
        "issue_ts": t.issued_at,
        "expire": t.expire,
        "salt": t.salt,
        "services": t.packed_services().into_iter().map(service_to_json).collect::<Vec<_>>(),
    })
}

/// The JSON form of a parsed 006 token; `channel_name`/`uid` are filled in when given and
/// their CRC matches, `null` otherwise.
pub fn access_token006_to_json(t: &ParsedAccessToken006, channel: Option<&str>, uid: Option<&str>) -> Value {
    json!({
        "app_id": t.app_id(),
        "channel_name": channel.filter(|c| t.channel_matches(c)),
        "uid": uid.filter(|u| t.uid_matches(u)),
        "salt": t.salt(),
        "ts": t.ts(),
        "privileges": privileges_json(t.privileges()),
        "crc_channel_name": t.crc_channel_name(),
        "crc_uid": t.crc_uid(),
    })
}

/// The structure of any token, with `"version"`, in the form [`build_from_json`] reads.
pub fn token_to_json(token: &Token, channel: Option<&str>, uid: Option<&str>) -> Value {
    let mut v = match token {
        Token::V007(t) => access_token2_to_json(t.structure()),
        Token::V006(t) => access_token006_to_json(t, channel, uid),
    };
    v.as_object_mut().expect("an object").insert("version".into(), json!(token.version().as_str()));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privilege_ids_are_plain_digits() {
        let spec = json!({"app_id": "a", "issue_ts": 1, "expire": 1, "salt": 1,
            "services": [{"type": 1, "privileges": {"1": 5, "+1": 6}}]});
        let err = access_token2_from_json(&spec).unwrap_err();
        assert_eq!(err.to_string(), "services[0].privileges.+1: privilege ids are numbers 0..=65535");
        let spec = json!({"app_id": "a", "issue_ts": 1, "expire": 1, "salt": 1,
            "services": [{"type": 77, "remaining_hex": "+f"}]});
        assert!(access_token2_from_json(&spec).is_err());
    }

    #[test]
    fn numbers_out_of_range_name_the_field() {
        let spec = json!({"app_id": "a", "issue_ts": 4294967296u64, "expire": 1, "salt": 1});
        let err = access_token2_from_json(&spec).unwrap_err().to_string();
        assert!(err.starts_with("issue_ts: 4294967296 does not fit"), "{err}");
        let spec = json!({"app_id": "a", "issue_ts": 1, "expire": -1, "salt": 1});
        assert!(access_token2_from_json(&spec).unwrap_err().to_string().starts_with("expire: -1 is negative"));
    }
}
