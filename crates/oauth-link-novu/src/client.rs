//! The Novu HTTP calls, each through core `ApiClient::execute`.

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use oauth_link_core::http::{secret_header, ApiClient, Call, HttpResponse, HttpTransport, Idempotency};
use oauth_link_core::secret::scrub;
use oauth_link_core::{
    adapter::{excerpt, RawRecord},
    ApiKey, Error, Result, Url,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::config::NovuConfig;
use crate::error::{api_error, redact_tokens};
use crate::wire::{
    ChannelConnection, ChannelEndpoint, GenerateLinkResponse, GenerateUserLinkRequest, GenerateWorkspaceLinkRequest,
    Integration, IntegrationList, Page, UpsertSubscriberRequest,
};
use crate::KIND;
use oauth_link_core::secret::is_secret_field_name;

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
    /// `subscriberId`; `None` for shared connections, which belong to a context.
    pub(crate) subscriber_id: Option<&'a str>,
    pub(crate) integration_identifier: Option<&'a str>,
    /// `contextKeys` (`type:id`), one query pair each; none when empty.
    pub(crate) context_keys: &'a [String],
    /// `connectionMode=shared` (channel connections only).
    pub(crate) shared: bool,
}

impl<'a> ListFilter<'a> {
    /// The records of one subscriber, optionally on one integration.
    pub(crate) fn subscriber(subscriber_id: &'a str, integration_identifier: Option<&'a str>) -> Self {
        Self { subscriber_id: Some(subscriber_id), integration_identifier, context_keys: &[], shared: false }
    }
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

    /// `POST /v2/subscribers {subscriberId}`: creates the subscriber, or leaves an existing
    /// one as it is (an upsert carrying no field but the id). 201 either way.
    pub(crate) async fn upsert_subscriber(&self, subscriber_id: &str) -> Result<()> {
        let operation = "upsert_subscriber";
        let url = self.api.url(&["v2", "subscribers"]);
        let request = self.api.json_request(Method::POST, url, &UpsertSubscriberRequest { subscriber_id });
        // Idempotent: an upsert of the id alone; repeating it creates nothing more and changes
        // no field, so no idempotency key is needed (and none is sent).
        let call = Call { operation, path_template: "/v2/subscribers", request, idempotency: Idempotency::Idempotent };
        let response = self.api.execute(call).await?;
        trace_response(operation, &response);
        if !response.is_success() {
            return Err(api_error(&response, &self.secrets()));
        }
        // `{data: SubscriberResponseDto}` (the server's envelope) or the bare record.
        let what = "a subscriber object (`SubscriberResponseDto`, bare or under `data`)";
        let value: serde_json::Value = self.decode(&response, what)?;
        let record = crate::wire::unwrap_subscriber(value);
        match record.get("subscriberId") {
            None | Some(serde_json::Value::Null) => Ok(()),
            Some(serde_json::Value::String(id)) if id == subscriber_id => Ok(()),
            Some(_) => Err(self.decode_error(&response, what, "it names another subscriberId")),
        }
    }

    /// `GET /v1/integrations` (no query): every integration of the environment.
    pub(crate) async fn list_integrations(&self) -> Result<Vec<Integration>> {
        let operation = "list_integrations";
        let url = self.api.url(&["v1", "integrations"]);
        let request = self.api.request(Method::GET, url);
        // Idempotent: a read.
        let call = Call { operation, path_template: "/v1/integrations", request, idempotency: Idempotency::Idempotent };
        let response = self.api.execute(call).await?;
        trace_response(operation, &response);
        if !response.is_success() {
            return Err(api_error(&response, &self.secrets()));
        }
        let list: IntegrationList = self.decode(&response, "an array of integrations (bare or under `data`)")?;
        // An entry of another shape is skipped, not fatal: the catalogue lists what it can read.
        Ok(list.into_items().into_iter().filter_map(|item| serde_json::from_value(item).ok()).collect())
    }

    /// `POST /v1/integrations/channel-endpoints/oauth`.
    pub(crate) async fn generate_user_link(&self, body: &GenerateUserLinkRequest<'_>, key: &str) -> Result<Url> {
        let url = self.api.url(&["v1", "integrations", "channel-endpoints", "oauth"]);
        self.post_link("generate_link", "/v1/integrations/channel-endpoints/oauth", url, body, key).await
    }

    /// `POST /v1/integrations/channel-connections/oauth`.
    pub(crate) async fn generate_workspace_link(
        &self,
        body: &GenerateWorkspaceLinkRequest<'_>,
        key: &str,
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
        idempotency_key: &str,
    ) -> Result<Url> {
        let mut request = self.api.json_request(Method::POST, url, body);
        let key = HeaderValue::try_from(idempotency_key).map_err(|_| {
            Error::invalid_input(KIND, "idempotency_key", "must be visible ASCII (an HTTP header value)")
        })?;
        request.headers.insert(IDEMPOTENCY_KEY, key);
        // Keyed: the same idempotency key rides on every retry of this logical request, so Novu
        // replays (or, while the first is in flight, answers 409 + Retry-After to) a repeat.
        let response =
            self.api.execute(Call { operation, path_template, request, idempotency: Idempotency::Keyed }).await?;
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
            let mut query: Vec<(&str, &str)> = Vec::with_capacity(5 + filter.context_keys.len());
            query.extend(filter.subscriber_id.map(|subscriber| ("subscriberId", subscriber)));
            query.extend(filter.integration_identifier.map(|integration| ("integrationIdentifier", integration)));
            query.extend(filter.context_keys.iter().map(|key| ("contextKeys", key.as_str())));
            if filter.shared {
                query.push(("connectionMode", "shared"));
            }
            query.push(("limit", PAGE_LIMIT));
            query.extend(cursor.as_deref().map(|after| ("after", after)));
            let url = self.api.url_with_query(&["v1", kind.collection()], query.iter().copied());
            let request = self.api.request(Method::GET, url);
            // Idempotent: a read.
            let call =
                Call { operation, path_template: kind.list_template(), request, idempotency: Idempotency::Idempotent };
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
        // Idempotent: a read.
        let call =
            Call { operation, path_template: kind.item_template(), request, idempotency: Idempotency::Idempotent };
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

    /// `DELETE /v1/channel-endpoints/{identifier}` or `/v1/channel-connections/{identifier}`
    /// (204). A 404 counts as done: the caller has just found the record, so it is gone now
    /// (deleted by an earlier attempt whose answer was lost, or by someone else).
    pub(crate) async fn delete(&self, kind: RecordKind, identifier: &str) -> Result<()> {
        let url = self.api.url(&["v1", kind.collection(), identifier]);
        let operation = match kind {
            RecordKind::Endpoint => "delete_channel_endpoint",
            RecordKind::Connection => "delete_channel_connection",
        };
        let request = self.api.request(Method::DELETE, url);
        // Idempotent: deleting what is already gone leaves the same state.
        let call =
            Call { operation, path_template: kind.item_template(), request, idempotency: Idempotency::Idempotent };
        let response = self.api.execute(call).await?;
        trace_response(operation, &response);
        if response.is_success() || response.status == 404 {
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
                Ok(typed) => {
                    Ok(Record { fields: typed.into_fields(), raw: RawRecord::scrubbed(text, is_secret_field_name) })
                }
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
