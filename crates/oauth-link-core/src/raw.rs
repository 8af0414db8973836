//! The platform's own record behind a [`Connection`](crate::Connection), kept as JSON text.
//!
//! A [`RawRecord`] holds the record's text, copied from the response with secret-looking
//! fields removed (rule 3 of the [redaction policy](crate::secret)); it is parsed only when
//! someone reads it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::secret::{has_secret_key, remove_secret_fields};

/// The platform's record for a connection, as JSON text (the platform's own bytes, or
/// compact JSON when secret-looking fields had to be removed), or nothing (`null`).
///
/// Read it with [`to_value`](Self::to_value), [`get`](Self::get) or
/// [`deserialize`](Self::deserialize); [`as_str`](Self::as_str) gives the text itself.
/// It serializes as the JSON value it holds (with any serializer), and compares by value.
#[derive(Clone, Default)]
pub struct RawRecord(Option<Box<RawValue>>);

impl RawRecord {
    /// No record (`null`).
    pub const fn none() -> Self {
        Self(None)
    }

    /// True when there is no record.
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    /// Keeps `record` as it is. Use [`scrubbed`](Self::scrubbed) when it may hold secrets.
    pub fn verbatim(record: &RawValue) -> Self {
        Self::from(record.to_owned())
    }

    /// Keeps `record` minus every field, at any depth, whose name `is_secret` accepts: as it
    /// is when there is none, else parsed, cleaned and re-encoded.
    pub fn scrubbed(record: &RawValue, is_secret: impl Fn(&str) -> bool) -> Self {
        if !has_secret_key(record.get(), &is_secret) {
            return Self::verbatim(record);
        }
        let mut value: Value = serde_json::from_str(record.get()).unwrap_or(Value::Null);
        remove_secret_fields(&mut value, &is_secret);
        Self::from_value(&value)
    }

    /// Keeps a record already read by [`scan_record`]: as it is when the scan found no
    /// secret-looking key, else minus those fields (parsed, cleaned, re-encoded).
    pub fn from_scan<const N: usize>(scan: &RecordScan<'_, N>, is_secret: impl Fn(&str) -> bool) -> Self {
        if scan.has_secret {
            Self::scrubbed(scan.record, is_secret)
        } else {
            Self::verbatim(scan.record)
        }
    }

    /// A record from a value (the caller has removed any secret from it).
    pub fn from_value(value: &Value) -> Self {
        match value {
            Value::Null => Self(None),
            value => Self(serde_json::value::to_raw_value(value).ok()),
        }
    }

    /// The record's JSON text, when there is one.
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref().map(RawValue::get)
    }

    /// The record parsed (`Value::Null` when there is none).
    pub fn to_value(&self) -> Value {
        self.as_str().and_then(|text| serde_json::from_str(text).ok()).unwrap_or(Value::Null)
    }

    /// One top-level field of the record, parsed.
    pub fn get(&self, field: &str) -> Option<Value> {
        match self.to_value() {
            Value::Object(mut map) => map.remove(field),
            _ => None,
        }
    }

    /// The record read as `T` (from `null` when there is none).
    pub fn deserialize<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(self.as_str().unwrap_or("null"))
    }
}

impl From<Box<RawValue>> for RawRecord {
    /// Keeps the record as it is, without copying it (`null` is no record).
    fn from(record: Box<RawValue>) -> Self {
        Self((record.get() != "null").then_some(record))
    }
}

impl From<Value> for RawRecord {
    fn from(value: Value) -> Self {
        Self::from_value(&value)
    }
}

impl fmt::Display for RawRecord {
    /// The JSON text (`null` when there is none). Secret fields were removed on the way in.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str().unwrap_or("null"))
    }
}

impl fmt::Debug for RawRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawRecord({self})")
    }
}

impl PartialEq for RawRecord {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.to_value() == other.to_value()
    }
}

impl Serialize for RawRecord {
    /// As the JSON value it holds. The text is parsed here, so any serializer (YAML,
    /// snapshot tools) sees ordinary maps and lists.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(|value| Self::from_value(&value))
    }
}

/// What one pass over a record found: the top-level fields asked for and whether any key
/// is secret-looking. See [`scan_record`].
#[derive(Debug, Clone, Copy)]
pub struct RecordScan<'a, const N: usize> {
    /// The record scanned.
    pub record: &'a RawValue,
    /// The raw value of each wanted field, in the order asked (the last one when repeated).
    pub fields: [Option<&'a RawValue>; N],
    /// Whether a key at any depth is one `is_secret` accepts.
    pub has_secret: bool,
}

/// A key of a record, borrowed from its text unless it holds an escape (then unescaped).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key<'a>(Cow<'a, str>);

impl std::borrow::Borrow<str> for Key<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyText;
        impl<'de> serde::de::Visitor<'de> for KeyText {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(text.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyText)
    }
}

/// Reads a record: the top-level fields named in `wanted`, borrowed as raw JSON (parse the
/// small ones you need), and whether any key at any depth is secret-looking. `None` when
/// the record is not a JSON object.
pub fn scan_record<'a, const N: usize>(
    record: &'a RawValue,
    wanted: [&str; N],
    is_secret: impl Fn(&str) -> bool,
) -> Option<RecordScan<'a, N>> {
    // A repeated key keeps its last value, as in any JSON map.
    let top: BTreeMap<Key<'a>, &'a RawValue> = serde_json::from_str(record.get()).ok()?;
    // The whole text, not the map: a repeated key's earlier value may hide a secret.
    let has_secret = has_secret_key(record.get(), &is_secret);
    let fields = wanted.map(|name| top.get(name).copied());
    Some(RecordScan { record, fields, has_secret })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    fn secret(key: &str) -> bool {
        key.eq_ignore_ascii_case("token") || key.ends_with("Secret")
    }

    #[test]
    fn a_clean_record_is_kept_byte_for_byte() {
        let text = r#"{"id":"c1","nested":{"list":[1,{"a":null}],"t":true},"n":1.5e3}"#;
        let record = RawRecord::scrubbed(&raw(text), secret);
        assert_eq!(record.as_str(), Some(text));
        assert_eq!(record.get("id"), Some(json!("c1")));
    }

    #[test]
    fn secret_fields_go_at_any_depth_and_escaped_keys_are_seen() {
        let text = r#"{"id":"c1","token":"t-1","a":[{"clientSecret":"s-1","keep":1}],"b":{"TOKEN":"t-2"},"c":{"\u0074oken":"t-3"}}"#;
        let record = RawRecord::scrubbed(&raw(text), secret);
        let shown = record.to_string();
        for leaked in ["t-1", "s-1", "t-2", "t-3"] {
            assert!(!shown.contains(leaked), "{leaked} in {shown}");
            assert!(!format!("{record:?}").contains(leaked));
        }
        assert_eq!(record.to_value(), json!({ "id": "c1", "a": [{ "keep": 1 }], "b": {}, "c": {} }));
    }

    #[test]
    fn scan_captures_fields_and_finds_secrets() {
        let text = r#"{"id":"c1","n":2,"data":{"token":"t-1"},"id":"c2","list":[{"x":1}]}"#;
        let record = raw(text);
        let scan = scan_record(&record, ["id", "data", "missing"], secret).unwrap();
        assert_eq!(scan.fields[0].map(RawValue::get), Some("\"c2\""));
        assert_eq!(scan.fields[1].map(RawValue::get), Some(r#"{"token":"t-1"}"#));
        assert!(scan.fields[2].is_none());
        assert!(scan.has_secret, "a secret inside a wanted object value");
        assert!(!RawRecord::from_scan(&scan, secret).to_string().contains("t-1"));

        for (text, has_secret) in [
            (r#"{"id":"c1","list":[{"clientSecret":1}]}"#, true),
            (r#"{"Token":"x"}"#, true),
            (r#"{"id":"c1","list":[{"x":"token"}]}"#, false),
        ] {
            let record = raw(text);
            let scan = scan_record(&record, ["id"], secret).unwrap();
            assert_eq!(scan.has_secret, has_secret, "{text}");
            if !has_secret {
                assert_eq!(RawRecord::from_scan(&scan, secret).as_str(), Some(text));
            }
        }
        for not_object in ["[1]", "\"x\"", "null", "3"] {
            assert!(scan_record(&raw(not_object), ["id"], secret).is_none(), "{not_object}");
        }
    }

    /// A parsed map keeps only the last value of a repeated key: the secret under the first
    /// must still be seen in the text as written.
    #[test]
    fn a_secret_under_a_repeated_key_is_seen() {
        let text = r#"{"id":"c1","a":{"token":"t-1"},"a":1}"#;
        assert!(!RawRecord::scrubbed(&raw(text), secret).to_string().contains("t-1"));
        let record = raw(text);
        let scan = scan_record(&record, ["a"], secret).unwrap();
        assert!(scan.has_secret);
        assert_eq!(scan.fields[0].map(RawValue::get), Some("1"));
        assert!(!RawRecord::from_scan(&scan, secret).to_string().contains("t-1"));
    }

    #[test]
    fn null_and_scalars() {
        assert!(RawRecord::scrubbed(&raw("null"), secret).is_none());
        assert!(RawRecord::from(Value::Null).is_none());
        assert_eq!(RawRecord::scrubbed(&raw("\"x\""), secret).to_value(), json!("x"));
        assert_eq!(RawRecord::none().to_string(), "null");
        assert_eq!(RawRecord::none().get("id"), None);
    }

    #[test]
    fn serializes_as_its_value_and_compares_by_value() {
        let a = RawRecord::verbatim(&raw(r#"{ "b": 2, "a": [1] }"#));
        let b = RawRecord::from(json!({ "a": [1], "b": 2 }));
        assert_eq!(a, b);
        assert_eq!(serde_json::to_value(&a).unwrap(), json!({ "a": [1], "b": 2 }));
        let back: RawRecord = serde_json::from_str(r#"{"a":[1],"b":2}"#).unwrap();
        assert_eq!(back, a);
        #[derive(Deserialize, PartialEq, Debug)]
        struct Typed {
            b: u8,
        }
        assert_eq!(a.deserialize::<Typed>().unwrap(), Typed { b: 2 });
        assert_ne!(a, RawRecord::none());
    }
}
