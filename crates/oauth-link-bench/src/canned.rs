//! The adapter's own cost: the same calls answered from memory, with no network.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use oauth_link::http::{HttpRequest, HttpResponse, HttpTransport, TransportFailure};
use oauth_link::{core::adapter::async_trait, ConnectionQuery, LinkRequest, SharedLinkProvider};

/// Answers every request with the response recorded for its method, URL and body.
///
/// Several requests share a method and URL and differ only by body (Novu's subscriber
/// upsert, `POST /v2/subscribers`, one per user): the answer recorded for the same body
/// wins. A body that carries a per-call value (a fresh signed state) matches none, and gets
/// the last answer recorded for its method and URL.
#[derive(Debug, Default)]
pub struct Canned {
    answers: HashMap<(Method, String), Vec<Answer>>,
}

/// A recorded request body and the response it got.
type Answer = (Option<Bytes>, HttpResponse);

impl Canned {
    /// Remembers `response` as the answer to `request`'s method, URL and body.
    pub fn insert(&mut self, request: &HttpRequest, response: &HttpResponse) {
        let answers = self.answers.entry((request.method.clone(), request.url.as_str().to_owned())).or_default();
        answers.retain(|(body, _)| body != &request.body);
        answers.push((request.body.clone(), response.clone()));
    }
}

#[async_trait]
impl HttpTransport for Canned {
    async fn send(&self, request: HttpRequest, _max_body: usize) -> Result<HttpResponse, TransportFailure> {
        let answers = self.answers.get(&(request.method.clone(), request.url.as_str().to_owned()));
        let answer = answers.and_then(|a| a.iter().find(|(body, _)| body == &request.body).or_else(|| a.last()));
        Ok(answer
            .map(|(_, response)| response.clone())
            .unwrap_or_else(|| panic!("no recorded answer for {} {}", request.method, request.url)))
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
