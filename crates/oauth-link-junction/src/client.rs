//! The Junction HTTP calls.

use std::sync::Arc;

use http::header::HeaderMap;
use http::Method;
use oauth_link_core::http::{header_name, secret_header, ApiClient, Call, HttpResponse, HttpTransport, Idempotency};
use oauth_link_core::{secret::LinkToken, ApiKey, Error, Result, Url};
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

/// Two API clients over one pooled transport: `api` sends the team key, `public` sends
/// nothing but what a call adds (the OAuth-URL call is `security: []` and takes the link
/// token instead; the key must not travel with it).
#[derive(Debug, Clone)]
pub(crate) struct JunctionClient {
    api: ApiClient,
    public: ApiClient,
    api_key: ApiKey,
}

impl JunctionClient {
    pub(crate) fn new(config: &JunctionConfig, transport: Arc<dyn HttpTransport>) -> Result<Self> {
        let mut headers = HeaderMap::new();
        headers.insert(header_name(API_KEY_HEADER), secret_header(config.api_key.expose())?);
        let base = config.base_url();
        let retry = config.common.retry.clone();
        Ok(Self {
            api: ApiClient::new(KIND, base.clone(), headers, transport.clone(), retry.clone()),
            public: ApiClient::new(KIND, base, HeaderMap::new(), transport, retry),
            api_key: config.api_key.clone(),
        })
    }

    pub(crate) fn base_url(&self) -> &Url {
        self.api.base_url()
    }

    fn fail(&self, response: &HttpResponse, extra: Option<&LinkToken>) -> Error {
        let mut secrets = vec![self.api_key.expose()];
        if let Some(token) = extra {
            secrets.push(token.expose());
        }
        map_error(response, &secrets)
    }

    /// `GET /v2/user/resolve/{client_user_id}`: the Junction `user_id`, `None` on 404.
    pub(crate) async fn resolve_user(&self, client_user_id: &str) -> Result<Option<String>> {
        let url = self.api.url(&["v2", "user", "resolve", client_user_id]);
        let response = self
            .api
            .execute(Call {
                operation: "resolve_user",
                path_template: "/v2/user/resolve/{client_user_id}",
                request: self.api.request(Method::GET, url),
                // A read.
                idempotency: Idempotency::Idempotent,
            })
            .await?;
        match response.status {
            200..=299 => {
                let user: ClientFacingUser =
                    self.api.decode(&response, "a ClientFacingUser", &[self.api_key.expose()])?;
                Ok(Some(checked_user_id(user.user_id, &response)?))
            }
            404 => Ok(None),
            _ => Err(self.fail(&response, None)),
        }
    }

    /// `POST /v2/user {client_user_id}`: the new `user_id`, or the existing one from the
    /// 400 "already exists" answer (`detail.user_id`).
    ///
    /// Sent as [`Idempotency::Idempotent`]: a repeat (after a lost answer) is answered 400
    /// "already exists" with the existing `user_id`, which is taken, so it never duplicates.
    /// Not [`Idempotency::Keyed`]: no idempotency key travels, and a 409 is no "in progress".
    ///
    /// The flag is true when this call registered the user (200): a brand-new user has no
    /// providers. The "already exists" answer gives `false`.
    pub(crate) async fn create_user(&self, client_user_id: &str) -> Result<(String, bool)> {
        let url = self.api.url(&["v2", "user"]);
        let body = UserCreateBody { client_user_id };
        let response = self
            .api
            .execute(Call {
                operation: "create_user",
                path_template: "/v2/user",
                request: self.api.json_request(Method::POST, url, &body),
                // Safe to repeat: a conflict resolves to the existing user (see above).
                idempotency: Idempotency::Idempotent,
            })
            .await?;
        if response.is_success() {
            let user: ClientFacingUser = self.api.decode(&response, "a ClientFacingUser", &[self.api_key.expose()])?;
            return Ok((checked_user_id(user.user_id, &response)?, true));
        }
        if response.status == 400 {
            if let Ok(ErrorResponse { detail: Some(Detail::Object(detail)), .. }) =
                serde_json::from_slice::<ErrorResponse>(&response.body)
            {
                if let Some(user_id) = detail.user_id.filter(|id| crate::users::is_uuid(id)) {
                    tracing::debug!("client_user_id already registered at Junction; reusing its user_id");
                    return Ok((user_id, false));
                }
            }
        }
        Err(self.fail(&response, None))
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
        let url = self.api.url(&["v2", "link", "token"]);
        let body = LinkTokenExchange { user_id, provider, redirect_url, on_close: REDIRECT, on_error: REDIRECT };
        let response = self
            .api
            .execute(Call {
                operation: "link_token",
                path_template: "/v2/link/token",
                request: self.api.json_request(Method::POST, url, &body),
                // Safe to repeat: a repeat mints another token; the unused one expires.
                idempotency: Idempotency::Idempotent,
            })
            .await?;
        if !response.is_success() {
            return Err(self.fail(&response, None));
        }
        // The body holds the token: on a decode failure keep no excerpt of it.
        let withheld = |message: String| Error::Decode {
            provider: KIND,
            message,
            body: "[withheld: the answer may carry the link token]".into(),
        };
        let parsed: LinkTokenExchangeResponse = serde_json::from_slice(&response.body).map_err(|e| {
            withheld(format!(
                "expected a LinkTokenExchangeResponse {{link_token, link_web_url}} (HTTP {}): {}",
                response.status,
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

    /// `GET /v2/link/provider/oauth/{provider}` with the link token and without the API
    /// key: the `oauth_url` of the `Source`, when Junction gives one.
    pub(crate) async fn oauth_url(&self, provider: &str, token: &LinkToken) -> Result<Option<Url>> {
        let url = self.public.url(&["v2", "link", "provider", "oauth", provider]);
        let mut request = self.public.request(Method::GET, url);
        request.headers.insert(
            header_name(LINK_TOKEN_HEADER),
            secret_header(token.expose()).map_err(|_| {
                Error::decode(KIND, "Junction returned a link token that is not a valid header value", b"[withheld]")
            })?,
        );
        let response = self
            .public
            .execute(Call {
                operation: "oauth_url",
                path_template: "/v2/link/provider/oauth/{oauth_provider}",
                request,
                // A read of the provider's OAuth URL for this token.
                idempotency: Idempotency::Idempotent,
            })
            .await?;
        if !response.is_success() {
            return Err(self.fail(&response, Some(token)));
        }
        let source: Source = self.public.decode(&response, "a Source", &[self.api_key.expose(), token.expose()])?;
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
        let url = self.api.url(&["v2", "user", "providers", user_id]);
        let response = self
            .api
            .execute(Call {
                operation: "list_providers",
                path_template: "/v2/user/providers/{user_id}",
                request: self.api.request(Method::GET, url),
                // A read.
                idempotency: Idempotency::Idempotent,
            })
            .await?;
        if !response.is_success() {
            return Err(self.fail(&response, None));
        }
        let list: ProvidersResponse =
            self.api.decode(&response, "{providers: [ClientFacingProviderWithStatus]}", &[self.api_key.expose()])?;
        Ok(list.providers)
    }

    /// `DELETE /v2/user/{user_id}/{provider}`.
    pub(crate) async fn deregister(&self, user_id: &str, provider: &str) -> Result<()> {
        let url = self.api.url(&["v2", "user", user_id, provider]);
        let response = self
            .api
            .execute(Call {
                operation: "deregister_provider",
                path_template: "/v2/user/{user_id}/{provider}",
                request: self.api.request(Method::DELETE, url),
                // A DELETE: deregistering twice leaves the same state.
                idempotency: Idempotency::Idempotent,
            })
            .await?;
        if !response.is_success() {
            return Err(self.fail(&response, None));
        }
        let answer: SuccessResponse = self.api.decode(&response, "{success: bool}", &[self.api_key.expose()])?;
        if answer.success {
            Ok(())
        } else {
            Err(Error::Provider {
                provider: KIND,
                status: response.status,
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
        let url = self.public.url(&["v2", "link", "providers"]);
        let response = self
            .public
            .execute(Call {
                operation: "list_targets",
                path_template: "/v2/link/providers",
                request: self.public.request(Method::GET, url),
                // A read.
                idempotency: Idempotency::Idempotent,
            })
            .await?;
        if !response.is_success() {
            return Err(self.fail(&response, None));
        }
        let entries: Vec<serde_json::Value> =
            self.public.decode(&response, "an array of SourceLink", &[self.api_key.expose()])?;
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
fn checked_user_id(user_id: String, response: &HttpResponse) -> Result<String> {
    if crate::users::is_uuid(&user_id) {
        Ok(user_id)
    } else {
        Err(Error::decode(KIND, "expected a ClientFacingUser whose user_id is a UUID", &response.body))
    }
}
