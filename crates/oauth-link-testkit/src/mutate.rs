//! Proptest mutations of a real response shape (truncation, flipped and inserted bytes,
//! wrongly typed fields, nesting, empty, non-UTF-8, HTML), with whether the adapter must
//! refuse the result whatever it contains.

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};

/// A value of the wrong type for a field.
#[derive(Debug, Clone, Copy)]
pub enum Wrong {
    /// Any number.
    Number,
    /// `i64::MIN`.
    MinInt,
    /// `u64::MAX`.
    MaxU64,
    /// `1e308`.
    HugeFloat,
    /// `null`.
    Null,
    /// A boolean.
    Bool,
    /// A mixed array.
    Array,
    /// An unexpected object.
    Object,
    /// Text with NUL, bidi override and replacement characters.
    Text,
    /// 20,000 characters.
    LongText,
}

impl Wrong {
    /// The JSON value.
    pub fn value(self) -> Value {
        match self {
            Wrong::Number => json!(42),
            Wrong::MinInt => json!(i64::MIN),
            Wrong::MaxU64 => json!(u64::MAX),
            Wrong::HugeFloat => json!(1.0e308),
            Wrong::Null => Value::Null,
            Wrong::Bool => json!(true),
            Wrong::Array => json!([1, "two", null, {"three": 3}]),
            Wrong::Object => json!({"unexpected": {"nested": [true]}}),
            Wrong::Text => json!("\u{0}garbage\u{202e}\u{fffd} not-a-url"),
            Wrong::LongText => json!("x".repeat(20_000)),
        }
    }
}

/// One way to damage a response body.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Cut at some byte.
    Truncate(Index),
    /// XOR one byte.
    Flip(Index, u8),
    /// Insert garbage bytes.
    Insert(Index, Vec<u8>),
    /// Replace one field with a wrongly typed value.
    WrongType(Index, Wrong),
    /// Wrap the document in arrays or objects.
    Nest(u8, bool),
    /// 5,000 levels of nesting.
    DeepNest,
    /// No body at all.
    Empty,
    /// Insert invalid UTF-8.
    NonUtf8(Index),
    /// An HTML error page.
    Html,
}

/// Any [`Wrong`].
pub fn wrong() -> impl Strategy<Value = Wrong> {
    prop_oneof![
        Just(Wrong::Number),
        Just(Wrong::MinInt),
        Just(Wrong::MaxU64),
        Just(Wrong::HugeFloat),
        Just(Wrong::Null),
        Just(Wrong::Bool),
        Just(Wrong::Array),
        Just(Wrong::Object),
        Just(Wrong::Text),
        Just(Wrong::LongText),
    ]
}

/// Any [`Mutation`], weighted towards the common failures.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        2 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..12)).prop_map(|(i, g)| Mutation::Insert(i, g)),
        4 => (any::<Index>(), wrong()).prop_map(|(i, w)| Mutation::WrongType(i, w)),
        1 => (1..4u8, any::<bool>()).prop_map(|(d, a)| Mutation::Nest(d, a)),
        1 => Just(Mutation::DeepNest),
        1 => Just(Mutation::Empty),
        1 => any::<Index>().prop_map(Mutation::NonUtf8),
        1 => Just(Mutation::Html),
    ]
}

/// Every JSON pointer below the root.
pub fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        _ => {}
    }
}

/// True when both values are of the same JSON type.
pub fn same_kind(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// A mutated body, and whether the adapter must refuse it whatever it contains.
pub fn apply(doc: &Value, required: &[&str], m: &Mutation) -> (Vec<u8>, bool) {
    let bytes = serde_json::to_vec(doc).unwrap();
    match m {
        Mutation::Truncate(i) => (bytes[..i.index(bytes.len())].to_vec(), true),
        Mutation::Flip(i, x) => {
            let mut b = bytes;
            let at = i.index(b.len());
            b[at] ^= x;
            (b, false)
        }
        Mutation::Insert(i, garbage) => {
            let mut b = bytes;
            let at = i.index(b.len() + 1);
            b.splice(at..at, garbage.iter().copied());
            (b, false)
        }
        Mutation::WrongType(i, w) => {
            let mut all = Vec::new();
            pointers(doc, String::new(), &mut all);
            let p = &all[i.index(all.len())];
            let mut d = doc.clone();
            let replacement = w.value();
            let slot = d.pointer_mut(p).unwrap();
            let must_fail = required.contains(&p.as_str()) && !same_kind(slot, &replacement);
            *slot = replacement;
            (serde_json::to_vec(&d).unwrap(), must_fail)
        }
        Mutation::Nest(depth, array) => {
            let mut d = doc.clone();
            for _ in 0..*depth {
                d = if *array { json!([d]) } else { json!({"result": d}) };
            }
            (serde_json::to_vec(&d).unwrap(), false)
        }
        Mutation::DeepNest => {
            let mut b = b"{\"data\":".to_vec();
            b.extend(std::iter::repeat_n(b'[', 5000));
            b.extend(std::iter::repeat_n(b']', 5000));
            b.push(b'}');
            // Valid JSON, too deep for a typed decode; a field the adapter ignores may hold it.
            (b, false)
        }
        Mutation::Empty => (Vec::new(), true),
        Mutation::NonUtf8(i) => {
            let mut b = bytes;
            let at = i.index(b.len() + 1);
            b.splice(at..at, [0xff, 0xfe, 0xc3]);
            // Inside an ignored string the bytes go unnoticed (see `is_json`).
            (b, false)
        }
        Mutation::Html => (
            b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>502</h1></body></html>"
                .to_vec(),
            true,
        ),
    }
}

/// A body of more than 1 MiB that is otherwise a valid document: an object gains a long
/// `padding` field, an array one more entry holding it.
pub fn huge(doc: &Value) -> Vec<u8> {
    let padding = json!("p".repeat(1024 * 1024 + 16));
    let mut d = doc.clone();
    match &mut d {
        Value::Object(map) => {
            map.insert("padding".into(), padding);
        }
        Value::Array(items) => items.push(json!({"padding": padding})),
        _ => {}
    }
    let body = serde_json::to_vec(&d).unwrap();
    assert!(body.len() > 1024 * 1024, "huge() needs an object or an array");
    body
}

/// Whether `body` is a JSON document once invalid UTF-8 is replaced. (serde skips the
/// strings of fields it ignores without checking their UTF-8, so a stray byte there is
/// accepted; in any field the adapter reads it is a Decode error.)
pub fn is_json(body: &[u8]) -> bool {
    serde_json::from_str::<Value>(&String::from_utf8_lossy(body)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_pads_objects_and_arrays() {
        for doc in [json!({"a": 1}), json!([{"a": 1}])] {
            let body = huge(&doc);
            assert!(body.len() > 1024 * 1024 && is_json(&body));
        }
    }

    #[test]
    fn every_pointer_below_the_root() {
        let mut all = Vec::new();
        pointers(&json!({"data": [{"a/b": 1}]}), String::new(), &mut all);
        assert_eq!(all, ["/data", "/data/0", "/data/0/a~1b"]);
    }
}
