//! The Junction HTTP calls.

use std::sync::Arc;

use http::header::HeaderMap;
use http::Method;
use oauth_link_core::http::{header_name, secret_header, ApiClient, HttpTransport, Idempotency, Reply};
use oauth_link_core::{secret::LinkToken, Error, Result, Url};
use serde_json::value::RawValue;

use crate::config::JunctionConfig;
use crate::error::map_error;
use crate::wire::{
    ClientFacingUser, Detail, ErrorResponse, LinkTokenExchange, LinkTokenExchangeResponse, ProvidersResponse, Source,
    SourceLink, SuccessResponse, UserCreateBody, REDIRECT,
};
use crate::KIND;

/// Header carrying the team API key.
pub(crate) const API_KEY_HEADER: &str = "x-vital-api-key";
/// Header carrying the link token on the OAuth-URL call.
pub(crate) const LINK_TOKEN_HEADER: &str = "x-vital-link-token";

/// What `POST /v2/link/token` gave: the single-use token and the hosted widget URL (which
/// embeds the token, so it is kept secret too). The URL stays text until it is the link
/// (an OAuth provider's link is its own URL: parsing the widget's would be wasted work).
pub(crate) struct IssuedLink {
    pub(crate) token: LinkToken,
    web_url: String,
}

impl IssuedLink {
    /// The widget URL, checked to be http(s).
    pub(crate) fn web_url(&self) -> Result<Url> {
        Url::parse(&self.web_url).ok().filter(|u| matches!(u.scheme(), "https" | "http")).ok_or_else(|| Error::Decode {
            provider: KIND,
            message: "link_web_url is not an http(s) URL".into(),
            body: "[withheld: the answer may carry the link token]".into(),
        })
    }
}

impl std::fmt::Debug for IssuedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedLink").field("token", &self.token).field("web_url", &"[redacted]").finish()
    }
}

/// Two API clients over one pooled transport, both mapping errors with [`map_error`] and
/// scrubbing what they send from every error: `api` sends the team key (a sensitive
/// header), `public` sends nothing but what a call adds (the OAuth-URL call is
/// `security: []` and takes the link token, marked sensitive, instead; the key must not
/// travel with it, but the public client scrubs it too: an answer echoing it (a proxy's
/// error page, a misrouted request) must not put it in an error).
#[derive(Debug, Clone)]
pub(crate) struct JunctionClient {
    api: ApiClient,
    public: ApiClient,
}

impl JunctionClient {
    pub(crate) fn new(config: &JunctionConfig, transport: Arc<dyn HttpTransport>) -> Result<Self> {
        let mut headers = HeaderMap::new();
        headers.insert(header_name(API_KEY_HEADER), secret_header(config.api_key.expose())?);
        let base = config.base_url();
        let retry = config.common.retry.clone();
        Ok(Self {
            api: ApiClient::new(KIND, base.clone(), headers, transport.clone(), retry.clone()).with_errors(map_error),
            public: ApiClient::new(KIND, base, HeaderMap::new(), transport, retry)
                .with_errors(map_error)
                .with_secret(config.api_key.expose()),
        })
    }

    pub(crate) fn base_url(&self) -> &Url {
        self.api.base_url()
    }

    /// `GET /v2/user/resolve/{client_user_id}`: the Junction `user_id`, `None` on 404.
    pub(crate) async fn resolve_user(&self, client_user_id: &str) -> Result<Option<String>> {
        // A read: retried by default.
        let call = self.api.call(Method::GET, "resolve_user", "/v2/user/resolve/{client_user_id}", &[client_user_id]);
        let reply = self.api.exchange(call).await?;
        match reply.status() {
            200..=299 => {
                let user: ClientFacingUser = reply.json("a ClientFacingUser")?;
                Ok(Some(checked_user_id(user.user_id, &reply)?))
            }
            404 => Ok(None),
            _ => Err(reply.error()),
        }
    }

    /// `GET /v2/user/{user_id}`: the user's `client_user_id`, `None` on 404 (the webhook
    /// user mapping, when an event does not carry it).
    pub(crate) async fn client_user_id(&self, user_id: &str) -> Result<Option<String>> {
        // A read: retried by default.
        let call = self.api.call(Method::GET, "get_user", "/v2/user/{user_id}", &[user_id]);
        let reply = self.api.exchange(call).await?;
        match reply.status() {
            200..=299 => {
                let user: ClientFacingUser = reply.json("a ClientFacingUser")?;
                Ok(user.client_user_id.filter(|id| !id.is_empty()))
            }
            404 => Ok(None),
            _ => Err(reply.error()),
        }
    }

    /// `POST /v2/user {client_user_id}`: the new `user_id`, or the existing one from the
    /// 400 "already exists" answer (`detail.user_id`).
    ///
    /// Sent as [`Idempotency::Idempotent`]: a repeat (after a lost answer) is answered 400
    /// "already exists" with the existing `user_id`, which is taken, so it never duplicates.
    /// Not [`Idempotency::Keyed`]: no idempotency key travels, and a 409 is no "in progress".
    ///
    /// A 400 whose body does not carry the `user_id` (cut or garbled) is settled by
    /// [`resolve_user`](Self::resolve_user): the user found is reused, else the 400 stands.
    ///
    /// The flag is true when this call registered the user (200): a brand-new user has no
    /// providers. The "already exists" answer gives `false`.
    pub(crate) async fn create_user(&self, client_user_id: &str) -> Result<(String, bool)> {
        let call = self
            .api
            .call(Method::POST, "create_user", "/v2/user", &[])
            .json(&UserCreateBody { client_user_id })
            // Safe to repeat: a conflict resolves to the existing user (see above).
            .idempotency(Idempotency::Idempotent);
        let reply = self.api.exchange(call).await?;
        if reply.is_success() {
            let user: ClientFacingUser = reply.json("a ClientFacingUser")?;
            return Ok((checked_user_id(user.user_id, &reply)?, true));
        }
        if reply.status() == 400 {
            if let Ok(ErrorResponse { detail: Some(Detail::Object(detail)), .. }) =
                serde_json::from_slice::<ErrorResponse>(reply.body())
            {
                if let Some(user_id) = detail.user_id.filter(|id| crate::users::is_uuid(id)) {
                    tracing::debug!("client_user_id already registered at Junction; reusing its user_id");
                    return Ok((user_id, false));
                }
            }
            // A 400 without a readable user_id may still be "already exists" (a repeat
            // after a lost answer, its body cut or garbled): ask Junction before calling it
            // a refusal, which would be final.
            if let Some(user_id) = self.resolve_user(client_user_id).await? {
                tracing::debug!("client_user_id registered at Junction despite an unreadable 400; reusing its user_id");
                return Ok((user_id, false));
            }
        }
        Err(reply.error())
    }

    /// `POST /v2/link/token` with `on_close` and `on_error` = `"redirect"` (so a cancelled
    /// or failed widget comes back to the app as `state=error`).
    ///
    /// Each call mints a new single-use token; repeating it is harmless (a token the user
    /// never opens simply expires), so it is retried like a read.
    pub(crate) async fn link_token(
        &self,
        user_id: &str,
        provider: Option<&str>,
        redirect_url: &str,
    ) -> Result<IssuedLink> {
        let body = LinkTokenExchange { user_id, provider, redirect_url, on_close: REDIRECT, on_error: REDIRECT };
        let call = self
            .api
            .call(Method::POST, "link_token", "/v2/link/token", &[])
            .json(&body)
            // Safe to repeat: a repeat mints another token; the unused one expires.
            .idempotency(Idempotency::Idempotent);
        let reply = self.api.send(call).await?;
        // The body holds the token: on a decode failure keep no excerpt of it.
        let withheld = |message: String| Error::Decode {
            provider: KIND,
            message,
            body: "[withheld: the answer may carry the link token]".into(),
        };
        let parsed: LinkTokenExchangeResponse = serde_json::from_slice(reply.body()).map_err(|e| {
            withheld(format!(
                "expected a LinkTokenExchangeResponse {{link_token, link_web_url}} (HTTP {}): {}",
                reply.status(),
                serde_error_kind(&e)
            ))
        })?;
        if parsed.link_token.is_empty() {
            return Err(withheld("link_token is empty".into()));
        }
        // It travels back as a header: refuse what is not visible ASCII rather than send it.
        if !parsed.link_token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(withheld("link_token is not visible ASCII".into()));
        }
        Ok(IssuedLink { token: LinkToken::new(parsed.link_token), web_url: parsed.link_web_url })
    }

    /// `GET /v2/link/provider/oauth/{provider}` with the link token (a sensitive header, so
    /// the client scrubs it from every error of this call) and without the API key: the
    /// `oauth_url` of the `Source`, when Junction gives one.
    pub(crate) async fn oauth_url(&self, provider: &str, token: &LinkToken) -> Result<Option<Url>> {
        let token_header = secret_header(token.expose()).map_err(|_| {
            Error::decode(KIND, "Junction returned a link token that is not a valid header value", b"[withheld]")
        })?;
        // A read of the provider's OAuth URL for this token: retried by default.
        let call = self
            .public
            .call(Method::GET, "oauth_url", "/v2/link/provider/oauth/{oauth_provider}", &[provider])
            .header(header_name(LINK_TOKEN_HEADER), token_header);
        let source: Source = self.public.json(call, "a Source").await?;
        match source.oauth_url.filter(|u| !u.is_empty()) {
            None => Ok(None),
            Some(text) => Url::parse(&text)
                .ok()
                .filter(|u| matches!(u.scheme(), "https" | "http"))
                .map(Some)
                .ok_or_else(|| Error::decode(KIND, "Source.oauth_url is not an http(s) URL", b"[withheld]")),
        }
    }

    /// `GET /v2/user/providers/{user_id}`: the raw `ClientFacingProviderWithStatus` records.
    pub(crate) async fn providers(&self, user_id: &str) -> Result<Vec<Box<RawValue>>> {
        // A read: retried by default.
        let call = self.api.call(Method::GET, "list_providers", "/v2/user/providers/{user_id}", &[user_id]);
        let list: ProvidersResponse = self.api.json(call, "{providers: [ClientFacingProviderWithStatus]}").await?;
        Ok(list.providers)
    }

    /// `DELETE /v2/user/{user_id}/{provider}`.
    pub(crate) async fn deregister(&self, user_id: &str, provider: &str) -> Result<()> {
        // A DELETE, retried by default: deregistering twice leaves the same state.
        let call =
            self.api.call(Method::DELETE, "deregister_provider", "/v2/user/{user_id}/{provider}", &[user_id, provider]);
        let reply = self.api.send(call).await?;
        let answer: SuccessResponse = reply.json("{success: bool}")?;
        if answer.success {
            Ok(())
        } else {
            Err(Error::Provider {
                provider: KIND,
                status: reply.status(),
                code: None,
                message: format!("Junction answered success=false when deregistering `{provider}`"),
            })
        }
    }

    /// `GET /v2/link/providers`: the catalogue, as Junction lists it (a bare array of
    /// `SourceLink`). Sent through the public client, like the OAuth-URL call: the
    /// operation is `security: []` and the official Node SDK sends no key, so the key does
    /// not travel where it is not read. Entries that do not decode are skipped.
    pub(crate) async fn link_providers(&self) -> Result<Vec<SourceLink>> {
        // A read: retried by default.
        let call = self.public.call(Method::GET, "list_targets", "/v2/link/providers", &[]);
        let entries: Vec<serde_json::Value> = self.public.json(call, "an array of SourceLink").await?;
        Ok(entries
            .into_iter()
            .filter_map(|entry| {
                serde_json::from_value::<SourceLink>(entry)
                    .map_err(|e| tracing::debug!(error = %e, "skipping a SourceLink that does not decode"))
                    .ok()
            })
            .collect())
    }
}

/// A serde error's category and position, without the offending text (it could be a token).
fn serde_error_kind(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "malformed JSON",
        serde_json::error::Category::Data => "unexpected shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!("{kind} at line {} column {}", e.line(), e.column())
}

/// A Junction `user_id` as Junction answered it: a UUID, or a decode error (it goes into
/// request paths and bodies, where anything else would address something else).
fn checked_user_id(user_id: String, reply: &Reply) -> Result<String> {
    if crate::users::is_uuid(&user_id) {
        Ok(user_id)
    } else {
        Err(reply.scrub(Error::decode(KIND, "expected a ClientFacingUser whose user_id is a UUID", reply.body())))
    }
}

#[cfg(test)]
mod tests {
    use httpmock::prelude::*;
    use oauth_link_core::http::RetryPolicy;
    use oauth_link_core::LinkContext;
    use serde_json::json;

    use super::*;

    const UID: &str = "0d6f0ab2-3c0a-4f0e-9f43-3d7f5c8a8a11";

    fn client(server: &MockServer) -> JunctionClient {
        let mut config = JunctionConfig::new("sk_us_test_key");
        config.common.base_url = Some(Url::parse(&server.base_url()).unwrap());
        config.common.retry = RetryPolicy::none();
        let transport = LinkContext::ephemeral().transport(&(&config.common.http).into()).unwrap();
        JunctionClient::new(&config, transport).unwrap()
    }

    async fn mock_create<'a>(server: &'a MockServer, body: &'static str) -> httpmock::Mock<'a> {
        server
            .mock_async(|when, then| {
                when.method(POST).path("/v2/user").json_body(json!({"client_user_id": "ada"}));
                then.status(400).header("content-type", "application/json").body(body);
            })
            .await
    }

    #[tokio::test]
    async fn an_unreadable_400_is_settled_by_resolving_the_user() {
        let server = MockServer::start_async().await;
        let create = mock_create(&server, r#"{"detail": {"error_type": "INVALID_REQUEST", "user_"#).await;
        let resolve = server
            .mock_async(|when, then| {
                when.method(GET).path("/v2/user/resolve/ada").header(API_KEY_HEADER, "sk_us_test_key");
                then.status(200).json_body(json!({"user_id": UID, "client_user_id": "ada", "team_id": "t"}));
            })
            .await;
        assert_eq!(client(&server).create_user("ada").await.unwrap(), (UID.to_owned(), false));
        create.assert_calls_async(1).await;
        resolve.assert_calls_async(1).await;
    }

    #[tokio::test]
    async fn an_unreadable_400_for_an_unknown_user_stays_a_refusal() {
        let server = MockServer::start_async().await;
        mock_create(&server, "<html>Bad Request</html>").await;
        server
            .mock_async(|when, then| {
                when.method(GET).path("/v2/user/resolve/ada");
                then.status(404).json_body(json!({"detail": "User not found"}));
            })
            .await;
        let err = client(&server).create_user("ada").await.unwrap_err();
        assert!(matches!(err, Error::Provider { status: 400, .. } | Error::InvalidInput { .. }), "{err:?}");
        assert!(!err.is_retryable(), "{err:?}");
    }
}
