//! Novu's context HMAC, written from its description (provider-apis.md §7.1), independently of
//! any client: `contextHash = lower-case hex(HMAC-SHA256(key = API key, message =
//! canonicalize(context)))`, where `canonicalize` is OLPC canonical JSON as implemented by
//! `@tufjs/canonical-json`: object keys sorted as JavaScript's `sort()` sorts them (by UTF-16
//! code unit), no whitespace, strings escape only `"` and `\` (every other character is
//! written raw), numbers must be integers (JavaScript's `Number.isInteger`) and are written
//! as `JSON.stringify` writes them.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Number, Value};
use sha2::Sha256;

/// OLPC canonical JSON of `v`; `Err` for a number that is not an integer (as the reference
/// implementation throws).
pub(crate) fn canonicalize(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    write(v, &mut out)?;
    Ok(out)
}

fn write(v: &Value, out: &mut String) -> Result<(), String> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&js_integer(n)?),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<(&String, Vec<u16>)> = map.keys().map(|k| (k, k.encode_utf16().collect())).collect();
            keys.sort_by(|a, b| a.1.cmp(&b.1));
            out.push('{');
            for (i, (k, _)) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                if let Some(val) = map.get(*k) {
                    write(val, out)?;
                }
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Largest integer a JavaScript number holds exactly (2^53).
const JS_SAFE: u64 = 1 << 53;

/// The number as JavaScript would print it after `JSON.parse`, if it is an integer.
fn js_integer(n: &Number) -> Result<String, String> {
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= JS_SAFE {
            return Ok(i.to_string());
        }
    }
    if let Some(u) = n.as_u64() {
        if u <= JS_SAFE {
            return Ok(u.to_string());
        }
    }
    let f = n.as_f64().ok_or_else(|| format!("cannot encode {n}"))?;
    if !f.is_finite() || f.fract() != 0.0 {
        return Err(format!("cannot encode {n}: not an integer"));
    }
    if f == 0.0 {
        return Ok("0".into());
    }
    // JavaScript prints the shortest round-trip digits; integers below 1e21 in plain form.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').ok_or_else(|| format!("cannot encode {n}"))?;
    let exp: i32 = exp.parse().map_err(|_| format!("cannot encode {n}"))?;
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    let len = digits.len() as i32;
    if exp >= 21 {
        // `1e+21` and up: exponent form.
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        return Ok(format!("{sign}{first}{frac}e+{exp}"));
    }
    let zeros = (exp + 1 - len).max(0) as usize;
    Ok(format!("{sign}{digits}{}", "0".repeat(zeros)))
}

/// Lower-case hex HMAC-SHA256 of `message` under `key`.
pub(crate) fn hmac_sha256_hex(key: &str, message: &str) -> Option<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).ok()?;
    mac.update(message.as_bytes());
    let bytes = mac.finalize().into_bytes();
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The `contextHash` Novu expects for `context` under `api_key`; `None` when `context` cannot
/// be canonicalized (then no hash matches).
pub(crate) fn context_hash(api_key: &str, context: &Value) -> Option<String> {
    hmac_sha256_hex(api_key, &canonicalize(context).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_documented_worked_example() {
        let ctx = json!({"tenant": "org-acme"});
        assert_eq!(canonicalize(&ctx).as_deref(), Ok(r#"{"tenant":"org-acme"}"#));
        assert_eq!(
            context_hash("YOUR_SECRET_KEY_HERE", &ctx).as_deref(),
            Some("35033bce45597d3ad0f15c24cbffe2b728f58583bf973b0d309c89054a0c0afc")
        );
        // The `{id, data}` form of the same tenant is another message, hence another hash.
        assert_ne!(
            context_hash("YOUR_SECRET_KEY_HERE", &json!({"tenant": {"id": "org-acme"}})),
            context_hash("YOUR_SECRET_KEY_HERE", &ctx)
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_unit_and_only_quote_and_backslash_are_escaped() {
        let v: Value =
            serde_json::from_str(r#"{"b": 1, "a": [true, null, "x\"y\\z\n\u00e9"], "\ud83d\ude00": 0, "\uff61": 2}"#)
                .expect("json");
        // U+FF61 (one unit 0xFF61) sorts after U+1F600 (units 0xD83D 0xDE00) in UTF-16 order,
        // although it is the smaller code point.
        assert_eq!(
            canonicalize(&v).as_deref(),
            Ok("{\"a\":[true,null,\"x\\\"y\\\\z\n\u{e9}\"],\"b\":1,\"\u{1F600}\":0,\"\u{FF61}\":2}")
        );
    }

    #[test]
    fn numbers_follow_javascript() {
        let c = |s: &str| canonicalize(&serde_json::from_str::<Value>(s).expect("json"));
        assert_eq!(c("1.0").as_deref(), Ok("1"));
        assert_eq!(c("-0.0").as_deref(), Ok("0"));
        assert_eq!(c("-42").as_deref(), Ok("-42"));
        assert_eq!(c("1e20").as_deref(), Ok("100000000000000000000"));
        assert_eq!(c("1152921504606846976").as_deref(), Ok("1152921504606847000"));
        assert_eq!(c("1e21").as_deref(), Ok("1e+21"));
        assert!(c("1.5").is_err());
        assert!(c(r#"{"a": {"b": 0.1}}"#).is_err());
    }
}
