//! The Novu HTTP calls, each built with core `ApiClient::call` from its path template and
//! sent through the client, whose one error mapper ([`api_error`], traced) reads Novu's
//! error answers and which removes the API key from every error.

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use oauth_link_core::http::{secret_header, ApiClient, HttpResponse, HttpTransport, Idempotency};
use oauth_link_core::secret::is_secret_field_name;
use oauth_link_core::{adapter::RawRecord, Error, Result, Url};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::config::NovuConfig;
use crate::error::api_error;
use crate::wire::{
    ChannelConnection, ChannelEndpoint, GenerateLinkResponse, GenerateUserLinkRequest, GenerateWorkspaceLinkRequest,
    Integration, IntegrationList, Page, UpsertSubscriberRequest,
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
}

impl NovuClient {
    pub(crate) fn new(config: &NovuConfig, transport: Arc<dyn HttpTransport>) -> Result<Self> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, secret_header(&format!("ApiKey {}", config.api_key.expose()))?);
        let api = ApiClient::new(KIND, config.base_url(), headers, transport, config.common.retry.clone())
            .with_errors(traced_error);
        Ok(Self { api })
    }

    pub(crate) fn base_url(&self) -> &Url {
        self.api.base_url()
    }

    /// `POST /v2/subscribers {subscriberId}`: creates the subscriber, or leaves an existing
    /// one as it is (an upsert carrying no field but the id). 201 either way.
    pub(crate) async fn upsert_subscriber(&self, subscriber_id: &str) -> Result<()> {
        let operation = "upsert_subscriber";
        // Idempotent: an upsert of the id alone; repeating it creates nothing more and changes
        // no field, so no idempotency key is needed (and none is sent).
        let call = self
            .api
            .call(Method::POST, operation, "/v2/subscribers", &[])
            .json(&UpsertSubscriberRequest { subscriber_id })
            .idempotency(Idempotency::Idempotent);
        let reply = self.api.send(call).await?;
        trace_response(Some(operation), reply.response());
        // `{data: SubscriberResponseDto}` (the server's envelope) or the bare record.
        let what = "a subscriber object (`SubscriberResponseDto`, bare or under `data`)";
        let record = crate::wire::unwrap_subscriber(reply.json(what)?);
        match record.get("subscriberId") {
            None | Some(serde_json::Value::Null) => Ok(()),
            Some(serde_json::Value::String(id)) if id == subscriber_id => Ok(()),
            Some(_) => Err(reply.decode_error(what, "it names another subscriberId")),
        }
    }

    /// `GET /v1/integrations` (no query): every integration of the environment.
    pub(crate) async fn list_integrations(&self) -> Result<Vec<Integration>> {
        let operation = "list_integrations";
        // Idempotent (the default for GET): a read.
        let call = self.api.call(Method::GET, operation, "/v1/integrations", &[]);
        let reply = self.api.send(call).await?;
        trace_response(Some(operation), reply.response());
        let list: IntegrationList = reply.json("an array of integrations (bare or under `data`)")?;
        // An entry of another shape is skipped, not fatal: the catalogue lists what it can read.
        Ok(list.into_items().into_iter().filter_map(|item| serde_json::from_value(item).ok()).collect())
    }

    /// `POST /v1/integrations/channel-endpoints/oauth`.
    pub(crate) async fn generate_user_link(&self, body: &GenerateUserLinkRequest<'_>, key: &str) -> Result<Url> {
        self.post_link("generate_link", "/v1/integrations/channel-endpoints/oauth", body, key).await
    }

    /// `POST /v1/integrations/channel-connections/oauth`.
    pub(crate) async fn generate_workspace_link(
        &self,
        body: &GenerateWorkspaceLinkRequest<'_>,
        key: &str,
    ) -> Result<Url> {
        self.post_link("generate_workspace_link", "/v1/integrations/channel-connections/oauth", body, key).await
    }

    async fn post_link<B: Serialize>(
        &self,
        operation: &'static str,
        template: &'static str,
        body: &B,
        idempotency_key: &str,
    ) -> Result<Url> {
        let key = HeaderValue::try_from(idempotency_key).map_err(|_| {
            Error::invalid_input(KIND, "idempotency_key", "must be visible ASCII (an HTTP header value)")
        })?;
        // Keyed: the same idempotency key rides on every retry of this logical request, so Novu
        // replays (or, while the first is in flight, answers 409 + Retry-After to) a repeat.
        let call = self
            .api
            .call(Method::POST, operation, template, &[])
            .json(body)
            .header(IDEMPOTENCY_KEY, key)
            .idempotency(Idempotency::Keyed);
        let reply = self.api.send(call).await?;
        trace_response(Some(operation), reply.response());
        let what = "a JSON object with `url` (or `data.url`)";
        let decoded: GenerateLinkResponse = reply.json(what)?;
        let Some(raw) = decoded.url() else {
            return Err(reply.decode_error(what, "neither `url` nor `data.url` is present"));
        };
        let url = Url::parse(raw).ok().filter(|u| matches!(u.scheme(), "https" | "http"));
        url.ok_or_else(|| {
            Error::decode(
                KIND,
                format!("expected an http(s) URL in `url` (HTTP {})", reply.status()),
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
            // Idempotent (the default for GET): a read.
            let call = self.api.call(Method::GET, operation, kind.list_template(), &[]).query(query);
            let reply = self.api.send(call).await?;
            trace_response(Some(operation), reply.response());
            let page: Page = reply.json("a page `{data, next, previous, totalCount}`")?;
            for item in page.data {
                records.push(record(kind, item).map_err(|e| reply.scrub(e))?);
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
        let operation = match kind {
            RecordKind::Endpoint => "get_channel_endpoint",
            RecordKind::Connection => "get_channel_connection",
        };
        // Idempotent (the default for GET): a read.
        let call = self.api.call(Method::GET, operation, kind.item_template(), &[identifier]);
        // Exchanged: a 404 means "no such record here", not a failure.
        let reply = self.api.exchange(call).await?;
        match reply.status() {
            404 => {
                trace_response(Some(operation), reply.response());
                Ok(None)
            }
            _ if reply.is_success() => {
                trace_response(Some(operation), reply.response());
                let what = format!("a {} object", kind.noun());
                let value: serde_json::Value = reply.json(&what)?;
                let text = serde_json::value::to_raw_value(&crate::wire::unwrap_record(value))
                    .map_err(|e| reply.decode_error(&what, e))?;
                record(kind, &text).map(Some).map_err(|e| reply.scrub(e))
            }
            _ => Err(reply.error()),
        }
    }

    /// `DELETE /v1/channel-endpoints/{identifier}` or `/v1/channel-connections/{identifier}`
    /// (204). A 404 counts as done: the caller has just found the record, so it is gone now
    /// (deleted by an earlier attempt whose answer was lost, or by someone else).
    pub(crate) async fn delete(&self, kind: RecordKind, identifier: &str) -> Result<()> {
        let operation = match kind {
            RecordKind::Endpoint => "delete_channel_endpoint",
            RecordKind::Connection => "delete_channel_connection",
        };
        // Idempotent (the default for DELETE): deleting what is already gone leaves the same state.
        let call = self.api.call(Method::DELETE, operation, kind.item_template(), &[identifier]);
        // Exchanged: a 404 means done.
        let reply = self.api.exchange(call).await?;
        if reply.is_success() || reply.status() == 404 {
            trace_response(Some(operation), reply.response());
            Ok(())
        } else {
            Err(reply.error())
        }
    }
}

/// Decodes one record from its text; `accessToken` / `refreshToken` fields (a channel
/// connection's `auth`) are read into `AccessToken` and dropped, and removed from the kept
/// record, before anything else sees them.
fn record(kind: RecordKind, text: &RawValue) -> Result<Record> {
    match kind {
        // An endpoint carries no token: kept as it came.
        RecordKind::Endpoint => match serde_json::from_str::<ChannelEndpoint>(text.get()) {
            Ok(fields) => Ok(Record { fields, raw: RawRecord::verbatim(text) }),
            Err(e) => {
                Err(Error::decode(KIND, format!("expected a channel endpoint record: {e}"), text.get().as_bytes()))
            }
        },
        RecordKind::Connection => match serde_json::from_str::<ChannelConnection>(text.get()) {
            Ok(typed) => {
                Ok(Record { fields: typed.into_fields(), raw: RawRecord::scrubbed(text, is_secret_field_name) })
            }
            Err(e) => Err(connection_error(text, &e)),
        },
    }
}

/// A channel connection that did not decode: the excerpt masks its token fields, and its
/// token values are removed from the message too (serde may quote one in it).
fn connection_error(text: &RawValue, e: &serde_json::Error) -> Error {
    let value: serde_json::Value = serde_json::from_str(text.get()).unwrap_or_default();
    let tokens: Vec<&str> = ["accessToken", "refreshToken"]
        .iter()
        .filter_map(|k| value.pointer(&format!("/auth/{k}")).and_then(|v| v.as_str()))
        .collect();
    let message = format!("expected a channel connection record: {e}");
    Error::decode(KIND, message, text.get().as_bytes()).scrubbed(&tokens)
}

/// The client's error mapper: Novu's headers traced, then the answer mapped ([`api_error`]).
fn traced_error(provider: &'static str, response: &HttpResponse) -> Error {
    trace_response(None, response);
    api_error(provider, response)
}

/// Surfaces Novu's idempotency and rate-limit headers in traces (no secret among them); the
/// operation is unknown (`None`) for an error answer, traced by the client's mapper.
fn trace_response(operation: Option<&'static str>, response: &HttpResponse) {
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
