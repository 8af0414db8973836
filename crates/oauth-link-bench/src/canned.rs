//! The adapter's own cost: the same calls answered from memory, with no network.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use http::Method;
use oauth_link::http::{HttpRequest, HttpResponse, HttpTransport, TransportFailure};
use oauth_link::{async_trait, ConnectionQuery, LinkRequest, SharedLinkProvider};

/// Answers every request with the response recorded for its method and URL.
#[derive(Debug, Default)]
pub struct Canned {
    answers: HashMap<(Method, String), HttpResponse>,
}

impl Canned {
    /// Remembers `response` as the answer to `request`'s method and URL.
    pub fn insert(&mut self, request: &HttpRequest, response: &HttpResponse) {
        self.answers.insert((request.method.clone(), request.url.as_str().to_owned()), response.clone());
    }
}

#[async_trait]
impl HttpTransport for Canned {
    async fn send(&self, request: HttpRequest, _max_body: usize) -> Result<HttpResponse, TransportFailure> {
        let key = (request.method, String::from(request.url));
        Ok(self.answers.get(&key).cloned().unwrap_or_else(|| panic!("no recorded answer for {} {}", key.0, key.1)))
    }
}

/// Mean wall time of one call when the transport answers at once: the CPU the adapter
/// spends per call on everything but the network (one task, calls in sequence).
pub async fn own_cost(
    provider: &SharedLinkProvider,
    generate: bool,
    requests: &[LinkRequest],
    queries: &[ConnectionQuery],
    n: usize,
) -> Duration {
    let started = Instant::now();
    for i in 0..n {
        if generate {
            provider.generate_link(&requests[i % requests.len()]).await.expect("canned generate_link");
        } else {
            provider.list_connections(&queries[i % queries.len()]).await.expect("canned list_connections");
        }
    }
    started.elapsed() / n.max(1) as u32
}
