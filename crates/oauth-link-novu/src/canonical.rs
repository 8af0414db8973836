//! Novu's `contextHash` (provider-apis.md §7.1): lower-case hex HMAC-SHA256, keyed with the
//! environment's secret API key, over the OLPC canonical JSON of the `context` sent.
//!
//! The canonical form is the one `@tufjs/canonical-json` writes (Novu calls its
//! `canonicalize`): object keys sorted as JavaScript's `Array.prototype.sort()` sorts
//! strings (by UTF-16 code unit, not by code point), no whitespace, strings escape only `"`
//! and `\` (control and non-ASCII characters are written raw), integers as
//! `JSON.stringify` writes them, and any other number refused. This is not RFC 8785.

use std::cmp::Ordering;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Number, Value};
use sha2::Sha256;

/// Largest magnitude a JavaScript number holds exactly (2^53 - 1): beyond it the server's
/// `JSON.parse` may change the number, so no hash computed here could be trusted to match.
const JS_MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The OLPC canonical JSON of `value`; `Err` names a number the canonical form refuses (not
/// an integer, or too large for a JavaScript number to hold exactly).
pub(crate) fn canonical_json(value: &Value) -> Result<String, String> {
    let mut out = String::new();
    write_value(value, &mut out)?;
    Ok(out)
}

/// Lower-case hex HMAC-SHA256 of the canonical form of `context` under `key`.
pub(crate) fn context_hash(key: &str, context: &Value) -> Result<String, String> {
    let message = canonical_json(context)?;
    // HMAC accepts a key of any length; the error arm is never taken.
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(message.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    Ok(hex)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_value(value: &Value, out: &mut String) -> Result<(), String> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&integer(n)?),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| utf16_order(a, b));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                if let Some(item) = map.get(key) {
                    write_value(item, out)?;
                }
            }
            out.push('}');
        }
    }
    Ok(())
}

/// JavaScript's default string order: by UTF-16 code unit. It differs from Rust's (code
/// point) order only between a supplementary character (a surrogate pair, 0xD800..) and a
/// character in U+E000..U+FFFF.
pub(crate) fn utf16_order(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// A string in quotes with only `"` and `\` escaped.
fn write_string(s: &str, out: &mut String) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// An integer as `JSON.stringify` writes it; anything else refused, as the reference
/// implementation throws on a number that is not `Number.isInteger`.
fn integer(n: &Number) -> Result<String, String> {
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= JS_MAX_SAFE_INTEGER {
            return Ok(i.to_string());
        }
    } else if let Some(u) = n.as_u64() {
        if u <= JS_MAX_SAFE_INTEGER {
            return Ok(u.to_string());
        }
    } else if let Some(f) = n.as_f64() {
        // `1.0` is an integer to JavaScript (`Number.isInteger(1.0)`), and `-0` prints `0`.
        if f.is_finite() && f.fract() == 0.0 && f.abs() <= JS_MAX_SAFE_INTEGER as f64 {
            return Ok(format!("{}", f as i64));
        }
        if f.is_finite() && f.fract() != 0.0 {
            return Err(format!("{n} is not an integer (the canonical JSON Novu hashes has no fractions)"));
        }
    }
    Err(format!("{n} is too large to be hashed exactly (JavaScript numbers hold integers up to 2^53 - 1)"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_documented_example_hashes_as_novu_does() {
        // provider-apis.md §7.1 worked example.
        let hash = context_hash("YOUR_SECRET_KEY_HERE", &json!({"tenant": "org-acme"})).unwrap();
        assert_eq!(hash, "35033bce45597d3ad0f15c24cbffe2b728f58583bf973b0d309c89054a0c0afc");
        assert_eq!(canonical_json(&json!({"tenant": "org-acme"})).unwrap(), r#"{"tenant":"org-acme"}"#);
    }

    #[test]
    fn the_rich_form_hashes_differently_from_the_plain_one() {
        let plain = context_hash("k", &json!({"tenant": "org-acme"})).unwrap();
        let rich = context_hash("k", &json!({"tenant": {"id": "org-acme"}})).unwrap();
        assert_ne!(plain, rich);
        assert_eq!(plain.len(), 64);
        assert!(plain.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{plain}");
    }

    #[test]
    fn keys_sort_by_utf16_code_unit_recursively_without_whitespace() {
        let v = json!({"b": 1, "a": {"z": [3, {"y": null, "x": true}], "m": false}, "B": "x"});
        assert_eq!(canonical_json(&v).unwrap(), r#"{"B":"x","a":{"m":false,"z":[3,{"x":true,"y":null}]},"b":1}"#);
        // U+1F600 (surrogates 0xD83D..) sorts before U+FF21 in UTF-16, after it by code point.
        let v = json!({"\u{FF21}": 1, "\u{1F600}": 2});
        assert_eq!(canonical_json(&v).unwrap(), "{\"\u{1F600}\":2,\"\u{FF21}\":1}");
        assert_eq!(utf16_order("\u{1F600}", "\u{FF21}"), Ordering::Less);
        assert_eq!("\u{1F600}".cmp("\u{FF21}"), Ordering::Greater, "Rust's own order differs here");
    }

    #[test]
    fn only_quote_and_backslash_are_escaped() {
        let v = json!({"k\"ey": "a\\b\"c\nd\te\u{1}é😀/"});
        assert_eq!(canonical_json(&v).unwrap(), "{\"k\\\"ey\":\"a\\\\b\\\"c\nd\te\u{1}é😀/\"}");
    }

    #[test]
    fn numbers_are_integers_or_refused() {
        assert_eq!(
            canonical_json(&json!([0, -7, 9007199254740991_u64, 1.0, -0.0, 2.0e3])).unwrap(),
            "[0,-7,9007199254740991,1,0,2000]"
        );
        for bad in [json!(1.5), json!(-0.25), json!(9007199254740992_u64), json!(-9007199254740992_i64), json!(1e300)] {
            let err = canonical_json(&json!({"n": bad})).unwrap_err();
            assert!(err.contains("integer") || err.contains("too large"), "{bad}: {err}");
            assert!(context_hash("k", &json!({"n": bad})).is_err());
        }
    }

    #[test]
    fn empty_context_and_literals() {
        assert_eq!(canonical_json(&json!({})).unwrap(), "{}");
        assert_eq!(canonical_json(&json!([])).unwrap(), "[]");
        assert_eq!(canonical_json(&json!("")).unwrap(), "\"\"");
    }
}
