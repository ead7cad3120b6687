//! Reading a JSON object into a serde-derived struct as Go's `encoding/json` reads it into a Go
//! struct: the bodies of the compatibility routes, whose originals are Go servers and whose
//! clients rely on Go's reading (`channelName` and `ChannelName` both reach the field).
//!
//! What [`from_entries`] / [`from_map`] do that `serde_json::from_value` does not:
//!
//! - a key reaches the field whose name it matches in any ASCII case; when several spellings of
//!   one field are given, the exact spelling counts, else the first (a field typed [`Every`]
//!   receives every one, in body order);
//! - `null` is as if the key were absent (Go leaves the field as it was), so `#[serde(default)]`
//!   applies; keys of no field are ignored;
//! - every error names the field as the client spelled it, with its object's path
//!   (`serviceRtc.role`; the object by its own name): [`FieldError`].
//!
//! Go decodes every spelling of a key, so each must be valid; a handler that applies rules to
//! values reads each spelling on its own too, from [`single_spelling_variants`].

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::StrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use smallvec::SmallVec;

use crate::body::{kind, whole_number};
pub(crate) use crate::error::FieldError;

/// Reads `T` from the keys and values of a JSON object, in body order (duplicates kept).
pub(crate) fn from_entries<'a, T: DeserializeOwned>(
    entries: impl IntoIterator<Item = (&'a str, &'a Value)>,
) -> Result<T, FieldError> {
    T::deserialize(Object { entries: entries.into_iter().collect(), path: String::new() })
}

/// Reads `T` from a JSON object.
pub(crate) fn from_map<T: DeserializeOwned>(map: &Map<String, Value>) -> Result<T, FieldError> {
    from_entries(map.iter().map(|(k, v)| (k.as_str(), v)))
}

/// Reads `T` from `value`, the object given as `spelled` for the field `name` (errors inside it
/// are named `name.key`).
pub(crate) fn from_value_at<T: DeserializeOwned>(value: &Value, spelled: &str, name: &str) -> Result<T, FieldError> {
    T::deserialize(Field { value, path: spelled.to_owned(), inner: name.to_owned() })
}

/// Why [`ordered_object`] failed: the JSON error and, when it is in a value, that value's key.
#[derive(Debug)]
pub(crate) struct ObjectError {
    /// The key whose value is not valid JSON, if the error is in a value.
    pub(crate) key: Option<String>,
    /// The JSON error (with its line and column).
    pub(crate) error: serde_json::Error,
}

/// The keys and values of the first JSON value of `bytes`, which must be an object (`expecting`
/// says what it should be), in body order with duplicate keys kept; like Go's `json.Decoder`,
/// what follows the first value is not read.
pub(crate) fn ordered_object(bytes: &[u8], expecting: &'static str) -> Result<Vec<(String, Value)>, ObjectError> {
    struct Entries<'k> {
        expecting: &'static str,
        /// The key whose value is being read, for the error.
        key: &'k mut Option<String>,
    }
    impl<'de> Visitor<'de> for Entries<'_> {
        type Value = Vec<(String, Value)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                *self.key = Some(key);
                let value = map.next_value::<Value>()?;
                entries.push((self.key.take().unwrap_or_default(), value));
            }
            Ok(entries)
        }
    }
    let mut key = None;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.deserialize_map(Entries { expecting, key: &mut key }).map_err(|error| ObjectError { key, error })
}

/// Go decodes every spelling of a key (the last one in the body counts), so each must be valid.
/// These are the copies of `body` that keep one spelling of a key given in several (in `body`
/// or an object in it), one copy per spelling; a request is served only when every copy would
/// be. (The copies are few: one per spelling of a repeated key.)
pub(crate) fn single_spelling_variants(body: &Map<String, Value>) -> Vec<Map<String, Value>> {
    let mut variants = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for key in body.keys() {
        let folded = key.to_ascii_lowercase();
        if seen.contains(&folded) {
            continue;
        }
        seen.push(folded);
        let spellings: Vec<&String> =
            body.iter().filter(|(k, v)| k.eq_ignore_ascii_case(key) && !v.is_null()).map(|(k, _)| k).collect();
        if spellings.len() > 1 {
            for keep in &spellings {
                let mut copy = body.clone();
                copy.retain(|k, _| !k.eq_ignore_ascii_case(key) || k == *keep);
                variants.push(copy);
            }
        }
    }
    for (key, value) in body {
        if let Value::Object(inner) = value {
            for inner_variant in single_spelling_variants(inner) {
                let mut copy = body.clone();
                copy.insert(key.clone(), Value::Object(inner_variant));
                variants.push(copy);
            }
        }
    }
    variants
}

/// A value with the field it was read from, as the client spelled it (`serviceRtc.role`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spelled<T> {
    /// The field, with its object's path (borrowed when it is a name known in advance, e.g.
    /// `/fetch_rtc_token`'s `uid` as most clients spell it: nothing allocated per request).
    pub(crate) field: Cow<'static, str>,
    /// The value.
    pub(crate) value: T,
}

/// Every value given for a field (one per spelling or repetition of its key), in body order;
/// the one value of a body that gives its key once is kept inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Every<T>(pub(crate) SmallVec<[Spelled<T>; 1]>);

impl<T> Default for Every<T> {
    fn default() -> Self {
        Every(SmallVec::new())
    }
}

/// The names by which [`Spelled`] and [`Every`] ask this module's deserializers for what plain
/// serde cannot express (the key's spelling; every value of a key); elsewhere they fail.
const SPELLED: &str = "$go::Spelled";
const EVERY: &str = "$go::Every";

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spelled<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Spelled<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field read by body::go")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Spelled<T>, A::Error> {
                let field = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let value = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
                Ok(Spelled { field, value })
            }
        }
        d.deserialize_tuple_struct(SPELLED, 2, V(PhantomData))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Every<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Every<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field read by body::go")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Every<T>, A::Error> {
                let mut all = SmallVec::new();
                while let Some(one) = seq.next_element()? {
                    all.push(one);
                }
                Ok(Every(all))
            }
        }
        d.deserialize_newtype_struct(EVERY, V(PhantomData))
    }
}

/// A `true`/`false` field whose type is checked where the handler reads it ([`LateBool::is_on`])
/// rather than with the rest of the body: the generator's originals read their switches after
/// other rules, and which error a request with several gets first stays theirs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub(crate) struct LateBool(Option<Spelled<Value>>);

impl LateBool {
    /// The switch (absent: off), or the error naming it.
    pub(crate) fn is_on(&self) -> Result<bool, FieldError> {
        match &self.0 {
            None => Ok(false),
            Some(Spelled { value: Value::Bool(on), .. }) => Ok(*on),
            Some(Spelled { field, value }) => {
                Err(FieldError::new(field.clone(), format!("must be true or false, not {}", kind(value))))
            }
        }
    }
}

// ---- Lenient field readers (`#[serde(deserialize_with = "…")]`), with the originals' rules ---

/// A string.
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        other => Err(de::Error::custom(format_args!("must be a string, not {}", kind(&other)))),
    }
}

/// A whole number `0..=4294967295`.
pub(crate) fn whole_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    whole_number(&Value::deserialize(d)?, u64::from(u32::MAX)).map_err(de::Error::custom)
}

/// A string, or a whole number read as its digits.
pub(crate) fn string_or_digits<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) if n.is_u64() => Ok(n.to_string()),
        other => Err(de::Error::custom(format_args!("must be a string or a whole number, not {}", kind(&other)))),
    }
}

// ---- The deserializers -------------------------------------------------------------------------

/// A path joined with a key: `key` at the top, `path.key` below.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The keys and values of one object, read as Go reads them into a struct.
struct Object<'a> {
    entries: Vec<(&'a str, &'a Value)>,
    /// The object's path (empty at the top).
    path: String,
}

impl<'a> Object<'a> {
    /// Each field of `fields` that is given (not `null`), with every spelling of it, in body order.
    fn fields(&self, fields: &'static [&'static str]) -> Vec<(&'static str, Vec<Field<'a>>)> {
        let given = fields.iter().filter_map(|&name| {
            let spellings: Vec<Field<'a>> = self
                .entries
                .iter()
                .filter(|(key, value)| key.eq_ignore_ascii_case(name) && !value.is_null())
                .map(|&(key, value)| Field { value, path: join(&self.path, key), inner: join(&self.path, name) })
                .collect();
            (!spellings.is_empty()).then_some((name, spellings))
        });
        given.collect()
    }

    /// The spelling that counts: the exact one, else the first.
    fn counted<'f>(name: &str, spellings: &'f [Field<'a>]) -> &'f Field<'a> {
        let exact = |f: &&Field<'_>| f.path.rsplit('.').next() == Some(name);
        spellings.iter().find(exact).unwrap_or(&spellings[0])
    }
}

impl<'de> Deserializer<'de> for Object<'de> {
    type Error = FieldError;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        let given = self.fields(fields);
        visitor.visit_map(StructAccess { fields: given.into_iter(), pending: None })
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, FieldError> {
        Err(de::Error::custom("body::go reads objects into structs only"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// The fields of a struct, one key each, with the value of the spelling that counts (or of
/// every spelling, for an [`Every`] field).
struct StructAccess<'a> {
    fields: std::vec::IntoIter<(&'static str, Vec<Field<'a>>)>,
    pending: Option<(&'static str, Vec<Field<'a>>)>,
}

impl<'de> MapAccess<'de> for StructAccess<'de> {
    type Error = FieldError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, FieldError> {
        let Some((name, spellings)) = self.fields.next() else { return Ok(None) };
        self.pending = Some((name, spellings));
        seed.deserialize(StrDeserializer::<FieldError>::new(name)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, FieldError> {
        let (name, spellings) = self.pending.take().expect("next_key_seed before next_value_seed");
        let counted = Object::counted(name, &spellings).path.clone();
        seed.deserialize(Spellings { name, spellings }).map_err(|e| e.or_at(counted))
    }
}

/// Every spelling of one field: as [`Every`], all of them; as anything else, the one that counts.
struct Spellings<'a> {
    name: &'static str,
    spellings: Vec<Field<'a>>,
}

impl<'de> Deserializer<'de> for Spellings<'de> {
    type Error = FieldError;

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        if name == EVERY {
            return visitor.visit_seq(FieldSeq(self.spellings.into_iter()));
        }
        let counted = Object::counted(self.name, &self.spellings).clone();
        counted.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        Object::counted(self.name, &self.spellings).clone().deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        Object::counted(self.name, &self.spellings).clone().deserialize_option(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        Object::counted(self.name, &self.spellings).clone().deserialize_struct(name, fields, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        Object::counted(self.name, &self.spellings).clone().deserialize_tuple_struct(name, len, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple map enum identifier ignored_any
    }
}

/// The spellings of an [`Every`] field, each read on its own.
struct FieldSeq<'a>(std::vec::IntoIter<Field<'a>>);

impl<'de> SeqAccess<'de> for FieldSeq<'de> {
    type Error = FieldError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, FieldError> {
        let Some(field) = self.0.next() else { return Ok(None) };
        let path = field.path.clone();
        seed.deserialize(field).map(Some).map_err(|e| e.or_at(path))
    }
}

/// One value at `path`.
#[derive(Clone)]
struct Field<'a> {
    value: &'a Value,
    /// The field as the client spelled it, for its own errors.
    path: String,
    /// The path of the keys inside it: the field's own name where the client spelled it
    /// otherwise (`serviceRtc.role` for `SERVICERTC.role`), as the routes have always named them.
    inner: String,
}

impl<'de> Deserializer<'de> for Field<'de> {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        self.value.deserialize_any(visitor).map_err(|e| FieldError::new(self.path, e.to_string()))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        if self.value.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        let Value::Object(map) = self.value else {
            return Err(FieldError::new(self.path, format!("must be an object, not {}", kind(self.value))));
        };
        let entries = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
        Object { entries, path: self.inner }.deserialize_struct(name, fields, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        if name == SPELLED {
            let field = self.path.clone();
            return visitor.visit_seq(SpelledSeq { field: Some(field), value: Some(self) });
        }
        self.value.deserialize_tuple_struct(name, len, visitor).map_err(|e| FieldError::new(self.path, e.to_string()))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple map enum identifier ignored_any
    }
}

/// A [`Spelled`] value: its field's name, then the value.
struct SpelledSeq<'a> {
    field: Option<String>,
    value: Option<Field<'a>>,
}

impl<'de> SeqAccess<'de> for SpelledSeq<'de> {
    type Error = FieldError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, FieldError> {
        if let Some(field) = self.field.take() {
            return seed.deserialize(IntoDeserializer::<FieldError>::into_deserializer(field)).map(Some);
        }
        match self.value.take() {
            Some(value) => seed.deserialize(value).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, rename_all = "camelCase")]
    struct Inner {
        #[serde(deserialize_with = "whole_u32")]
        role: u64,
        #[serde(deserialize_with = "string")]
        name: String,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, rename_all = "camelCase")]
    struct Body {
        #[serde(deserialize_with = "string")]
        channel_name: String,
        #[serde(deserialize_with = "string_or_digits")]
        uid: String,
        service_rtc: Inner,
    }

    fn read(value: Value) -> Result<Body, FieldError> {
        from_map(value.as_object().unwrap())
    }

    #[test]
    fn keys_match_in_any_case_and_the_exact_spelling_wins() {
        let body = read(json!({"CHANNELNAME": "a", "UID": 7, "ServiceRTC": {"ROLE": 2, "Name": "n"}})).unwrap();
        assert_eq!(body.channel_name, "a");
        assert_eq!(body.uid, "7");
        assert_eq!(body.service_rtc, Inner { role: 2, name: "n".to_owned() });
        // The exact spelling counts whatever the order; without it, the first in the object.
        assert_eq!(read(json!({"ChannelName": "other", "channelName": "exact"})).unwrap().channel_name, "exact");
        assert_eq!(read(json!({"channelName": "exact", "ChannelName": "other"})).unwrap().channel_name, "exact");
        let entries = [("CHANNELNAME", &json!("first")), ("ChannelName", &json!("second"))];
        assert_eq!(from_entries::<Body>(entries).unwrap().channel_name, "first");
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Late {
        enable: LateBool,
    }

    #[test]
    fn a_late_bool_is_checked_when_read() {
        let read = |v: Value| from_map::<Late>(v.as_object().unwrap()).unwrap().enable.is_on();
        assert_eq!(read(json!({})), Ok(false));
        assert_eq!(read(json!({"ENABLE": true})), Ok(true));
        let err = read(json!({"Enable": "yes"})).unwrap_err();
        assert_eq!(err.to_string(), "Enable: must be true or false, not a string");
    }

    #[test]
    fn unknown_keys_are_ignored_and_null_is_absent() {
        let body = read(json!({"channelName": null, "uid": null, "extra": [1, {"a": 2}], "serviceRtc": null}));
        assert_eq!(body.unwrap(), Body::default());
        // null does not hide a value given by another spelling.
        assert_eq!(read(json!({"channelName": null, "ChannelName": "a"})).unwrap().channel_name, "a");
    }

    #[test]
    fn errors_name_the_field_as_the_client_spelled_it() {
        let err = read(json!({"ChannelNAME": 5})).unwrap_err();
        assert_eq!(err.to_string(), "ChannelNAME: must be a string, not an integer");
        // Inside an object, the object is named by its own name (as the routes always did).
        let err = read(json!({"serviceRTC": {"Role": 2.5}})).unwrap_err();
        assert_eq!(err.to_string(), "serviceRtc.Role: must be a whole number 0..=4294967295, not 2.5");
        let err = read(json!({"serviceRTC": 1})).unwrap_err();
        assert_eq!(err.to_string(), "serviceRTC: must be an object, not an integer");
        let err = read(json!({"serviceRtc": {"role": 4294967296_u64}})).unwrap_err();
        assert_eq!(err.to_string(), "serviceRtc.role: 4294967296 is out of range 0..=4294967295");
        let err = read(json!({"serviceRtc": [true]})).unwrap_err();
        assert_eq!(err.to_string(), "serviceRtc: must be an object, not an array");
        let err = read(json!({"uid": -1})).unwrap_err();
        assert_eq!(
            (err.field.as_deref(), err.problem.as_str()),
            (Some("uid"), "must be a string or a whole number, not an integer")
        );
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Repeated {
        role: Every<u32>,
        #[serde(rename = "ChannelName")]
        channel: Every<String>,
    }

    #[test]
    fn every_collects_each_spelling_and_repetition_in_body_order() {
        let (a, b, c, n) = (json!(1), json!(2), json!("x"), Value::Null);
        let entries = [("role", &a), ("ROLE", &b), ("channelname", &c), ("role", &n), ("role", &b)];
        let read: Repeated = from_entries(entries).unwrap();
        let roles: Vec<(&str, u32)> = read.role.0.iter().map(|s| (&*s.field, s.value)).collect();
        assert_eq!(roles, [("role", 1), ("ROLE", 2), ("role", 2)]);
        assert_eq!(read.channel.0[..], [Spelled { field: "channelname".into(), value: "x".to_owned() }]);
        // A wrong type in any of them is named as spelled.
        let bad = json!("seven");
        let err = from_entries::<Repeated>([("role", &a), ("Role", &bad)]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("Role"));
        assert!(err.problem.starts_with("invalid type: string \"seven\""), "{err}");
    }

    #[test]
    fn variants_keep_one_spelling_each_also_inside_objects() {
        let body = json!({"uid": "1", "UID": 2, "serviceRtc": {"role": 1, "Role": 2}, "channelName": "c"});
        let variants = single_spelling_variants(body.as_object().unwrap());
        assert_eq!(variants.len(), 4);
        for v in &variants {
            let uids = v.keys().filter(|k| k.eq_ignore_ascii_case("uid")).count();
            let roles = v["serviceRtc"].as_object().unwrap().len();
            assert!(uids == 1 || roles == 1, "{v:?}");
            assert_eq!(v["channelName"], "c");
        }
        let single = json!({"uid": "1", "serviceRtc": {"role": 1}});
        assert!(single_spelling_variants(single.as_object().unwrap()).is_empty());
    }

    #[test]
    fn ordered_object_keeps_duplicates_and_ignores_what_follows() {
        let entries = ordered_object(br#"{"a": 1, "A": 2, "a": 3} trailing"#, "an object").unwrap();
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "A", "a"]);
        let err = ordered_object(b"[1]", "an object").unwrap_err();
        assert!(err.key.is_none() && err.error.to_string().contains("expected an object"), "{err:?}");
        let err = ordered_object(br#"{"a": 1, "Role": tru}"#, "an object").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("Role"), "{err:?}");
    }
}
