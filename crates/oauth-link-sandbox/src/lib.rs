//! # oauth-link-sandbox
//!
//! A local, in-memory emulator of the four platform APIs behind oauth-link (Alloy Embedded
//! headless mode, the Alloy Connectivity API, Novu chat endpoints/connections and Junction
//! Link) plus a consent page, so the whole account-linking flow runs offline: in end-to-end
//! tests, in a demo, or in your own CI (like stripe-mock).
//!
//! It is written from the provider documentation (paths, methods, auth headers, required
//! fields, status codes and error shapes), not from the oauth-link adapters, so it catches
//! an adapter's mistakes.
//!
//! ## Quick start
//!
//! ```no_run
//! use oauth_link_sandbox::{Platform, Sandbox, SandboxConfig};
//!
//! # async fn demo() -> oauth_link_sandbox::Result<()> {
//! let sb = Sandbox::start(SandboxConfig::default()).await?;
//! let novu_base = sb.base_url(Platform::Novu); // http://127.0.0.1:PORT/novu
//! let novu_key = sb.api_key(Platform::Novu).to_string();
//! println!("{}", sb.settings()); // base_url + api_key for every platform
//! // ... point adapters at it, create a link, then approve it without a browser:
//! // let r = sb.sandbox().approve(&link_url).unwrap(); r.location == where the browser goes
//! sb.shutdown().await?;
//! # let _ = (novu_base, novu_key);
//! # Ok(()) }
//! ```
//!
//! ## How to point an adapter at it
//!
//! Every platform lives under its own prefix, so an adapter's `base_url` is
//! `http://127.0.0.1:PORT/<prefix>` and its key is the sandbox's key for that platform
//! ([`RunningSandbox::settings`] gives both, shaped
//! `{"novu": {"base_url", "api_key"}, "alloy-headless": {..}, "alloy-connectors": {..}, "junction": {..}}`).
//! Any other key gets a 401 in the platform's error shape. Default keys:
//! Alloy `sandbox_alloy_key` (both Alloy APIs), Novu `sandbox_novu_secret_key`,
//! Junction `sk_us_sandbox_junction_key`.
//!
//! ## What it emulates
//!
//! **`/alloy`** (auth `Authorization: bearer <key>`, scheme case-insensitive; header
//! `x-api-version` required, else 400; errors are `{"message": ...}`):
//! `POST /users` `{username, fullName?}` → `{userId}`; `GET /users`; `GET|DELETE /users/{userId}`;
//! `GET /integrations?userId=` (id or username); `GET /integrations/{id}?userId=`;
//! `GET /metadata/credentials`; `GET /metadata/credentials/{app}`;
//! `GET /headless/oauthUrl?userId&app&<properties>` → `{oauthUrl}` (or `{data:{oauthUrl}}`,
//! see [`AlloyOauthUrlShape`]; missing property or non-OAuth app → 400);
//! `GET /users/{userId}/credentials` and `GET /credentials/users/{userId}` →
//! `{data:[{credentialId,type,name,createdAt,updatedAt}]}` (either can be turned into a 404, see
//! [`AlloyCredentialPaths`]); `DELETE /users/{userId}/credentials/{credentialId}` → `{success:true}`;
//! `POST /headless/credentials` `{userId, credential:{type, data}}` → `{success, credentialId}`;
//! `POST /headless/startInstallation`, `POST /headless/completeInstallation`, `GET /installations`.
//! Connectivity: `POST /connectors/{id}/credentials` `{userId, authenticationType:"oauth2",
//! redirectUri (absolute), authConfigId?, data?}` → `{oauthUrl}`; `GET /connectors/{id}/credentials`
//! (user from header `x-alloy-userid`, missing → 400) → `{credentials:[..]}` (`type` is
//! `<connector>-oauth2`); `GET /connectors/{id}/credentials/metadata`;
//! `POST /connectors/{id}/credentials/callback` `{code, state?}` →
//! `{connectionId, credentialId, status:"connected"}` (code single-use). Connector credentials
//! also appear in the user's Embedded credential list.
//!
//! **`/novu`** (auth `Authorization: ApiKey <key>`; errors are `ErrorDto`
//! `{statusCode, timestamp, path, message}`, validation errors 422 `ValidationErrorDto` with
//! `errors: {field: {messages, value?}}`; every response carries `RateLimit-*` headers):
//! `POST /v1/integrations/channel-endpoints/oauth` `{subscriberId, integrationIdentifier,
//! connectionIdentifier?, context?, userScope?}` → 201 `{url}`;
//! `POST /v1/integrations/channel-connections/oauth` `{integrationIdentifier, subscriberId?,
//! connectionIdentifier?, context?, scope?, connectionMode?, autoLinkUser?}` → 201 `{url}`;
//! both honour `idempotency-key` (same key and body within 24 h → the same response with
//! `Idempotency-Replay: true`; same key, other body → 422);
//! `GET /v1/channel-endpoints` (filters `subscriberId`, `integrationIdentifier`,
//! `connectionIdentifier`, `providerId`, `channel`, `contextKeys`; cursor pagination `after`/`before`,
//! `limit` 1..=100 (default 10), `orderDirection` (default `DESC`) →
//! `{data, next, previous, totalCount, totalCountCapped}`); `GET|DELETE /v1/channel-endpoints/{identifier}`
//! (delete → 204); `GET /v1/channel-connections` (same pagination; records include
//! `auth.accessToken`); `GET|DELETE /v1/channel-connections/{identifier}`.
//! Non-paginated bodies are wrapped as `{"data": ...}` by default (`201 {"data": {"url": ...}}`),
//! as Novu's API server does (its global response interceptor; the official SDK unwraps them);
//! [`SandboxConfig::novu_data_envelope`]`(false)` serves the bare DTOs of the OpenAPI instead.
//!
//! **`/junction`** (auth `x-vital-api-key: <key>`; 422 `{detail:[{type, loc, msg, input}]}`;
//! other errors `{detail: ...}`): `POST /v2/user` `{client_user_id}` → `ClientFacingUser`
//! (existing id → 400 `{detail:{error_type:"INVALID_REQUEST", error_message:"Client user id already
//! exists.", user_id, created_on}}`); `GET /v2/user/{user_id}`; `GET /v2/user/resolve/{client_user_id}`;
//! `POST /v2/link/token` `{user_id, provider?, redirect_url?, filter_on_providers?, on_error?, on_close?}`
//! → `{link_token, link_web_url}`; `GET /v2/link/provider/oauth/{provider}` with header
//! `x-vital-link-token` (no API key) → `Source {id, name, slug, description, logo, oauth_url,
//! auth_type, source_type, is_active, ...}` (bad token → 400 `{detail:{error_type:
//! "invalid_token"|"token_expired"|"token_consumed", error_message}}`);
//! `GET /v2/user/providers/{user_id}` → `{providers:[{name, slug, logo, created_on, status,
//! resource_availability, external_user_id}]}`; `DELETE /v2/user/{user_id}/{provider}` → `{success:true}`.
//! Link tokens are single-use (spent when the consent is approved or denied).
//!
//! Link lifetimes: Novu 5 min, Junction 10 min, Alloy 10 min; all configurable
//! ([`SandboxConfig`]), and the sandbox clock can be moved forward ([`Sandbox::advance_clock`],
//! `POST /__sandbox/clock`).
//!
//! ## Bounded memory
//!
//! What the sandbox issues per request is bounded, so a long test run or a 100,000-call
//! benchmark keeps its memory flat: each platform keeps at most
//! [`SandboxConfig::link_capacity`] links (default 10,000: Alloy links and authorization codes,
//! Novu OAuth URLs, Junction link tokens), and Novu at most
//! [`SandboxConfig::idempotency_capacity`] idempotency keys (default 10,000). When a new one
//! finds its store full, the expired (or used-up) entries at the head of the queue go first,
//! then the oldest ones; lookups stay O(1) and an insert costs amortised O(1). A dropped link
//! answers exactly as a link never issued (404 consent page, Junction `invalid_token`, Alloy
//! `Invalid authorization code`, `POST /__sandbox/approve` 404); a forgotten idempotency key is
//! a new request. Below capacity nothing is dropped, so an expired link still answers
//! "expired". Connected records (users, credentials, endpoints, connections, installations)
//! are never dropped.
//!
//! ## Consent pages
//!
//! Each link points to a server-rendered page with two forms, `id="approve"` and `id="deny"`,
//! that POST to `<page>/approve` and `<page>/deny` (works with a browser and with curl):
//!
//! | Platform | Page | Approve | Deny |
//! |---|---|---|---|
//! | Alloy headless | `/alloy/consent/{id}?app=..&userId=..` | credential created; 303 to the configured return URL, else a "you may close this tab" page | 303 to return URL `?error=access_denied`, else a page |
//! | Alloy connectors | `/alloy/consent/{id}?connector=..` | credential created; 303 to `redirectUri` + `code` & `state` (existing query kept) | 303 to `redirectUri` + `error=access_denied&error_description=..&state=..` |
//! | Novu | `/novu/consent/{id}` | endpoint (and/or connection) created; 303 to the integration's redirect URL with no query, else a close-tab page | 400 `OAuth error: access_denied` (text) |
//! | Junction | `/junction/consent/{link_token}?...` (`link_web_url`; `oauth_url` adds `provider=`) | connection created; 303 to `redirect_url` + `state=success` | 303 to `redirect_url` + `state=error&error_type=user_cancelled&error=..` |
//!
//! Links are single-use: a used or expired link shows a 410 page (Junction: a redirect with
//! `error_type=token_consumed` / `token_expired` when it has a `redirect_url`; Novu: 400 text).
//!
//! ## Built-in catalogue
//!
//! * Alloy apps: `shopify` (OAuth, requires property `shopSubdomain`), `slack`, `hubspot` (OAuth),
//!   `netsuite` (API-key credential, `isOauth: false`, fields `realm, consumerKey, consumerSecret,
//!   tokenId, tokenSecret`). One integration per app.
//! * Alloy connectors: `slack`, `notion`, `hubspot` (authenticationType `oauth2`).
//! * Novu integrations: `slack` (endpoint type `slack_user`) and `msteams` (`ms_teams_user`).
//! * Junction providers: every documented OAuth provider (`oura, fitbit, garmin, strava, wahoo,
//!   ihealth, withings, google_fit, dexcom_v3, polar, cronometer, omron, whoop_v2,
//!   my_fitness_pal_v2, ultrahuman, runkeeper, google_health`) plus the password provider
//!   `peloton` (connect it through `link_web_url`; the page asks for a username).
//!
//! `GET /__sandbox/catalogue` returns it as JSON.
//!
//! ## Admin endpoints (`/__sandbox`, never faulted, not logged)
//!
//! * `POST /__sandbox/reset`: clear all state, the request log and the clock offset.
//! * `GET /__sandbox/state`: what was created, per platform (`alloy`, `novu`, `junction`); links,
//!   link tokens and codes as kept (see [Bounded memory](#bounded-memory)), oldest first.
//! * `GET /__sandbox/requests[?platform=&method=&path=<prefix>&since=<seq>]` → `{requests:[{seq, time,
//!   platform, method, path, query, headers (secrets masked: `Authorization: ApiKey ***`), body
//!   (JSON when JSON), status, fault, latency_ms}]}`; `DELETE` clears it.
//! * `GET|POST /__sandbox/faults`: read or replace the fault setting (JSON below).
//! * `POST /__sandbox/approve` and `/__sandbox/deny` `{"url": "<link url or id>", "provider"?,
//!   "username"?}` → `{platform, link_id, status, location, body}`: what the browser would get.
//! * `GET|POST /__sandbox/clock` `{"advance_seconds": N}`: read or move the sandbox clock.
//! * `GET /__sandbox/settings`: the settings JSON; `GET /__sandbox/health`.
//!
//! ## Fault injection
//!
//! ```json
//! {"seed": 42, "rate_429": 0.1, "retry_after_secs": 1, "rate_500": 0.05, "rate_503": 0.05,
//!  "latency_ms": 200, "latency_rate": 0.5, "rate_truncated": 0.02, "rate_malformed": 0.02,
//!  "rate_drop": 0.02, "platforms": ["novu"]}
//! ```
//!
//! All fields are optional (rates default to 0, `latency_rate` to 1, `platforms` empty = all).
//! `"fail_next": [401, 403]` answers the next two platform API calls in scope with those
//! statuses, in the platform's error shape, before any rate applies (each used once): a
//! test can make exactly one call fail as with a bad key, a missing permission or an outage.
//! 429/500/503 answer in the platform's error shape before the handler runs (429 and 503 carry
//! `Retry-After`); `truncated`, `malformed` and `drop` (the connection breaks mid-body) damage
//! the response after the handler ran, as a real network fault would. Faulted responses carry
//! the header `x-sandbox-fault: <kind>` (except `drop`). A `drop` sends the status, the headers
//! and half the body, then closes the connection (when the sandbox is embedded in another
//! server, the connection closes before anything is sent). Faults never apply to
//! `/__sandbox/*` or consent pages. Decisions come from a `StdRng` seeded with `seed`: the same
//! seed and the same request sequence give the same faults. See [`FaultConfig`].
//!
//! ## Embedding
//!
//! [`Sandbox::new`] + [`Sandbox::router`] give an `axum::Router` to nest in another app
//! (`app.nest("/sandbox", sandbox.router())`); link URLs then use the request's `Host` plus the
//! mount path, unless [`SandboxConfig::public_url`] is set.

#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod admin;
mod alloy;
mod canonical;
mod catalogue;
mod config;
mod consent;
mod dropio;
mod error;
mod junction;
mod middleware;
mod novu;
mod server;
mod state;
mod store;

pub use config::{
    AlloyCredentialPaths, AlloyOauthUrlShape, FaultConfig, Platform, SandboxConfig, DEFAULT_ALLOY_API_KEY,
    DEFAULT_JUNCTION_API_KEY, DEFAULT_NOVU_API_KEY,
};
pub use consent::ConsentResult;
pub use error::{Result, SandboxError};
pub use server::{RunningSandbox, Sandbox};
