//! A serde `Deserializer` over a [`ConfigMap`]: an adapter's configuration struct derives
//! `Deserialize`, its field names are the keys, and every error still names the value's
//! origin (env var, TOML key and file, map key).
//!
//! Values are text whatever the source: numbers, booleans, lists (comma-separated) and
//! enums (case-insensitive) are parsed here. An empty value counts as unset.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

use super::{ConfigMap, Entry};
use crate::error::Error;

/// Why deserializing a configuration failed, before it is given its origin.
#[derive(Debug)]
pub(super) enum DeError {
    /// A required key is unset.
    Missing(&'static str),
    /// A key was given twice, under its name and an alias.
    Duplicate(&'static str),
    /// A value is wrong; the text says what it must be (`must be ...`).
    Invalid(String),
    /// A value is wrong, with its origin already known.
    Located { origin: String, message: String },
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeError::Missing(key) => write!(f, "missing `{key}`"),
            DeError::Duplicate(key) => write!(f, "`{key}` given twice"),
            DeError::Invalid(message) => f.write_str(message),
            DeError::Located { origin, message } => write!(f, "{origin} {message}"),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::Invalid(msg.to_string())
    }

    fn invalid_type(_: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        DeError::Invalid(format!("must be {expected}"))
    }

    fn invalid_value(_: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        DeError::Invalid(format!("must be {expected}"))
    }

    fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
        DeError::Invalid(format!("must be one of: {}", expected.join(", ")))
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::Missing(field)
    }

    fn duplicate_field(field: &'static str) -> Self {
        DeError::Duplicate(field)
    }
}

impl DeError {
    /// The core error, naming where to fix it.
    pub(super) fn into_error(self, map: &ConfigMap) -> Error {
        match self {
            DeError::Missing(key) => map.missing(key),
            DeError::Duplicate(key) => map.invalid(
                key,
                format_args!("is set twice for provider `{}`, under `{key}` and an alias: keep `{key}`", map.kind),
            ),
            DeError::Invalid(message) => Error::config(map.kind, message),
            DeError::Located { origin, message } => Error::config(origin.clone(), format!("{origin} {message}")),
        }
    }
}

/// Deserializes one struct from the map's entries: the struct's fields are the keys read,
/// and only those are handed to it (the rest stay for [`ConfigMap::finish`] to refuse).
pub(super) struct StructDeserializer<'a> {
    pub(super) map: &'a mut ConfigMap,
}

impl<'de> de::Deserializer<'de> for StructDeserializer<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, DeError> {
        Err(DeError::Invalid("a configuration is read into a struct".into()))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.map.read.extend(fields.iter().copied());
        let entries: Vec<(String, Entry)> = self
            .map
            .entries
            .iter()
            .filter(|(key, entry)| fields.contains(&key.as_str()) && !entry.value.is_empty())
            .map(|(key, entry)| (key.clone(), entry.clone()))
            .collect();
        visitor.visit_map(Entries { entries: entries.into_iter(), value: None })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

struct Entries {
    entries: std::vec::IntoIter<(String, Entry)>,
    value: Option<Entry>,
}

impl<'de> MapAccess<'de> for Entries {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let Some((key, entry)) = self.entries.next() else { return Ok(None) };
        self.value = Some(entry);
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let entry = self.value.take().ok_or_else(|| DeError::Invalid("a value without a key".into()))?;
        let origin = entry.origin.clone();
        seed.deserialize(Value(entry.value)).map_err(|e| match e {
            DeError::Invalid(message) => DeError::Located { origin, message },
            other => other,
        })
    }
}

/// One value, as text.
struct Value(String);

impl Value {
    fn parse<T: std::str::FromStr>(&self, expected: &str) -> Result<T, DeError> {
        self.0.trim().parse().map_err(|_| DeError::Invalid(format!("must be {expected}")))
    }
}

macro_rules! parse_number {
    ($($method:ident $visit:ident $ty:ty, $expected:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            visitor.$visit(self.parse::<$ty>($expected)?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Value {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_string(self.0)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.0.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => visitor.visit_bool(true),
            "false" | "0" | "no" | "off" => visitor.visit_bool(false),
            _ => Err(DeError::Invalid("must be true or false".into())),
        }
    }

    parse_number! {
        deserialize_u8 visit_u8 u8, "a non-negative integer";
        deserialize_u16 visit_u16 u16, "a non-negative integer";
        deserialize_u32 visit_u32 u32, "a non-negative integer";
        deserialize_u64 visit_u64 u64, "a non-negative integer";
        deserialize_i8 visit_i8 i8, "an integer";
        deserialize_i16 visit_i16 i16, "an integer";
        deserialize_i32 visit_i32 i32, "an integer";
        deserialize_i64 visit_i64 i64, "an integer";
        deserialize_f32 visit_f32 f32, "a number";
        deserialize_f64 visit_f64 f64, "a number";
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // Empty values never get here: they count as unset.
        visitor.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let items: Vec<Value> =
            self.0.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value(s.to_owned())).collect();
        visitor.visit_seq(de::value::SeqDeserializer::new(items.into_iter()))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_enum(self.0.trim().to_ascii_lowercase().into_deserializer())
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct tuple tuple_struct map struct
        identifier ignored_any
    }
}

impl IntoDeserializer<'_, DeError> for Value {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

/// The keys `T` reads: its serde field names (renames and aliases included).
pub(super) fn keys<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    let mut found = None;
    let _ = T::deserialize(Probe(&mut found));
    found.unwrap_or_default()
}

/// A deserializer that only notes the fields the struct asks for.
struct Probe<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, DeError> {
        Err(DeError::Invalid("not a struct".into()))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, DeError> {
        *self.0 = Some(fields);
        Err(DeError::Invalid("probed".into()))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}
