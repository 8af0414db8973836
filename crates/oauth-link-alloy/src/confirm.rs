//! Telling the credential a link made from the ones before it, and reading delete answers.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use chrono::{DateTime, Utc};
use oauth_link_core::http::Reply;
use oauth_link_core::{adapter::StateClaims, Error, Result};
use serde_json::Value;

use crate::Credential;

/// State claim holding the watermark (see [`Watermark`]).
pub const WATERMARK_CLAIM: &str = "aw";

/// State claim holding the Alloy `userId` the link was made for (app mode), so completion
/// on any app instance needs no user lookup.
pub const ALLOY_USER_CLAIM: &str = "au";

/// Watermark text for "the user had no matching credential when the link was issued".
const NONE_TEXT: &str = "-";

/// What the user's matching credentials looked like when a link was issued, carried in
/// the sealed state: only a credential created or updated after it can be the link's.
///
/// Timestamps are Alloy's (its clock on both sides of the comparison), in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watermark {
    /// No matching credential existed: any matching credential listed later is new.
    Empty,
    /// The newest `createdAt`/`updatedAt` among the matching credentials, in epoch
    /// milliseconds (0 when none had a readable timestamp).
    At(i64),
}

impl Watermark {
    /// The watermark of the credentials matching at issue time.
    pub fn of<'a>(matching: impl IntoIterator<Item = &'a Credential>) -> Self {
        let mut any = false;
        let mut newest = 0_i64;
        for credential in matching {
            any = true;
            newest = newest.max(latest(credential).map_or(0, |t| t.timestamp_millis()));
        }
        if any {
            Watermark::At(newest)
        } else {
            Watermark::Empty
        }
    }

    /// The claim text.
    pub fn to_claim(self) -> String {
        match self {
            Watermark::Empty => NONE_TEXT.to_owned(),
            Watermark::At(ms) => ms.to_string(),
        }
    }

    /// The watermark a state carries; `None` for a state issued without one (by an older
    /// version) or with an unreadable one.
    pub fn from_claims(claims: &StateClaims) -> Option<Self> {
        match claims.extra.get(WATERMARK_CLAIM)?.as_str() {
            NONE_TEXT => Some(Watermark::Empty),
            text => text.parse().ok().map(Watermark::At),
        }
    }

    /// True when `credential` appeared or changed after the watermark.
    pub fn admits(self, credential: &Credential) -> bool {
        match self {
            Watermark::Empty => true,
            Watermark::At(ms) => latest(credential).is_some_and(|t| t.timestamp_millis() > ms),
        }
    }

    /// The newest credential `keep` accepts that appeared or changed after the watermark;
    /// `prefer` wins among those when it is one of them (a `credentialId` Alloy returned for
    /// this link).
    pub fn newest_after<'a>(
        self,
        credentials: &'a [Credential],
        prefer: Option<&str>,
        keep: impl Fn(&Credential) -> bool,
    ) -> Option<&'a Credential> {
        let mut admitted = credentials.iter().filter(|c| keep(c) && self.admits(c));
        match prefer {
            Some(id) => {
                let all: Vec<&Credential> = admitted.collect();
                all.iter().find(|c| c.id == id).or_else(|| all.iter().max_by_key(|c| latest(c))).copied()
            }
            None => admitted.by_ref().max_by_key(|c| latest(c)),
        }
    }
}

/// The later of a credential's `createdAt` and `updatedAt`.
pub fn latest(credential: &Credential) -> Option<DateTime<Utc>> {
    credential.created_at.max(credential.updated_at)
}

/// Checks a 2xx answer to `DELETE /users/{userId}/credentials/{credentialId}`: Alloy
/// documents `{success: true}`; `{success: false}` means the credential was not deleted.
/// Any other body (empty, not JSON, no `success`) is taken as done. The error carries none
/// of the call's secrets.
pub fn check_deleted(provider: &'static str, reply: &Reply, credential_id: &str) -> Result<()> {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(reply.body()) else { return Ok(()) };
    if body.get("success") != Some(&Value::Bool(false)) {
        return Ok(());
    }
    let said = body
        .get("message")
        .or_else(|| body.get("error"))
        .and_then(Value::as_str)
        .map(|m| format!(" ({})", oauth_link_core::adapter::excerpt(m.as_bytes())))
        .unwrap_or_default();
    Err(reply.scrub(Error::Provider {
        provider,
        status: reply.status(),
        code: Some("success_false".into()),
        message: format!(
            "Alloy answered `success: false` to deleting credential `{credential_id}`{said}: it was not deleted; list the user's connections and call disconnect again if it is still there"
        ),
    }))
}

/// Runs two futures at once and returns both outputs (the adapters' way to read the
/// watermark while the link is minted, with no added latency).
pub async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    let (mut out_a, mut out_b) = (None, None);
    std::future::poll_fn(|cx| {
        if out_a.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                out_a = Some(v);
            }
        }
        if out_b.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                out_b = Some(v);
            }
        }
        match (out_a.take(), out_b.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                (out_a, out_b) = (a, b);
                Poll::Pending
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{response, KEY};
    use oauth_link_core::adapter::RawRecord;

    fn cred(id: &str, created: Option<i64>, updated: Option<i64>) -> Credential {
        Credential {
            id: id.into(),
            kind: Some("slack".into()),
            name: None,
            created_at: created.and_then(DateTime::from_timestamp_millis),
            updated_at: updated.and_then(DateTime::from_timestamp_millis),
            raw: RawRecord::none(),
        }
    }

    #[test]
    fn watermark_admits_only_what_changed_after_it() {
        let old = cred("old", Some(1_000), Some(2_000));
        let no_time = cred("no-time", None, None);
        let mark = Watermark::of([&old, &no_time]);
        assert_eq!(mark, Watermark::At(2_000));
        assert_eq!(mark.to_claim(), "2000");
        assert!(!mark.admits(&old) && !mark.admits(&no_time));
        // Created at the same millisecond: not told apart, so not taken.
        assert!(!mark.admits(&cred("same", Some(2_000), None)));
        assert!(mark.admits(&cred("new", Some(2_001), None)));
        // An old credential re-authorised (updated) after the link counts.
        assert!(mark.admits(&cred("old", Some(1_000), Some(5_000))));
        assert_eq!(Watermark::of([]), Watermark::Empty);
        assert!(Watermark::Empty.admits(&no_time));
        assert_eq!(Watermark::of([&no_time]), Watermark::At(0));
    }

    #[test]
    fn watermark_round_trips_through_the_state() {
        let ctx = oauth_link_core::LinkContext::ephemeral();
        for mark in [Watermark::Empty, Watermark::At(1_700_000_000_123)] {
            let issued = ctx.issue("x", "u", "t", &[(WATERMARK_CLAIM, &mark.to_claim())]);
            let claims = ctx.codec().verify("x", &issued.token).unwrap();
            assert_eq!(Watermark::from_claims(&claims), Some(mark));
        }
        let plain = ctx.codec().verify("x", &ctx.issue("x", "u", "t", &[]).token).unwrap();
        assert_eq!(Watermark::from_claims(&plain), None);
    }

    #[test]
    fn newest_after_prefers_the_named_credential() {
        let list = [cred("a", Some(10), None), cred("b", Some(20), None), cred("c", Some(30), None)];
        let mark = Watermark::At(10);
        assert_eq!(mark.newest_after(&list, None, |_| true).map(|c| c.id.as_str()), Some("c"));
        assert_eq!(mark.newest_after(&list, Some("b"), |_| true).map(|c| c.id.as_str()), Some("b"));
        // A named credential from before the link does not count.
        assert_eq!(mark.newest_after(&list, Some("a"), |_| true).map(|c| c.id.as_str()), Some("c"));
        assert!(Watermark::At(30).newest_after(&list, Some("a"), |_| true).is_none());
    }

    #[test]
    fn success_false_is_an_error_that_says_what_to_do() {
        let answer = |body: &str| crate::tests::reply("x", response(200, body));
        for ok in [r#"{"success":true}"#, "", "not json", "{}", r#"{"success":"false"}"#] {
            assert!(check_deleted("x", &answer(ok), "c1").is_ok(), "{ok}");
        }
        // The answer echoes the API key the call sent: the error does not.
        let echo = format!(r#"{{"success":false,"message":"locked {KEY}"}}"#);
        let err = check_deleted("x", &answer(&echo), "c1").unwrap_err();
        match &err {
            Error::Provider { status: 200, code: Some(code), message, .. } => {
                assert_eq!(code, "success_false");
                assert!(message.contains("c1") && message.contains("disconnect again") && message.contains("locked"));
                assert!(!message.contains(KEY), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!err.is_retryable());
    }

    #[test]
    fn join2_runs_both_to_completion() {
        // One future is ready at once, the other only on its second poll.
        let mut polled = false;
        let slow = std::future::poll_fn(move |cx| {
            if polled {
                Poll::Ready("b")
            } else {
                polled = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        });
        let mut both = pin!(join2(async { 1 }, slow));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let out = loop {
            if let Poll::Ready(out) = both.as_mut().poll(&mut cx) {
                break out;
            }
        };
        assert_eq!(out, (1, "b"));
    }
}
