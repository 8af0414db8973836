//! Provider-neutral request and result types.
//!
//! All of them serialize to stable snake_case JSON (the CLI prints them as they are).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::raw::RawRecord;
use crate::secret::StateToken;

/// Longest id (user, target, connection, idempotency key) accepted, in bytes.
pub const MAX_ID_LEN: usize = 256;
/// Longest extra parameter value accepted, in bytes.
pub const MAX_PARAM_LEN: usize = 2048;
/// Most extra parameters or scopes accepted on one request.
pub const MAX_PARAMS: usize = 32;

/// What the app asks for when it wants a user to connect an account.
///
/// `user` is the app's own id for the end user; `target` names what to connect
/// (an Alloy app or connector, a Novu integration, a Junction provider slug).
///
/// Build it with [`LinkRequest::new`] and the `with_*` setters; fields may be added later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LinkRequest {
    /// The app's id for the end user.
    pub user: String,
    /// The app, connector, integration or wearable provider to connect.
    pub target: String,
    /// Where the platform should send the browser back, for platforms that accept one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<Url>,
    /// OAuth scopes to ask for, for platforms that accept them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Provider-specific extra parameters (e.g. Alloy `shopSubdomain`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Makes a retried request safe on platforms that support idempotency keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The connection to re-authorise instead of making a new one (see
    /// [`LinkRequest::reconnect`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect: Option<String>,
    /// The app's own tags (organisation, plan, the page the link started from): signed into
    /// the state and returned on the [`Connection`] completion gives. At most
    /// [`LinkRequest::MAX_TAGS`]; see [`LinkRequest::with_tag`] for the rules.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl LinkRequest {
    /// Most tags one request carries.
    pub const MAX_TAGS: usize = 8;
    /// Longest tag key, in bytes (`[a-z0-9_.-]` only).
    pub const MAX_TAG_KEY_LEN: usize = 32;
    /// Longest tag value, in bytes.
    pub const MAX_TAG_VALUE_LEN: usize = 128;
    /// Most bytes all tags take together (keys and values, a `"` or `\` counted twice as
    /// JSON writes it): they travel in the state, which must stay short enough for a URL and
    /// for [`StateCodec::verify`](crate::StateCodec::verify).
    pub const MAX_TAG_BYTES: usize = 512;

    /// A request to connect `target` for `user`.
    pub fn new(user: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            target: target.into(),
            redirect_uri: None,
            scopes: Vec::new(),
            params: BTreeMap::new(),
            idempotency_key: None,
            reconnect: None,
            tags: BTreeMap::new(),
        }
    }

    /// A request to re-authorise `user`'s existing connection `connection_id` (an id as
    /// [`list_connections`](crate::LinkProvider::list_connections) gave it), for instance one
    /// whose status is [`ConnectionStatus::NeedsReauthorization`]. The target is the
    /// connection's own, which the provider works out (the request's `target` stays empty;
    /// set one with [`LinkRequest::new`] and [`LinkRequest::with_reconnect`] to have it
    /// checked against the connection).
    ///
    /// Where the platform keeps the connection's id through a re-authorisation
    /// ([`Capabilities::reconnect_keeps_id`]), completion returns the same id; elsewhere it
    /// returns the new connection, and the provider's documentation says what became of the
    /// old one.
    pub fn reconnect(user: impl Into<String>, connection_id: impl Into<String>) -> Self {
        Self::new(user, "").with_reconnect(connection_id)
    }

    /// Makes this request re-authorise the connection `connection_id` (see
    /// [`LinkRequest::reconnect`]).
    pub fn with_reconnect(mut self, connection_id: impl Into<String>) -> Self {
        self.reconnect = Some(connection_id.into());
        self
    }

    /// Adds an app tag, returned on the completed [`Connection`]'s `tags`. Keys are 1 to
    /// [`LinkRequest::MAX_TAG_KEY_LEN`] bytes of `a-z`, `0-9`, `_`, `.` and `-`; values at most
    /// [`LinkRequest::MAX_TAG_VALUE_LEN`] bytes without control characters; at most
    /// [`LinkRequest::MAX_TAGS`] tags. [`LinkRequest::validate`] checks them (an
    /// [`Error::InvalidInput`] naming `tags.<key>`). Tags are signed, not encrypted: they
    /// travel in the state, which the browser carries, so put no secret in them.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Sets the return address.
    pub fn with_redirect_uri(mut self, uri: Url) -> Self {
        self.redirect_uri = Some(uri);
        self
    }

    /// Adds a scope.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Adds an extra parameter.
    pub fn with_param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(key.into(), value.into());
        self
    }

    /// Sets the idempotency key.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Checks every field before anything is sent: ids non-empty, bounded and free of
    /// control characters, a redirect URI that is absolute `https` (plain `http` only for
    /// loopback hosts), bounded params and scopes, bounded tags (see
    /// [`LinkRequest::with_tag`]). The target may be empty only on a reconnect (its
    /// connection implies it).
    pub fn validate(&self, provider: &'static str) -> Result<()> {
        validate_id(provider, "user", &self.user)?;
        match &self.reconnect {
            Some(id) => {
                validate_id(provider, "reconnect", id)?;
                if !self.target.is_empty() {
                    validate_id(provider, "target", &self.target)?;
                }
            }
            None => validate_id(provider, "target", &self.target)?,
        }
        validate_tags(provider, &self.tags)?;
        if let Some(uri) = &self.redirect_uri {
            validate_redirect_uri(provider, uri)?;
        }
        if let Some(key) = &self.idempotency_key {
            validate_id(provider, "idempotency_key", key)?;
            if !key.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Error::invalid_input(
                    provider,
                    "idempotency_key",
                    "must be visible ASCII without spaces (it travels as an HTTP header)",
                ));
            }
        }
        if self.scopes.len() > MAX_PARAMS || self.params.len() > MAX_PARAMS {
            return Err(Error::invalid_input(
                provider,
                "params",
                format!("at most {MAX_PARAMS} scopes and {MAX_PARAMS} params are accepted"),
            ));
        }
        for scope in &self.scopes {
            validate_id(provider, "scopes", scope)?;
        }
        for (key, value) in &self.params {
            validate_id(provider, "params", key)?;
            validate_text(provider, &format!("params.{key}"), value, MAX_PARAM_LEN)?;
        }
        Ok(())
    }

    /// Where every adapter's `generate_link` starts: checks the request
    /// ([`validate`](Self::validate)) and, for a reconnect, hands its connection id to
    /// `resolve`, which reads that connection, checks it is the user's, and returns the
    /// request to link instead (its target set). A new link is returned as it is.
    pub async fn resolve_reconnect<'a, F, Fut>(
        &'a self,
        provider: &'static str,
        resolve: F,
    ) -> Result<std::borrow::Cow<'a, LinkRequest>>
    where
        F: FnOnce(&'a str) -> Fut,
        Fut: std::future::Future<Output = Result<LinkRequest>>,
    {
        self.validate(provider)?;
        match &self.reconnect {
            Some(id) => resolve(id).await.map(std::borrow::Cow::Owned),
            None => Ok(std::borrow::Cow::Borrowed(self)),
        }
    }
}

/// Checks app tags: at most [`LinkRequest::MAX_TAGS`] taking at most
/// [`LinkRequest::MAX_TAG_BYTES`] in all, keys of 1 to
/// [`LinkRequest::MAX_TAG_KEY_LEN`] bytes of `[a-z0-9_.-]`, values of at most
/// [`LinkRequest::MAX_TAG_VALUE_LEN`] bytes without control characters (an empty value is
/// allowed). Errors name the field `tags` or `tags.<key>`.
pub(crate) fn validate_tags(provider: &'static str, tags: &BTreeMap<String, String>) -> Result<()> {
    if tags.len() > LinkRequest::MAX_TAGS {
        return Err(Error::invalid_input(
            provider,
            "tags",
            format!("at most {} tags are accepted (got {})", LinkRequest::MAX_TAGS, tags.len()),
        ));
    }
    let json_len = |text: &str| text.len() + text.bytes().filter(|b| matches!(b, b'"' | b'\\')).count();
    let total: usize = tags.iter().map(|(k, v)| json_len(k) + json_len(v)).sum();
    if total > LinkRequest::MAX_TAG_BYTES {
        return Err(Error::invalid_input(
            provider,
            "tags",
            format!(
                "take {total} bytes, more than the {} accepted in all (they travel in the link state)",
                LinkRequest::MAX_TAG_BYTES
            ),
        ));
    }
    for (key, value) in tags {
        let key_ok = (1..=LinkRequest::MAX_TAG_KEY_LEN).contains(&key.len())
            && key.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-'));
        if !key_ok {
            let shown: String = key.chars().take(LinkRequest::MAX_TAG_KEY_LEN).filter(|c| !c.is_control()).collect();
            return Err(Error::invalid_input(
                provider,
                format!("tags.{shown}"),
                format!("a tag key is 1 to {} of a-z, 0-9, `_`, `.`, `-`", LinkRequest::MAX_TAG_KEY_LEN),
            ));
        }
        let reason = if value.len() > LinkRequest::MAX_TAG_VALUE_LEN {
            format!("must be at most {} bytes (got {})", LinkRequest::MAX_TAG_VALUE_LEN, value.len())
        } else if value.chars().any(char::is_control) {
            "must not contain control characters".to_owned()
        } else {
            continue;
        };
        return Err(Error::invalid_input(provider, format!("tags.{key}"), reason));
    }
    Ok(())
}

/// Checks an id: non-empty after trimming, at most [`MAX_ID_LEN`] bytes, no control
/// characters, not `.` or `..` (ids travel as URL path segments, where those two would
/// be dropped and change the path).
pub fn validate_id(provider: &'static str, field: &str, value: &str) -> Result<()> {
    validate_text(provider, field, value, MAX_ID_LEN)?;
    if matches!(value, "." | "..") {
        return Err(Error::invalid_input(
            provider,
            field,
            "must not be `.` or `..` (it would change the request path)",
        ));
    }
    Ok(())
}

fn validate_text(provider: &'static str, field: &str, value: &str, max: usize) -> Result<()> {
    let reason = if value.trim().is_empty() {
        "must not be empty or whitespace".to_owned()
    } else if value.len() > max {
        format!("must be at most {max} bytes (got {})", value.len())
    } else if value.chars().any(char::is_control) {
        "must not contain control characters".to_owned()
    } else {
        return Ok(());
    };
    Err(Error::invalid_input(provider, field, reason))
}

/// Checks a redirect URI: absolute `https`, or `http` on a loopback host (for local
/// development), with no fragment.
pub fn validate_redirect_uri(provider: &'static str, uri: &Url) -> Result<()> {
    let loopback = match uri.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let reason = match uri.scheme() {
        _ if uri.host().is_none() => "must be an absolute URL with a host",
        "https" => "",
        "http" if loopback => "",
        "http" => "must use https (plain http is accepted only for localhost and loopback addresses)",
        _ => "must use https",
    };
    let reason = if reason.is_empty() && uri.fragment().is_some() { "must not contain a #fragment" } else { reason };
    if reason.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid_input(provider, "redirect_uri", format!("{reason}; got scheme `{}`", uri.scheme())))
    }
}

/// A link to send the end user's browser to, plus the state that completes it.
///
/// Adapters build it with [`Link::new`]; fields may be added later.
#[derive(Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Link {
    /// Provider kind that issued the link.
    pub provider: String,
    /// Where to send the browser.
    pub url: Url,
    /// The sealed state. Keep it (cookie or session) when the provider's
    /// [`Capabilities::state_in_redirect`] is false; it comes back on the redirect otherwise.
    #[serde(serialize_with = "crate::secret::serialize_exposed")]
    pub state: StateToken,
    /// After this instant the link or its state no longer works.
    pub expires_at: DateTime<Utc>,
}

impl Link {
    /// A link issued by `provider`: send the browser to `url`; `state` completes it until
    /// `expires_at`.
    pub fn new(provider: impl Into<String>, url: Url, state: StateToken, expires_at: DateTime<Utc>) -> Self {
        Self { provider: provider.into(), url, state, expires_at }
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("provider", &self.provider)
            .field("url", &redacted_url(&self.url))
            .field("state", &self.state)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A URL for logs: scheme, host and port only. A link URL is a bearer credential: platforms
/// put tokens in its query (`?token=`) and in its path (`/consent/<token>`), so anything past
/// the authority becomes `/[redacted]`.
pub fn redacted_url(url: &Url) -> String {
    let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        out.push_str("/[redacted]");
    }
    out
}

/// The query parameter that carries oauth-link's state on redirects the app receives.
///
/// Deliberately not `state`: Junction and OAuth servers use that name themselves.
pub const STATE_PARAM: &str = "oauth_link_state";

/// `redirect` with `oauth_link_state=<state>` appended to its query, as text: for the
/// redirect URI an adapter sends to its platform inside a request body.
///
/// Appends; an `oauth_link_state` already in the query is left alone.
pub fn redirect_with_state(redirect: &Url, state: &str) -> String {
    let mut url = redirect.clone();
    url.query_pairs_mut().append_pair(STATE_PARAM, state);
    url.into()
}

/// What came back to the app after the user went through the link.
///
/// Holds the redirect's query parameters (if the platform redirected to the app) and/or
/// the state the app kept. Values are never printed by `Debug`.
#[derive(Clone, Default)]
pub struct Callback {
    params: Vec<(String, String)>,
    state: Option<StateToken>,
}

/// Longest callback query accepted, in bytes.
pub const MAX_CALLBACK_QUERY: usize = 16 * 1024;

impl Callback {
    /// A callback that carries only the state the app kept (hosted-callback platforms).
    pub fn from_state(state: StateToken) -> Self {
        Self { params: Vec::new(), state: Some(state) }
    }

    /// Parses a raw query string (with or without the leading `?`).
    ///
    /// Rejects oversized queries and duplicated parameters; invalid percent-encoding is
    /// decoded lossily and then fails state verification.
    pub fn from_query(provider: &'static str, query: &str) -> Result<Self> {
        let query = query.strip_prefix('?').unwrap_or(query);
        if query.len() > MAX_CALLBACK_QUERY {
            return Err(Error::invalid_input(
                provider,
                "callback",
                format!("query is {} bytes, more than the {MAX_CALLBACK_QUERY} accepted", query.len()),
            ));
        }
        let mut params: Vec<(String, String)> = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if params.iter().any(|(k, _)| *k == key) {
                return Err(Error::invalid_input(
                    provider,
                    "callback",
                    format!("parameter `{key}` appears more than once"),
                ));
            }
            params.push((key.into_owned(), value.into_owned()));
        }
        Ok(Self { params, state: None })
    }

    /// Parses the full URL the browser came back to.
    pub fn from_url(provider: &'static str, url: &str) -> Result<Self> {
        let parsed =
            Url::parse(url).map_err(|e| Error::invalid_input(provider, "callback", format!("not a URL ({e})")))?;
        Self::from_query(provider, parsed.query().unwrap_or(""))
    }

    /// Adds the state the app kept (cookie or session).
    pub fn with_state(mut self, state: StateToken) -> Self {
        self.state = Some(state);
        self
    }

    /// Replaces the state: drops a [`STATE_PARAM`] query parameter and keeps `state`
    /// instead (used to test tampering, or when the app re-reads its cookie).
    pub fn with_state_replaced(mut self, state: StateToken) -> Self {
        self.params.retain(|(k, _)| k != STATE_PARAM);
        self.state = Some(state);
        self
    }

    /// The value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// All query parameters, in order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The link state: the one the app kept, else the [`STATE_PARAM`] query parameter.
    /// When both are present they must be identical.
    pub fn state(&self, provider: &'static str) -> Result<StateToken> {
        match (&self.state, self.param(STATE_PARAM)) {
            (Some(kept), Some(query)) if kept.expose() != query => Err(Error::state_invalid(
                provider,
                "the state kept by the app differs from the state on the redirect",
            )),
            (Some(kept), _) => Ok(kept.clone()),
            (None, Some(query)) => Ok(StateToken::new(query)),
            (None, None) => Err(Error::state_invalid(
                provider,
                format!("no state: pass the state kept from generate_link, or the full redirect URL carrying `{STATE_PARAM}`"),
            )),
        }
    }
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.params.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Callback").field("param_names", &names).field("state", &self.state).finish()
    }
}

/// Where a connection stands, normalised across platforms (the table of what each platform
/// reports and how it maps is `docs/connection-health.md`).
///
/// JSON: `{"status": "connected"}`, `{"status": "pending"}`,
/// `{"status": "needs_reauthorization", "reason": ...}`, `{"status": "failed", "reason": ...}`
/// (flattened into a [`Connection`]). Earlier versions wrote `"error"` for what is now
/// `failed`; reading still accepts it.
///
/// Variants may be added later: a `match` outside this crate needs a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConnectionStatus {
    /// Usable.
    Connected,
    /// Created but not yet usable.
    Pending,
    /// The credential no longer works (expired, revoked, deregistered, a password changed):
    /// the user must re-authorise it, e.g. with [`LinkRequest::reconnect`].
    NeedsReauthorization {
        /// The platform's reason, as it gave it (e.g. `token_refresh_failed: ...`).
        reason: String,
    },
    /// Broken for a reason a re-authorisation is not known to fix (a platform-side failure,
    /// an unknown error, a state the platform did not document).
    #[serde(alias = "error")]
    Failed {
        /// The platform's reason.
        reason: String,
    },
}

impl ConnectionStatus {
    /// [`ConnectionStatus::NeedsReauthorization`] with `reason`.
    pub fn needs_reauthorization(reason: impl Into<String>) -> Self {
        Self::NeedsReauthorization { reason: reason.into() }
    }

    /// [`ConnectionStatus::Failed`] with `reason`.
    pub fn failed(reason: impl Into<String>) -> Self {
        Self::Failed { reason: reason.into() }
    }

    /// The status as its JSON `status` value (`connected`, `pending`,
    /// `needs_reauthorization`, `failed`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::Pending => "pending",
            Self::NeedsReauthorization { .. } => "needs_reauthorization",
            Self::Failed { .. } => "failed",
        }
    }

    /// True when the connection is usable.
    pub fn is_connected(&self) -> bool {
        matches!(self, Self::Connected)
    }

    /// True when a re-authorisation ([`LinkRequest::reconnect`]) is what the user should do.
    pub fn is_reauthorization_needed(&self) -> bool {
        matches!(self, Self::NeedsReauthorization { .. })
    }

    /// The platform's reason, for the statuses that carry one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::NeedsReauthorization { reason } | Self::Failed { reason } => Some(reason),
            Self::Connected | Self::Pending => None,
        }
    }
}

impl std::fmt::Display for ConnectionStatus {
    /// `connected`, `pending`, `needs_reauthorization: <reason>`, `failed: <reason>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.reason() {
            Some(reason) => write!(f, "{}: {reason}", self.as_str()),
            None => f.write_str(self.as_str()),
        }
    }
}

/// A connected third-party account, normalised across platforms.
///
/// Adapters build it with [`Connection::new`] and the `with_*` setters; fields may be
/// added later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Connection {
    /// The platform's id for the connection (credential id, endpoint identifier,
    /// `user_id/slug`). Pass it to [`disconnect`](crate::LinkProvider::disconnect).
    pub id: String,
    /// Provider kind.
    pub provider: String,
    /// The user it belongs to, as the app named it.
    pub user: String,
    /// What was connected (app, connector, integration, wearable provider).
    pub target: String,
    /// Where it stands.
    #[serde(flatten)]
    pub status: ConnectionStatus,
    /// When the platform created it, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// When the platform last changed it, when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The platform's record, for what the common fields do not cover (secrets removed).
    #[serde(default, skip_serializing_if = "RawRecord::is_none")]
    pub raw: RawRecord,
    /// The app tags of the link that made (or re-authorised) it ([`LinkRequest::with_tag`]),
    /// on the connection [`complete_callback`](crate::LinkProvider::complete_callback)
    /// returns; empty on listed connections (platforms keep no app tags).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl Connection {
    /// The connection `id` of `user` to `target` on `provider`, with no timestamps and no
    /// platform record.
    pub fn new(
        id: impl Into<String>,
        provider: impl Into<String>,
        user: impl Into<String>,
        target: impl Into<String>,
        status: ConnectionStatus,
    ) -> Self {
        Self {
            id: id.into(),
            provider: provider.into(),
            user: user.into(),
            target: target.into(),
            status,
            created_at: None,
            updated_at: None,
            raw: RawRecord::none(),
            tags: BTreeMap::new(),
        }
    }

    /// Sets when the platform created it (`None` when the platform did not say).
    pub fn with_created_at(mut self, created_at: Option<DateTime<Utc>>) -> Self {
        self.created_at = created_at;
        self
    }

    /// Sets when the platform last changed it (`None` when the platform did not say).
    pub fn with_updated_at(mut self, updated_at: Option<DateTime<Utc>>) -> Self {
        self.updated_at = updated_at;
        self
    }

    /// Sets the platform's record (secrets already removed).
    pub fn with_raw(mut self, raw: impl Into<RawRecord>) -> Self {
        self.raw = raw.into();
        self
    }

    /// Sets the app tags (done by [`LinkContext::complete_connection`](crate::LinkContext::complete_connection)
    /// from the link's state).
    pub fn with_tags(mut self, tags: BTreeMap<String, String>) -> Self {
        self.tags = tags;
        self
    }
}

/// Which connections to list.
///
/// Build it with [`ConnectionQuery::user`] and [`ConnectionQuery::with_target`]; fields
/// may be added later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConnectionQuery {
    /// The app's id for the end user.
    pub user: String,
    /// Only connections to this target, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl ConnectionQuery {
    /// All connections of `user`.
    pub fn user(user: impl Into<String>) -> Self {
        Self { user: user.into(), target: None }
    }

    /// Only those to `target`.
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Checks the ids as [`LinkRequest::validate`] does.
    pub fn validate(&self, provider: &'static str) -> Result<()> {
        validate_id(provider, "user", &self.user)?;
        if let Some(target) = &self.target {
            validate_id(provider, "target", target)?;
        }
        Ok(())
    }
}

/// Who receives the platform's OAuth redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackModel {
    /// The platform hosts the OAuth callback and then sends the browser to an address set
    /// in its dashboard (or nowhere); the app keeps [`Link::state`] itself.
    Hosted,
    /// The browser comes back to the request's `redirect_uri`, with the state on it.
    AppRedirect,
}

/// What a provider can do, as data.
///
/// Apps read it; adapters build it with [`Capabilities::new`] and the `with_*` setters.
/// Whether the state rides on the redirect and whether a `redirect_uri` is needed follow
/// from the [`CallbackModel`] ([`Capabilities::state_in_redirect`],
/// [`Capabilities::requires_redirect_uri`]); the JSON form still carries both as fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "CapabilitiesJson", from = "CapabilitiesJson")]
#[non_exhaustive]
pub struct Capabilities {
    /// Who receives the platform's OAuth redirect.
    pub callback: CallbackModel,
    /// True when [`disconnect`](crate::LinkProvider::disconnect) works.
    pub disconnect: bool,
    /// How long a generated link works, when the platform documents it.
    pub link_lifetime: Option<Duration>,
    /// True when the platform honours idempotency keys.
    pub idempotency: bool,
    /// True when re-authorising a connection ([`LinkRequest::reconnect`]) keeps its id: the
    /// platform replaces the credential of the same record, and completion returns the
    /// same id. False when the platform makes a new record with a new id.
    pub reconnect_keeps_id: bool,
    /// Regions the adapter can address.
    pub regions: Vec<String>,
    /// Extra parameters some targets need (e.g. Shopify's `shopSubdomain`), when known
    /// without a platform call; `target -> [param]`.
    pub target_params: BTreeMap<String, Vec<String>>,
}

impl Capabilities {
    /// A provider with this callback model that can disconnect, with no documented link
    /// lifetime, no idempotency keys, no id kept through a reconnect, no regions and no
    /// known target parameters.
    pub fn new(callback: CallbackModel) -> Self {
        Self {
            callback,
            disconnect: true,
            link_lifetime: None,
            idempotency: false,
            reconnect_keeps_id: false,
            regions: Vec::new(),
            target_params: BTreeMap::new(),
        }
    }

    /// Whether [`disconnect`](crate::LinkProvider::disconnect) works.
    pub fn with_disconnect(mut self, disconnect: bool) -> Self {
        self.disconnect = disconnect;
        self
    }

    /// How long a generated link works.
    pub fn with_link_lifetime(mut self, lifetime: Duration) -> Self {
        self.link_lifetime = Some(lifetime);
        self
    }

    /// Whether the platform honours idempotency keys.
    pub fn with_idempotency(mut self, idempotency: bool) -> Self {
        self.idempotency = idempotency;
        self
    }

    /// Whether a reconnect keeps the connection's id ([`Capabilities::reconnect_keeps_id`]).
    pub fn with_reconnect_keeps_id(mut self, keeps: bool) -> Self {
        self.reconnect_keeps_id = keeps;
        self
    }

    /// The regions the adapter can address.
    pub fn with_regions<I: IntoIterator<Item = impl Into<String>>>(mut self, regions: I) -> Self {
        self.regions = regions.into_iter().map(Into::into).collect();
        self
    }

    /// The extra parameters some targets need, `target -> [param]`.
    pub fn with_target_params(mut self, target_params: BTreeMap<String, Vec<String>>) -> Self {
        self.target_params = target_params;
        self
    }

    /// True when the state rides on the redirect back to the app (as [`STATE_PARAM`]);
    /// false when the app must keep [`Link::state`] and pass it to the callback. Follows
    /// from [`CallbackModel::AppRedirect`].
    pub fn state_in_redirect(&self) -> bool {
        self.callback == CallbackModel::AppRedirect
    }

    /// True when a `redirect_uri` (from the request or the configuration) is required.
    /// Follows from [`CallbackModel::AppRedirect`].
    pub fn requires_redirect_uri(&self) -> bool {
        self.callback == CallbackModel::AppRedirect
    }
}

/// The JSON form of [`Capabilities`]: the derived booleans are written out (in the order
/// the CLI has always printed them) and ignored when read back.
#[derive(Serialize, Deserialize)]
struct CapabilitiesJson {
    callback: CallbackModel,
    #[serde(default)]
    state_in_redirect: bool,
    #[serde(default)]
    requires_redirect_uri: bool,
    disconnect: bool,
    #[serde(with = "opt_secs", default)]
    link_lifetime: Option<Duration>,
    idempotency: bool,
    #[serde(default)]
    reconnect_keeps_id: bool,
    regions: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    target_params: BTreeMap<String, Vec<String>>,
}

impl From<Capabilities> for CapabilitiesJson {
    fn from(c: Capabilities) -> Self {
        Self {
            callback: c.callback,
            state_in_redirect: c.state_in_redirect(),
            requires_redirect_uri: c.requires_redirect_uri(),
            disconnect: c.disconnect,
            link_lifetime: c.link_lifetime,
            idempotency: c.idempotency,
            reconnect_keeps_id: c.reconnect_keeps_id,
            regions: c.regions,
            target_params: c.target_params,
        }
    }
}

impl From<CapabilitiesJson> for Capabilities {
    fn from(c: CapabilitiesJson) -> Self {
        Self {
            callback: c.callback,
            disconnect: c.disconnect,
            link_lifetime: c.link_lifetime,
            idempotency: c.idempotency,
            reconnect_keeps_id: c.reconnect_keeps_id,
            regions: c.regions,
            target_params: c.target_params,
        }
    }
}

mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_with_state_appends_as_query_pairs_mut_does() {
        for uri in [
            "https://app.example.com/cb?",
            "https://app.example.com/",
            "https://app.example.com/cb?x=a%20b&y",
            "http://127.0.0.1:3000/a/b?t=1",
            "https://app.example.com/cb#frag",
        ] {
            let uri = Url::parse(uri).unwrap();
            for state in ["v1.abc-_.def", "a b&c=d/é+%"] {
                let mut expected = uri.clone();
                expected.query_pairs_mut().append_pair(STATE_PARAM, state);
                assert_eq!(redirect_with_state(&uri, state), expected.as_str(), "{uri} {state}");
            }
        }
    }

    #[test]
    fn validate_rejects_bad_ids() {
        for (user, field) in [("", "user"), ("  ", "user"), ("a\u{0}b", "user")] {
            let err = LinkRequest::new(user, "slack").validate("novu").unwrap_err();
            assert!(matches!(err, Error::InvalidInput { field: ref f, .. } if f == field), "{err}");
        }
        let long = "u".repeat(MAX_ID_LEN + 1);
        assert!(LinkRequest::new(long, "slack").validate("novu").is_err());
        assert!(LinkRequest::new("u", "").validate("novu").is_err());
        assert!(LinkRequest::new("u", "t").with_param("k", "v\n").validate("novu").is_err());
        assert!(LinkRequest::new("u", "t").with_scope("").validate("novu").is_err());
        assert!(LinkRequest::new("u", "t").with_idempotency_key(" ").validate("novu").is_err());
        assert!(LinkRequest::new("u", "t").with_idempotency_key("a b").validate("novu").is_err());
        assert!(LinkRequest::new("u", "t").with_idempotency_key("clé").validate("novu").is_err());
        LinkRequest::new("u", "t").with_idempotency_key("order-42:v1").validate("novu").unwrap();
        LinkRequest::new("user-1", "slack").with_param("k", "v").validate("novu").unwrap();
    }

    #[test]
    fn dot_segments_are_not_ids() {
        // Found by the hostile corpus: `Url::path_segments_mut().extend` drops `.` and `..`,
        // so `disconnect(user, "..")` addressed the parent resource.
        for id in [".", ".."] {
            let err = validate_id("junction", "connection_id", id).unwrap_err();
            assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "connection_id"), "{err}");
            assert!(LinkRequest::new(id, "slack").validate("novu").is_err());
            assert!(LinkRequest::new("u", id).validate("novu").is_err());
            assert!(ConnectionQuery::user(id).validate("novu").is_err());
        }
        for id in ["...", ".a", "a..", "%2e%2e"] {
            validate_id("novu", "user", id).unwrap();
        }
    }

    #[test]
    fn redirect_uri_rules() {
        let ok = ["https://app.example.com/cb", "http://localhost:3000/cb", "http://127.0.0.1/cb", "http://[::1]:8/cb"];
        for uri in ok {
            validate_redirect_uri("x", &Url::parse(uri).unwrap()).unwrap();
        }
        let bad = [
            "http://app.example.com/cb",
            "ftp://host/x",
            "javascript:alert(1)",
            "https://a.example/cb#frag",
            "data:text/html,x",
        ];
        for uri in bad {
            let err = validate_redirect_uri("x", &Url::parse(uri).unwrap()).unwrap_err();
            assert!(err.to_string().contains("redirect_uri"), "{uri}: {err}");
        }
    }

    #[test]
    fn callback_parsing() {
        let cb = Callback::from_url("x", "https://app/cb?state=success&oauth_link_state=abc").unwrap();
        assert_eq!(cb.param("state"), Some("success"));
        assert_eq!(cb.state("x").unwrap().expose(), "abc");
        assert!(Callback::from_query("x", "a=1&a=2").is_err());
        assert!(Callback::from_query("x", &"a".repeat(MAX_CALLBACK_QUERY + 1)).is_err());
        assert!(Callback::from_query("x", "").unwrap().state("x").is_err());
        let both = Callback::from_query("x", "oauth_link_state=abc").unwrap().with_state("zzz".into());
        assert!(matches!(both.state("x"), Err(Error::StateInvalid { .. })));
        let same = Callback::from_query("x", "?oauth_link_state=abc").unwrap().with_state("abc".into());
        assert_eq!(same.state("x").unwrap().expose(), "abc");
        // Non-UTF-8 percent-encoding decodes lossily instead of panicking.
        let lossy = Callback::from_query("x", "error=%FF%FE").unwrap();
        assert_eq!(lossy.param("error"), Some("\u{fffd}\u{fffd}"));
        assert!(Callback::from_url("x", "not a url").is_err());
    }

    #[test]
    fn debug_hides_callback_values_and_link_query() {
        let cb = Callback::from_query("x", "code=secretcode&oauth_link_state=secretstate").unwrap();
        let printed = format!("{cb:?}");
        assert!(!printed.contains("secret"), "{printed}");
        let link = Link::new(
            "junction",
            Url::parse("https://link.example/?token=secrettoken").unwrap(),
            StateToken::new("secretstate"),
            DateTime::from_timestamp(0, 0).unwrap(),
        );
        let printed = format!("{link:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("https://link.example/[redacted]"), "{printed}");
        let in_path = Url::parse("http://127.0.0.1:8/junction/consent/secrettoken").unwrap();
        assert_eq!(redacted_url(&in_path), "http://127.0.0.1:8/[redacted]");
        assert_eq!(redacted_url(&Url::parse("https://h.example/").unwrap()), "https://h.example");
    }

    #[test]
    fn connection_json_is_stable() {
        let c = Connection::new("cred_1", "alloy-headless", "u1", "shopify", ConnectionStatus::failed("token revoked"))
            .with_created_at(DateTime::from_timestamp(1_700_000_000, 0));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id":"cred_1","provider":"alloy-headless","user":"u1","target":"shopify",
                "status":"failed","reason":"token revoked","created_at":"2023-11-14T22:13:20Z"})
        );
        let back: Connection = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn every_status_has_its_json_and_error_still_reads_as_failed() {
        let cases = [
            (ConnectionStatus::Connected, serde_json::json!({"status": "connected"})),
            (ConnectionStatus::Pending, serde_json::json!({"status": "pending"})),
            (
                ConnectionStatus::needs_reauthorization("token_refresh_failed: revoked"),
                serde_json::json!({"status": "needs_reauthorization", "reason": "token_refresh_failed: revoked"}),
            ),
            (ConnectionStatus::failed("unknown"), serde_json::json!({"status": "failed", "reason": "unknown"})),
        ];
        for (status, json) in cases {
            assert_eq!(serde_json::to_value(&status).unwrap(), json);
            assert_eq!(serde_json::from_value::<ConnectionStatus>(json.clone()).unwrap(), status);
            assert_eq!(json["status"], status.as_str());
        }
        // What earlier versions wrote: `error` with a reason.
        let old = serde_json::json!({"id":"c","provider":"junction","user":"u","target":"oura",
            "status":"error","reason":"token_refresh_failed"});
        let read: Connection = serde_json::from_value(old).unwrap();
        assert_eq!(read.status, ConnectionStatus::failed("token_refresh_failed"));
        assert_eq!(read.status.to_string(), "failed: token_refresh_failed");
        assert!(ConnectionStatus::needs_reauthorization("x").is_reauthorization_needed());
        assert!(ConnectionStatus::Connected.is_connected() && ConnectionStatus::Connected.reason().is_none());
        assert_eq!(ConnectionStatus::Pending.to_string(), "pending");
    }

    #[test]
    fn tags_are_bounded_and_typed() {
        let ok = LinkRequest::new("u", "t")
            .with_tag("org", "acme")
            .with_tag("page.from-1_x", "")
            .with_tag("v", "v".repeat(LinkRequest::MAX_TAG_VALUE_LEN));
        ok.validate("novu").unwrap();
        let field = |r: LinkRequest| match r.validate("novu") {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("expected InvalidInput, got {other:?}"),
        };
        let base = || LinkRequest::new("u", "t");
        assert_eq!(field(base().with_tag("Org", "x")), "tags.Org");
        assert_eq!(field(base().with_tag("", "x")), "tags.");
        assert_eq!(field(base().with_tag("a b", "x")), "tags.a b");
        assert_eq!(field(base().with_tag("k".repeat(LinkRequest::MAX_TAG_KEY_LEN + 1), "x")).len(), 5 + 32);
        assert_eq!(field(base().with_tag("ok", "v".repeat(LinkRequest::MAX_TAG_VALUE_LEN + 1))), "tags.ok");
        assert_eq!(field(base().with_tag("ok", "a\nb")), "tags.ok");
        let mut many = base();
        for i in 0..=LinkRequest::MAX_TAGS {
            many = many.with_tag(format!("k{i}"), "v");
        }
        assert_eq!(field(many), "tags");
        let key = "k".repeat(LinkRequest::MAX_TAG_KEY_LEN);
        base().with_tag(key, "x").validate("novu").unwrap();
        // In all: 8 values of 60 bytes fit, of 63 do not; quotes count twice, as the state's
        // JSON has them.
        let tags = |value: &str| (0..LinkRequest::MAX_TAGS).fold(base(), |r, i| r.with_tag(format!("k{i}"), value));
        tags(&"v".repeat(60)).validate("novu").unwrap();
        assert_eq!(field(tags(&"v".repeat(63))), "tags");
        assert_eq!(field(tags(&"\"".repeat(32))), "tags");
    }

    #[tokio::test]
    async fn resolve_reconnect_validates_then_resolves_only_reconnects() {
        let fresh = LinkRequest::new("u", "oura");
        let same = fresh.resolve_reconnect("junction", |_| async { panic!("a new link resolves nothing") }).await;
        assert!(matches!(same.unwrap(), std::borrow::Cow::Borrowed(r) if std::ptr::eq(r, &fresh)));

        let again = LinkRequest::reconnect("u", "uid/oura");
        let resolved = again
            .resolve_reconnect("junction", |id| async move {
                assert_eq!(id, "uid/oura");
                Ok(LinkRequest::new("u", "oura").with_reconnect(id))
            })
            .await
            .unwrap();
        assert_eq!((resolved.target.as_str(), resolved.reconnect.as_deref()), ("oura", Some("uid/oura")));

        let bad = LinkRequest::reconnect("", "uid/oura");
        let err = bad.resolve_reconnect("junction", |_| async { panic!("refused before resolving") }).await;
        assert!(matches!(err, Err(Error::InvalidInput { ref field, .. }) if field == "user"), "{err:?}");
    }

    #[test]
    fn a_reconnect_may_leave_the_target_to_its_connection() {
        let r = LinkRequest::reconnect("u", "uid/oura");
        assert_eq!((r.target.as_str(), r.reconnect.as_deref()), ("", Some("uid/oura")));
        r.validate("junction").unwrap();
        LinkRequest::new("u", "oura").with_reconnect("uid/oura").validate("junction").unwrap();
        let err = LinkRequest::reconnect("u", "..").validate("junction").unwrap_err();
        assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "reconnect"), "{err}");
        assert!(LinkRequest::reconnect("u", "").validate("junction").is_err());
        assert!(LinkRequest::new("u", "").validate("junction").is_err(), "only a reconnect may omit the target");
        assert!(LinkRequest::new("u", "a\nb").with_reconnect("c").validate("junction").is_err());
        let json = serde_json::to_value(LinkRequest::reconnect("u", "c").with_tag("org", "acme")).unwrap();
        assert_eq!(json, serde_json::json!({"user": "u", "target": "", "reconnect": "c", "tags": {"org": "acme"}}));
    }

    #[test]
    fn capabilities_derive_the_redirect_booleans_and_keep_their_json() {
        let hosted = Capabilities::new(CallbackModel::Hosted).with_link_lifetime(Duration::from_secs(300));
        assert!(!hosted.state_in_redirect() && !hosted.requires_redirect_uri());
        let app = Capabilities::new(CallbackModel::AppRedirect).with_regions(["us", "eu"]).with_idempotency(true);
        assert!(app.state_in_redirect() && app.requires_redirect_uri());
        let json = serde_json::to_string(&app).unwrap();
        assert_eq!(
            json,
            r#"{"callback":"app_redirect","state_in_redirect":true,"requires_redirect_uri":true,"disconnect":true,"link_lifetime":null,"idempotency":true,"reconnect_keeps_id":false,"regions":["us","eu"]}"#
        );
        assert_eq!(serde_json::from_str::<Capabilities>(&json).unwrap(), app);
        let read: Capabilities = serde_json::from_value(serde_json::to_value(&hosted).unwrap()).unwrap();
        assert_eq!(read, hosted);
        let keeps = Capabilities::new(CallbackModel::AppRedirect).with_reconnect_keeps_id(true);
        assert_eq!(serde_json::to_value(&keeps).unwrap()["reconnect_keeps_id"], true);
        // JSON written before the field existed reads as `false`.
        let old = r#"{"callback":"hosted","disconnect":true,"link_lifetime":null,"idempotency":false,"regions":[]}"#;
        assert!(!serde_json::from_str::<Capabilities>(old).unwrap().reconnect_keeps_id);
    }
}
