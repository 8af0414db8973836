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
//! The sandbox is as strict as the platforms, never more lenient: what a platform refuses, it
//! refuses with the platform's status and error shape. Where the documents are silent it picks
//! the stricter reading and says so (UNCONFIRMED below).
//!
//! **`/alloy`** (auth `Authorization: bearer <key>`, scheme case-insensitive; header
//! `x-api-version: 2025-09` required: missing or any other value → 400; errors are
//! `{"message": ...}`):
//! * Users: `POST /users` `{username, fullName?}` → `{userId}` (a second create with an existing
//!   username is refused, 400 by default, see [`SandboxConfig::alloy_duplicate_username_status`];
//!   UNCONFIRMED which status Alloy uses); `GET /users`; `GET|DELETE /users/{userId}`, where
//!   `{userId}` may also be the username, percent-decoded (`/users/a%40b.com`); an unknown one is
//!   404 `{"message": "User not found"}` (status UNCONFIRMED, assumed). Every `userId` parameter
//!   below accepts the username the same way.
//! * Catalogue: `GET /integrations?userId=` (userId required, else 400) → `{data:[{integrationId,
//!   description, primaryConnector, installed, icon, workflows:[{workflowId, name, installed,
//!   active, version, connectors:[{name, id, connector, icon, subtitle}]}], credentials}]}`; as in
//!   the 2025-09 example `primaryConnector` is the display name (`Shopify`) and the app name to
//!   pass as `app` is the workflow connector's `connector` (`shopify`). There is no auth kind on
//!   an integration: it comes from `GET /metadata/credentials` (`isOauth`, `properties`).
//!   `GET /integrations/{id}?userId=`; `GET /metadata/credentials`;
//!   `GET /metadata/credentials/{app}`.
//! * `GET /headless/oauthUrl?userId&app&<properties>` → `{oauthUrl}` (or `{data:{oauthUrl}}`,
//!   see [`AlloyOauthUrlShape`]; missing property or non-OAuth app → 400).
//! * Credentials: `GET /credentials/users/{userId}` (the 2025-09 reference path) and
//!   `GET /users/{userId}/credentials` (guide/SDK path) → `{data:[{credentialId, type, name,
//!   createdAt, updatedAt}]}`; either can be turned into a 404, see [`AlloyCredentialPaths`].
//!   `DELETE /users/{userId}/credentials/{credentialId}` → `{success:true}`; a credential that is
//!   not the user's (or does not exist) → 404 `{"message": "Credential not found"}`; the
//!   documented `{success: false}` 200 body is never produced on its own (the docs give no case)
//!   but can be queued with [`FaultConfig::alloy_delete_success_false`].
//!   `POST /headless/credentials` `{userId, credential:{type, data}}` → `{success, credentialId}`;
//!   `POST /headless/startInstallation`, `POST /headless/completeInstallation`, `GET /installations`.
//! * Re-link: every approved link creates a *new* credential (new `credentialId`,
//!   `createdAt = updatedAt =` approval time); earlier credentials of the same app or connector
//!   are kept unchanged ("a user can have multiple credentials for the same connector",
//!   Connectivity docs; the same assumed for headless apps, UNCONFIRMED). A denied link creates
//!   and changes nothing.
//! * Connectivity: `GET /connectors` → `{connectors:[{id, name, icon, authenticationTypes}]}` and
//!   `GET /connectors/{id}` → one of them (the docs name `GET /connectors` and say to render
//!   names and logos and use `id` as `connectorId`; the response shape is UNCONFIRMED);
//!   `POST /connectors/{id}/credentials` `{userId, authenticationType:"oauth2", redirectUri
//!   (absolute), authConfigId?, data?}` → `{oauthUrl}`; `GET /connectors/{id}/credentials` (user
//!   from header `x-alloy-userid`, missing → 400) → `{credentials:[..]}` (`type` is
//!   `<connector>-oauth2`); `GET /connectors/{id}/credentials/metadata`;
//!   `POST /connectors/{id}/credentials/callback` `{code, state?}` →
//!   `{connectionId, credentialId, status:"connected"}` (code single-use). Connector credentials
//!   also appear in the user's Embedded credential list.
//!
//! **`/novu`** (auth `Authorization: ApiKey <key>`; errors are `ErrorDto`
//! `{statusCode, timestamp, path, message}`, validation errors 422 `ValidationErrorDto` with
//! `errors: {field: {messages, value?}}`; every response carries `RateLimit-*` headers):
//! * Subscribers: `POST /v2/subscribers[?failIfExists=true]` `{subscriberId, firstName?,
//!   lastName?, email?, phone?, avatar?, locale?, timezone?, data?}` is an upsert → 201
//!   `SubscriberResponseDto {_id, subscriberId, <fields set>, _environmentId, _organizationId,
//!   deleted, lastOnlineAt, isOnline, createdAt, updatedAt}` (an update sets only the fields
//!   sent); with `failIfExists=true` an existing id → 409 `Subscriber with id "<id>" already
//!   exists`. `subscriberId` must be an email address or letters, digits, `-` and `_` (as
//!   Novu's validation message says; the exact regex is UNCONFIRMED), else 422.
//!   `GET /v2/subscribers/{id}` → 200, or 404 `Subscriber: <id> was not found`;
//!   `DELETE /v2/subscribers/{id}` → 200 `{acknowledged: true, status: "deleted"}`, or 404
//!   `Subscriber was not found`.
//! * `GET /v1/integrations` → `IntegrationResponseDto[]` `{_id, _environmentId, _organizationId,
//!   name, identifier, providerId, channel, active, deleted, primary, conditions}` (no
//!   `credentials` for API-key callers), every channel: `slack` and `msteams` (chat, OAuth),
//!   `telegram` (chat, no OAuth), `novu-in-app` (in_app), `sendgrid` (email).
//! * `POST /v1/integrations/channel-endpoints/oauth` `{subscriberId, integrationIdentifier,
//!   connectionIdentifier?, context?, contextHash?, userScope?}` → 201 `{url}`;
//!   `POST /v1/integrations/channel-connections/oauth` `{integrationIdentifier, subscriberId?,
//!   connectionIdentifier?, context?, contextHash?, scope?, connectionMode?, autoLinkUser?}` →
//!   201 `{url}`. Checked in Novu's order: body (422) → integration (404 `Integration not found:
//!   <id> in environment <env>`; only `slack` and `msteams` qualify) → context HMAC (below) →
//!   connection mode (400 `context is required when connectionMode is "shared"`,
//!   `subscriberId is required when connectionMode is "subscriber"`, `Either subscriberId or
//!   context must be provided`) → subscriber (404 `Subscriber not found: <id>` whenever a
//!   `subscriberId` is given and unknown; ids prefixed `connect:` are created on the fly as
//!   Novu's dashboard convention does).
//! * Context HMAC: an integration protected like `credentials.hmac: true`
//!   ([`SandboxConfig::novu_integration_hmac`], [`Sandbox::set_novu_integration_hmac`],
//!   `POST /__sandbox/novu/integrations/{identifier}`) needs `context` (else 400 `A context is
//!   required when HMAC validation is enabled.`) and `contextHash` (else 400 `A valid contextHash
//!   is required when HMAC validation is enabled.`) equal to lower-case hex HMAC-SHA256(key = the
//!   API key, message = OLPC canonical JSON of `context`: keys sorted by UTF-16 code unit, no
//!   whitespace, only `"` and `\` escaped, integers only), else 400 `Please provide a valid context
//!   HMAC hash`.
//! * Strict bodies: a field the DTO does not declare, or of the wrong type, is 422 (`property X
//!   should not exist`, `X must be a string`, ...). Novu may drop an unknown field silently;
//!   the sandbox refuses it so a client's typo is visible.
//! * Idempotency (every POST here): `idempotency-key` over 255 characters → 400; a key whose first
//!   request is still being processed → 409 `Request with key "<k>" is currently being
//!   processed. Please retry after 1 second` with `Retry-After: 1` (make requests slow with
//!   [`FaultConfig::processing_ms`]); the same key and body (compared as sent, key order
//!   included) within 24 h → the stored answer again, a 2xx or a 4xx error, with
//!   `Idempotency-Replay: true`; the same key with another body → 422.
//! * Consent (Novu's OAuth callback): `link_user` creates a new endpoint `chendp_<12>` every time
//!   (a re-link adds one; earlier ones are untouched; `createdAt = updatedAt`); with a
//!   `connectionIdentifier` that connection must exist (else 404 JSON `Channel connection not
//!   found: <id>`, nothing created). `connect` creates a connection (`connectionIdentifier` or
//!   `chconn-<6>`); `connectionMode: shared` makes it the context's (`subscriberId: null`);
//!   a second connection for the same integration + subscriber + exact context, or an existing
//!   identifier, is 409 JSON and nothing is created or changed; `autoLinkUser` (default true
//!   unless shared) with a `subscriberId` also creates the user's endpoint. A subscriber
//!   deleted meanwhile → 404 JSON. A denial creates and changes nothing.
//! * Lists: `GET /v1/channel-endpoints` (filters `subscriberId`, `integrationIdentifier`,
//!   `connectionIdentifier`, `providerId`, `channel`, `contextKeys`); `GET /v1/channel-connections`
//!   (same, plus `connectionMode=subscriber|shared`; no `connectionIdentifier`); `contextKeys`
//!   matches the exact set (repeat the parameter or separate with commas; empty = records without
//!   context). Cursor pagination `after`/`before` (both → 400), `limit` 1..=100 (default 10),
//!   `orderDirection` (default `DESC`) → `{data, next, previous, totalCount, totalCountCapped}`;
//!   `GET|DELETE /v1/channel-endpoints/{identifier}` (delete → 204);
//!   `GET|DELETE /v1/channel-connections/{identifier}` (records include `auth.accessToken`).
//! * Non-paginated bodies are wrapped as `{"data": ...}` by default (`201 {"data": {"url": ...}}`),
//!   as Novu's API server does (its global response interceptor; the official SDK unwraps them);
//!   [`SandboxConfig::novu_data_envelope`]`(false)` serves the bare DTOs of the OpenAPI instead.
//!
//! **`/junction`** (auth `x-vital-api-key: <key>`; 422 `{detail:[{type, loc, msg, input}]}`;
//! other errors `{detail: ...}`): `POST /v2/user` `{client_user_id}` → `ClientFacingUser`
//! (existing id → 400 `{detail:{error_type:"INVALID_REQUEST", error_message:"Client user id already
//! exists.", user_id, created_on}}`); `GET /v2/user/{user_id}`; `GET /v2/user/resolve/{client_user_id}`;
//! `POST /v2/link/token` `{user_id, provider?, redirect_url?, filter_on_providers?, on_error?, on_close?}`
//! (`on_error`/`on_close` are `"redirect"` or null, anything else 422 `literal_error`)
//! → `{link_token, link_web_url}`; `GET /v2/link/provider/oauth/{provider}` with header
//! `x-vital-link-token` (no API key) → `Source {id, name, slug, description, logo, oauth_url,
//! auth_type, source_type, is_active, ...}` (bad token → 400 `{detail:{error_type:
//! "invalid_token"|"token_expired"|"token_consumed", error_message}}`);
//! `GET /v2/link/providers` (no API key; optional `x-vital-link-token`) → bare array of `SourceLink
//! {id, name, slug, description, logo, oauth_url, auth_type, form_components}` (`oauth_url` set
//! for OAuth providers when a valid link token is sent, else null; a bad token → 400 as above);
//! `GET /v2/user/providers/{user_id}` → `{providers:[{name, slug, logo, created_on, status,
//! resource_availability, external_user_id, error_details}]}` (`status` `connected` or `error`;
//! `error_details {error_type, error_message, errored_at}` while in error, else null);
//! `DELETE /v2/user/{user_id}/{provider}` → `{success:true}`.
//! * The consent page is the Link widget. Its Deny is the widget's Close: with `on_close:
//!   "redirect"` (and a `redirect_url`) the browser goes back with
//!   `state=error&error_type=user_cancelled&error=...`; without it the user stays on a Junction
//!   page and the app never hears back. A failed connection (consent form field `error_type`, or
//!   the password `wrong` for a password provider) goes back with `state=error&error_type=<type>&
//!   error=<message>`: always for OAuth providers, for password providers only with `on_error:
//!   "redirect"` (else the error shows on the Junction page).
//! * Link tokens are consumed only by a successful connection (Junction's `token_consumed`);
//!   a Close or a failed attempt leaves the token usable until it expires.
//! * Re-link of a provider the user already has (also in `error` state, see
//!   [`Sandbox::set_junction_connection_error`]): approval updates the record (`status:
//!   connected`, `error_details` cleared, new `external_user_id`); `created_on` is kept, and
//!   Junction exposes no updated time, so a client cannot tell a re-link from the old record by
//!   timestamps (only by the redirect's `state=success`). A Close or a failure changes nothing.
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
//! | Novu | `/novu/consent/{id}` | endpoint (and/or connection) created; 303 to the integration's redirect URL with no query, else a close-tab page; a refused creation is the callback's JSON `ErrorDto` (404/409) | 400 `OAuth error: access_denied` (text) |
//! | Junction | `/junction/consent/{link_token}?...` (`link_web_url`; `oauth_url` adds `provider=`) | connection created or repaired; 303 to `redirect_url` + `state=success` (form field `error_type` or password `wrong`: a failure, see above) | Close: with `on_close=redirect`, 303 to `redirect_url` + `state=error&error_type=user_cancelled&error=..`; else a 200 Junction page |
//!
//! Redirects after a form POST are 303 so a browser follows them with a GET (Junction itself
//! answers 307 to its GET callbacks; the sandbox uses 307 where the browser arrives with a GET,
//! e.g. an expired token's consent page). Links are single-use: a used or expired link shows a
//! 410 page (Junction: a redirect with `error_type=token_consumed` / `token_expired` when it has
//! a `redirect_url`; a Junction token is used only by a success; Novu: 400 text).
//!
//! ## Built-in catalogue
//!
//! * Alloy apps: `shopify` (OAuth, requires property `shopSubdomain`), `slack`, `hubspot` (OAuth),
//!   `netsuite` (API-key credential, `isOauth: false`, fields `realm, consumerKey, consumerSecret,
//!   tokenId, tokenSecret`). One integration per app.
//! * Alloy connectors: `slack`, `notion`, `hubspot` (authenticationType `oauth2`).
//! * Novu integrations: `slack` (endpoint type `slack_user`) and `msteams` (`ms_teams_user`),
//!   which take OAuth links; `telegram` (chat), `novu-in-app` (in_app) and `sendgrid` (email),
//!   which are only listed.
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
//!   "username"?, "password"?, "error_type"?}` → `{platform, link_id, status, location, body}`:
//!   what the browser would get.
//! * `POST /__sandbox/novu/integrations/{identifier}` `{"hmac": true|false}`: protect a Novu
//!   integration with context HMAC or not ([`Sandbox::set_novu_integration_hmac`]); 404 for an
//!   identifier that takes no OAuth links. `reset` restores the configured protection.
//! * `POST /__sandbox/junction/connection-error` `{"user_id", "provider", "error_type"?,
//!   "error_message"?}`: put a Junction connection in `error` state
//!   ([`Sandbox::set_junction_connection_error`]); 404 when there is no such connection.
//! * `POST /__sandbox/connections/{id}/error` `{"error_type"?, "error_message"?}` (body
//!   optional): put the connection `id`, named as oauth-link names it (percent-encode the `/` of
//!   Junction's `<user_id>/<slug>`), in error as its platform reports one. Junction: `status:
//!   error` with `error_details` (`error_type` default `token_refresh_failed`; the
//!   `provider.connection.error` event too). A Novu channel connection: its `auth` becomes a
//!   rotating token pair whose refresh token expired an hour ago (Novu records carry no status;
//!   token expiry is what a listing can show). Novu channel endpoints and Alloy credentials carry
//!   no health state: 409. Unknown: 404.
//! * `GET|POST /__sandbox/clock` `{"advance_seconds": N}`: read or move the sandbox clock.
//! * `GET /__sandbox/settings`: the settings JSON; `GET /__sandbox/health`.
//!
//! ## Webhooks
//!
//! With [`SandboxConfig::junction_webhook`] (CLI: `oauth-link sandbox --webhook-url URL
//! --webhook-secret whsec_...`) the sandbox delivers Junction's connection events as Svix
//! does: `provider.connection.created` when a link is approved, `provider.connection.error`
//! when `POST /__sandbox/junction/connection-error` (or `/__sandbox/connections/{id}/error`)
//! puts a connection in error; none for a
//! denial or a deregistration (Junction documents none). Headers `svix-id` (one per
//! delivery), `svix-timestamp`, `svix-signature` (per attempt); a non-2xx answer is retried
//! on [`SVIX_RETRY_SCHEDULE`] (or [`SandboxConfig::webhook_retry_schedule`]).
//! [`SandboxConfig::junction_connection_delay`] makes a new connection appear, and its event
//! leave, only that long after the approval. [`Sandbox::webhook_attempts`] lists the
//! attempts. See the `webhooks` module docs for the bodies.
//!
//! ## Fault injection
//!
//! ```json
//! {"seed": 42, "rate_429": 0.1, "retry_after_secs": 1, "rate_500": 0.05, "rate_503": 0.05,
//!  "latency_ms": 200, "latency_rate": 0.5, "rate_truncated": 0.02, "rate_malformed": 0.02,
//!  "rate_drop": 0.02, "platforms": ["novu"], "processing_ms": 0, "alloy_delete_success_false": 0}
//! ```
//!
//! All fields are optional (rates default to 0, `latency_rate` to 1, `platforms` empty = all).
//! `"fail_next": [401, 403]` answers the next two platform API calls in scope with those
//! statuses, in the platform's error shape, before any rate applies (each used once): a
//! test can make exactly one call fail as with a bad key, a missing permission or an outage.
//! `processing_ms` holds every handled platform call that long *after* the platform accepted it
//! (Novu: while its idempotency key is in progress, so a concurrent duplicate gets 409).
//! `alloy_delete_success_false: N` makes the next N Alloy credential deletes answer
//! `200 {"success": false}` and delete nothing.
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
mod webhooks;

pub use config::{
    AlloyCredentialPaths, AlloyOauthUrlShape, FaultConfig, Platform, SandboxConfig, DEFAULT_ALLOY_API_KEY,
    DEFAULT_JUNCTION_API_KEY, DEFAULT_NOVU_API_KEY,
};
pub use consent::ConsentResult;
pub use error::{Result, SandboxError};
pub use server::{adapter_settings, RunningSandbox, Sandbox};
pub use webhooks::{DeliveryAttempt, WebhookTarget, SVIX_RETRY_SCHEDULE};
