//! One mock platform per test whose answers come from a route table the test swaps per case
//! (starting a server per case would dominate the run time), counting every request so
//! "invalid input sends nothing" is checked exactly; and a guard that names the input of a
//! panic.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use httpmock::prelude::*;
use httpmock::HttpMockResponse;
use tokio::runtime::Runtime;

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
