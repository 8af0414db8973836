//! The Novu HTTP calls, each through core `ApiClient::execute`.

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use oauth_link_core::http::{secret_header, ApiClient, Call, HttpResponse, HttpTransport, Replay};
use oauth_link_core::secret::scrub;
use oauth_link_core::{excerpt, ApiKey, Error, RawRecord, Result, Url};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::config::NovuConfig;
use crate::error::{api_error, redact_tokens};
use crate::wire::{
    ChannelConnection, ChannelEndpoint, GenerateLinkResponse, GenerateUserLinkRequest, GenerateWorkspaceLinkRequest,
    Page,
};
use crate::KIND;

/// Records asked per page (Novu's maximum), as the query sends it.
const PAGE_LIMIT: &str = "100";
/// Pages followed before giving up (100 x 500 = the 50,000 records Novu counts at most).
const MAX_PAGES: usize = 500;
/// The idempotency header Novu honours on POSTs.
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Whether a record is a channel endpoint or a channel connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKind {
    /// `GET /v1/channel-endpoints` (a subscriber's user identity, channel, webhook...).
    Endpoint,
    /// `GET /v1/channel-connections` (a workspace install with its token).
    Connection,
}

impl RecordKind {
    fn collection(self) -> &'static str {
        match self {
            RecordKind::Endpoint => "channel-endpoints",
            RecordKind::Connection => "channel-connections",
        }
    }

    fn list_template(self) -> &'static str {
        match self {
            RecordKind::Endpoint => "/v1/channel-endpoints",
            RecordKind::Connection => "/v1/channel-connections",
        }
    }

    fn item_template(self) -> &'static str {
        match self {
            RecordKind::Endpoint => "/v1/channel-endpoints/{identifier}",
            RecordKind::Connection => "/v1/channel-connections/{identifier}",
        }
    }

    pub(crate) fn noun(self) -> &'static str {
        match self {
            RecordKind::Endpoint => "channel endpoint",
            RecordKind::Connection => "channel connection",
        }
    }
}

/// A listed endpoint or connection: the fields the adapter reads and the platform record
/// with every token removed.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) fields: ChannelEndpoint,
    pub(crate) raw: RawRecord,
}

/// The list filters the adapter uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListFilter<'a> {
    pub(crate) subscriber_id: &'a str,
    pub(crate) integration_identifier: Option<&'a str>,
}

/// Typed access to the Novu API.
#[derive(Debug, Clone)]
pub(crate) struct NovuClient {
    api: ApiClient,
    api_key: ApiKey,
}

impl NovuClient {
    pub(crate) fn new(config: &NovuConfig, transport: Arc<dyn HttpTransport>) -> Result<Self> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, secret_header(&format!("ApiKey {}", config.api_key.expose()))?);
        let api = ApiClient::new(KIND, config.base_url(), headers, transport, config.common.retry.clone());
        Ok(Self { api, api_key: config.api_key.clone() })
    }

    pub(crate) fn base_url(&self) -> &Url {
        self.api.base_url()
    }

    fn secrets(&self) -> [&str; 1] {
        [self.api_key.expose()]
    }

    /// `POST /v1/integrations/channel-endpoints/oauth`.
    pub(crate) async fn generate_user_link(&self, body: &GenerateUserLinkRequest<'_>, key: String) -> Result<Url> {
        let url = self.api.url(&["v1", "integrations", "channel-endpoints", "oauth"]);
        self.post_link("generate_link", "/v1/integrations/channel-endpoints/oauth", url, body, key).await
    }

    /// `POST /v1/integrations/channel-connections/oauth`.
    pub(crate) async fn generate_workspace_link(
        &self,
        body: &GenerateWorkspaceLinkRequest<'_>,
        key: String,
    ) -> Result<Url> {
        let url = self.api.url(&["v1", "integrations", "channel-connections", "oauth"]);
        self.post_link("generate_workspace_link", "/v1/integrations/channel-connections/oauth", url, body, key).await
    }

    async fn post_link<B: Serialize>(
        &self,
        operation: &'static str,
        path_template: &'static str,
        url: Url,
        body: &B,
        idempotency_key: String,
    ) -> Result<Url> {
        let mut request = self.api.json_request(Method::POST, url, body);
        // The key's own bytes become the header value, without a copy.
        let key = HeaderValue::try_from(idempotency_key).map_err(|_| {
            Error::invalid_input(KIND, "idempotency_key", "must be visible ASCII (an HTTP header value)")
        })?;
        request.headers.insert(IDEMPOTENCY_KEY, key);
        // The same key rides on every retry of this logical request, so Novu replays it safely.
        let response = self.api.execute(Call { operation, path_template, request, replay: Replay::Keyed }).await?;
        trace_response(operation, &response);
        if !response.is_success() {
            return Err(api_error(&response, &self.secrets()));
        }
        let what = "a JSON object with `url` (or `data.url`)";
        let decoded: GenerateLinkResponse = self.decode(&response, what)?;
        let Some(raw) = decoded.url() else {
            return Err(self.decode_error(&response, what, "neither `url` nor `data.url` is present"));
        };
        let url = Url::parse(raw).ok().filter(|u| matches!(u.scheme(), "https" | "http"));
        url.ok_or_else(|| {
            Error::decode(
                KIND,
                format!("expected an http(s) URL in `url` (HTTP {})", response.status),
                b"[url withheld]",
            )
        })
    }

    /// Every page of `GET /v1/channel-endpoints` or `GET /v1/channel-connections`.
    pub(crate) async fn list(&self, kind: RecordKind, filter: ListFilter<'_>) -> Result<Vec<Record>> {
        let operation = match kind {
            RecordKind::Endpoint => "list_channel_endpoints",
            RecordKind::Connection => "list_channel_connections",
        };
        let mut records = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let query = [
                Some(("subscriberId", filter.subscriber_id)),
                filter.integration_identifier.map(|integration| ("integrationIdentifier", integration)),
                Some(("limit", PAGE_LIMIT)),
                cursor.as_deref().map(|after| ("after", after)),
            ];
            let url = self.api.url_with_query(&["v1", kind.collection()], query.into_iter().flatten());
            let request = self.api.request(Method::GET, url);
            let call = Call { operation, path_template: kind.list_template(), request, replay: Replay::Idempotent };
            let response = self.api.execute(call).await?;
            trace_response(operation, &response);
            if !response.is_success() {
                return Err(api_error(&response, &self.secrets()));
            }
            let page: Page = self.decode(&response, "a page `{data, next, previous, totalCount}`")?;
            for item in page.data {
                records.push(self.record(kind, item)?);
            }
            match page.next.filter(|n| !n.is_empty()) {
                None => return Ok(records),
                Some(next) if cursor.as_deref() == Some(next.as_str()) => {
                    return Err(Error::decode(
                        KIND,
                        format!("the {} cursor did not advance", kind.noun()),
                        b"(cursor)",
                    ));
                }
                Some(next) => cursor = Some(next),
            }
        }
        Err(Error::decode(KIND, format!("more than {MAX_PAGES} pages of {}s", kind.noun()), b"(pages)"))
    }

    /// `GET /v1/channel-endpoints/{identifier}` or `/v1/channel-connections/{identifier}`;
    /// `None` on 404.
    pub(crate) async fn get(&self, kind: RecordKind, identifier: &str) -> Result<Option<Record>> {
        let url = self.api.url(&["v1", kind.collection(), identifier]);
        let operation = match kind {
            RecordKind::Endpoint => "get_channel_endpoint",
            RecordKind::Connection => "get_channel_connection",
        };
        let request = self.api.request(Method::GET, url);
        let call = Call { operation, path_template: kind.item_template(), request, replay: Replay::Idempotent };
        let response = self.api.execute(call).await?;
        trace_response(operation, &response);
        match response.status {
            404 => Ok(None),
            _ if response.is_success() => {
                let what = format!("a {} object", kind.noun());
                let value: serde_json::Value = self.decode(&response, &what)?;
                let text = serde_json::value::to_raw_value(&crate::wire::unwrap_record(value))
                    .map_err(|e| self.decode_error(&response, &what, &e.to_string()))?;
                self.record(kind, &text).map(Some)
            }
            _ => Err(api_error(&response, &self.secrets())),
        }
    }

    /// `DELETE /v1/channel-endpoints/{identifier}` or `/v1/channel-connections/{identifier}` (204).
    pub(crate) async fn delete(&self, kind: RecordKind, identifier: &str) -> Result<()> {
        let url = self.api.url(&["v1", kind.collection(), identifier]);
        let operation = match kind {
            RecordKind::Endpoint => "delete_channel_endpoint",
            RecordKind::Connection => "delete_channel_connection",
        };
        let request = self.api.request(Method::DELETE, url);
        let call = Call { operation, path_template: kind.item_template(), request, replay: Replay::Idempotent };
        let response = self.api.execute(call).await?;
        trace_response(operation, &response);
        if response.is_success() {
            Ok(())
        } else {
            Err(api_error(&response, &self.secrets()))
        }
    }

    /// Decodes one record from its text; `accessToken` / `refreshToken` fields (a channel
    /// connection's `auth`) are read into `AccessToken` and dropped, and removed from the
    /// kept record, before anything else sees them.
    fn record(&self, kind: RecordKind, text: &RawValue) -> Result<Record> {
        match kind {
            // An endpoint carries no token: kept as it came.
            RecordKind::Endpoint => match serde_json::from_str::<ChannelEndpoint>(text.get()) {
                Ok(fields) => Ok(Record { fields, raw: RawRecord::verbatim(text) }),
                Err(e) => {
                    let body = scrub(&redact_tokens(text.get()), &self.secrets());
                    Err(Error::decode(KIND, format!("expected a channel endpoint record: {e}"), body.as_bytes()))
                }
            },
            RecordKind::Connection => match serde_json::from_str::<ChannelConnection>(text.get()) {
                Ok(typed) => Ok(Record { fields: typed.into_fields(), raw: RawRecord::scrubbed(text, is_token_field) }),
                Err(e) => Err(self.connection_error(text, &e)),
            },
        }
    }

    /// A channel connection that did not decode: the message and excerpt lose its tokens
    /// (found by value too, since serde may quote one in the message) and the API key.
    fn connection_error(&self, text: &RawValue, e: &serde_json::Error) -> Error {
        let value: serde_json::Value = serde_json::from_str(text.get()).unwrap_or_default();
        let mut secrets: Vec<&str> = ["accessToken", "refreshToken"]
            .iter()
            .filter_map(|k| value.pointer(&format!("/auth/{k}")).and_then(|v| v.as_str()))
            .collect();
        secrets.push(self.api_key.expose());
        let message = scrub(&format!("expected a channel connection record: {e}"), &secrets);
        let body = scrub(&redact_tokens(text.get()), &secrets);
        Error::decode(KIND, message, body.as_bytes())
    }

    /// Decodes a JSON body (`T` may borrow from it); the excerpt kept on failure has tokens
    /// and the API key removed.
    fn decode<'a, T: Deserialize<'a>>(&self, response: &'a HttpResponse, what: &str) -> Result<T> {
        serde_json::from_slice(&response.body).map_err(|e| self.decode_error(response, what, &e.to_string()))
    }

    /// A decode error whose body excerpt has tokens and the API key removed.
    fn decode_error(&self, response: &HttpResponse, what: &str, why: &str) -> Error {
        let text = redact_tokens(&String::from_utf8_lossy(&response.body));
        let body = scrub(&excerpt(text.as_bytes()), &self.secrets());
        Error::Decode { provider: KIND, message: format!("expected {what} (HTTP {}): {why}", response.status), body }
    }
}

/// The token fields of a channel connection's `auth`, never kept in a record.
fn is_token_field(key: &str) -> bool {
    matches!(key, "accessToken" | "refreshToken")
}

/// Surfaces Novu's idempotency and rate-limit headers in traces (no secret among them).
fn trace_response(operation: &'static str, response: &HttpResponse) {
    let replayed = response.header("idempotency-replay");
    tracing::debug!(
        provider = KIND,
        operation,
        status = response.status,
        idempotency_replay = replayed,
        ratelimit_limit = response.header("ratelimit-limit"),
        ratelimit_remaining = response.header("ratelimit-remaining"),
        ratelimit_reset = response.header("ratelimit-reset"),
        ratelimit_policy = response.header("ratelimit-policy"),
        retry_after = response.header("retry-after"),
        "novu response"
    );
    if replayed.is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        tracing::debug!(provider = KIND, operation, "novu replayed an earlier response for this idempotency key");
    }
}
