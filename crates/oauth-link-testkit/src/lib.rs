//! Test support shared by the oauth-link adapters' hostile-input suites.
//!
//! - [`Stub`]: one httpmock server whose answers come from a route table the test swaps per
//!   case (starting a server per case would dominate the run time), counting every request
//!   so "invalid input sends nothing" is checked exactly.
//! - [`guarded`]: runs an operation in a task so a panic names the input that caused it.
//! - [`mutation`] and [`apply`]: proptest mutations of a real response shape (truncation,
//!   flipped and inserted bytes, wrongly typed fields, nesting, empty, non-UTF-8, HTML), with
//!   whether the adapter must refuse the result whatever it contains.
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use httpmock::prelude::*;
use httpmock::HttpMockResponse;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};
use tokio::runtime::Runtime;

// ---------------------------------------------------------------------------------------
// A mock server whose answers come from a shared route table (one server per test).
// ---------------------------------------------------------------------------------------

/// One answer of the stub: method, path (or prefix ending in `*`), status and body.
#[derive(Debug, Clone)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path, or a prefix ending in `*`.
    pub path: String,
    /// Status to answer.
    pub status: u16,
    /// Body to answer (JSON content type).
    pub body: Vec<u8>,
}

/// A route.
pub fn route(method: &'static str, path: &str, status: u16, body: impl Into<Vec<u8>>) -> Route {
    Route { method, path: path.to_owned(), status, body: body.into() }
}

/// `pattern` is a path, or a prefix ending in `*`.
pub fn matches_path(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

/// One mock platform for a whole test; answers come from its route table.
#[allow(missing_debug_implementations)]
pub struct Stub {
    /// The server (its `base_url()` goes in the adapter's `base_url`).
    pub server: MockServer,
    routes: Arc<Mutex<Vec<Route>>>,
    hits: Arc<AtomicUsize>,
}

impl Stub {
    /// Starts the server with an empty table (unrouted requests get 418).
    pub fn start() -> Self {
        let server = MockServer::start();
        let routes: Arc<Mutex<Vec<Route>>> = Arc::default();
        let hits = Arc::new(AtomicUsize::new(0));
        let (table, counter) = (routes.clone(), hits.clone());
        server.mock(move |_when, then| {
            then.respond_with(move |req| {
                counter.fetch_add(1, Ordering::SeqCst);
                let path = req.uri().path().to_owned();
                let found = table
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|r| r.method == req.method_str() && matches_path(&r.path, &path))
                    .cloned()
                    .unwrap_or_else(|| route("ANY", "", 418, r#"{"message":"unrouted"}"#));
                HttpMockResponse::builder()
                    .status(found.status)
                    .header("content-type", "application/json")
                    .body(found.body)
                    .build()
            });
        });
        Self { server, routes, hits }
    }

    /// Replaces the route table and resets the request counter.
    pub fn set(&self, routes: Vec<Route>) {
        *self.routes.lock().unwrap() = routes;
        self.hits.store(0, Ordering::SeqCst);
    }

    /// Requests seen since the last [`Stub::set`].
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A current-thread runtime for driving async operations from proptest bodies.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// What a hostile case ends in.
pub type Outcome = oauth_link_core::Result<()>;
/// A boxed operation under test.
pub type BoxFut = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// Runs `fut` in a task so a panic is reported as the input that caused it.
pub fn guarded(rt: &Runtime, what: &str, fut: impl Future<Output = Outcome> + Send + 'static) -> Outcome {
    match rt.block_on(async move { tokio::spawn(fut).await }) {
        Ok(outcome) => outcome,
        Err(join) => panic!("PANIC on hostile input {what}: {join}"),
    }
}

// ---------------------------------------------------------------------------------------
// Body mutations generated from the real shapes.
// ---------------------------------------------------------------------------------------

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

/// A body of more than 1 MiB that is otherwise a valid document.
pub fn huge(doc: &Value) -> Vec<u8> {
    let mut d = doc.clone();
    if let Some(map) = d.as_object_mut() {
        map.insert("padding".into(), json!("p".repeat(1024 * 1024 + 16)));
    }
    serde_json::to_vec(&d).unwrap()
}

/// Whether `body` is a JSON document once invalid UTF-8 is replaced. (serde skips the
/// strings of fields it ignores without checking their UTF-8, so a stray byte there is
/// accepted; in any field the adapter reads it is a Decode error.)
pub fn is_json(body: &[u8]) -> bool {
    serde_json::from_str::<Value>(&String::from_utf8_lossy(body)).is_ok()
}

/// URL settings no adapter may accept: non-http(s) schemes, no host, a query.
pub const BAD_URLS: [&str; 6] =
    ["file:///etc/passwd", "gopher://x", "ftp://h", "javascript:alert(1)", "http://", "https://h/?q=1"];

/// Asserts that `parse` refuses each of `bad` values for the setting `key` (next to the
/// settings in `base`, e.g. an API key) with an [`oauth_link_core::Error::Config`] naming
/// `key`.
pub fn assert_config_rejects(
    kind: &'static str,
    base: &[(&str, &str)],
    key: &str,
    bad: &[&str],
    parse: impl Fn(oauth_link_core::ConfigMap) -> oauth_link_core::Result<()>,
) {
    for value in bad {
        let map: std::collections::HashMap<String, String> =
            base.iter().chain([(key, *value)].iter()).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        match parse(oauth_link_core::ConfigMap::from_map(kind, &map)) {
            Err(oauth_link_core::Error::Config { key: named, .. }) => {
                assert!(named.contains(key), "{key}={value}: the error names `{named}`")
            }
            other => panic!("{key}={value}: expected Error::Config, got {other:?}"),
        }
    }
}

/// `(user, connection id)` pairs every adapter's `disconnect` must refuse before sending
/// anything: dot segments (which URL rules would resolve away), empty, whitespace, control
/// characters, oversized ids, and the same faults in the user.
pub fn hostile_disconnects(user: &str) -> Vec<(String, String)> {
    let long = "c".repeat(257);
    let mut cases: Vec<(String, String)> = ["..", ".", "", " ", "a\nb", "a\u{0}", "a\u{7f}", long.as_str()]
        .iter()
        .map(|id| (user.to_owned(), id.to_string()))
        .collect();
    cases.extend(["..", ".", "", "u\r\n"].iter().map(|u| (u.to_string(), "conn-1".to_owned())));
    cases
}
