//! `RedisDedupe` against a real `redis-server` and a Redis Cluster (see
//! `oauth_link_testkit::redis_server`): the guard's SET NX PX under its own prefix, shared
//! by app instances, and the guard's fail modes.

mod topology;

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use oauth_link_core::webhook::{dedupe_delivery, DeliveryDedupe, DeliveryKey, WebhookError};
use oauth_link_core::Error;
use oauth_link_redis::{FailMode, DEFAULT_DEDUPE_PREFIX, DEFAULT_KEY_PREFIX};
use topology::{per_topology, Redis, Topology};

async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut).await.expect("test exceeded 60 s")
}

per_topology!(#[tokio::test] async a_delivery_is_recorded_once_across_instances);
async fn a_delivery_is_recorded_once_across_instances(topology: Topology) {
    let redis = Redis::start(topology);
    bounded(async {
        let mut inspector = redis.inspector().await;
        let guard = redis.builder().connect().await.unwrap();
        let dedupe = guard.dedupe();
        let other_instance = redis.builder().connect().await.unwrap().dedupe();
        let key = DeliveryKey::new("junction", "msg_2b8u7cKXNEDmq1mGg6ZqZ5bT1Xy");
        assert_eq!(dedupe.key(key), format!("{DEFAULT_DEDUPE_PREFIX}{key}"));
        assert_ne!(DEFAULT_DEDUPE_PREFIX, DEFAULT_KEY_PREFIX, "states and deliveries live apart");

        let in_a_day = Utc::now() + chrono::Duration::hours(24);
        assert!(dedupe.first_delivery(key, in_a_day).await.unwrap());
        assert!(!other_instance.first_delivery(key, in_a_day).await.unwrap());
        // A day plus the guard's 60 s grace.
        let pttl = inspector.pttl(&dedupe.key(key)).await;
        assert!((86_459_000..=86_460_000).contains(&pttl), "PTTL {pttl}");

        other_instance.forget(key).await.unwrap();
        assert!(!inspector.exists(&dedupe.key(key)).await);
        // Through the helper: first handled, then refused as a replay naming the id.
        dedupe_delivery(&dedupe, "junction", "msg_2b8u7cKXNEDmq1mGg6ZqZ5bT1Xy").await.unwrap();
        let err = dedupe_delivery(&other_instance, "junction", "msg_2b8u7cKXNEDmq1mGg6ZqZ5bT1Xy").await.unwrap_err();
        assert!(matches!(err, Error::WebhookRejected { reason: WebhookError::Replayed { .. }, .. }), "{err:?}");

        // The prefix is the dedupe's own; an expiry already past counts as a resend.
        let custom = dedupe.clone().with_key_prefix("app-a:webhook:");
        assert!(custom.first_delivery(key, in_a_day).await.unwrap());
        assert!(inspector.exists(&format!("app-a:webhook:{key}")).await);
        let past = Utc::now() - chrono::Duration::hours(1);
        assert!(!custom.first_delivery(DeliveryKey::new("junction", "old"), past).await.unwrap());
        assert!(format!("{custom:?}").contains("app-a:webhook:"));
    })
    .await;
}

per_topology!(#[tokio::test] async redis_down_fails_closed_or_open_as_the_guard_says);
/// The node holding the delivery's mark (the server, or its slot's primary) is down.
async fn redis_down_fails_closed_or_open_as_the_guard_says(topology: Topology) {
    let mut redis = Redis::start(topology);
    bounded(async {
        let timeout = Duration::from_millis(300);
        let closed = redis.builder().command_timeout(timeout).connect().await.unwrap().dedupe();
        let open = redis.builder().command_timeout(timeout).fail_mode(FailMode::Open).connect_lazy().unwrap().dedupe();
        let key = DeliveryKey::new("junction", "msg_1");
        redis.stop(redis.node_for_key(&closed.key(key)));
        let in_a_day = Utc::now() + chrono::Duration::hours(24);
        match closed.first_delivery(key, in_a_day).await {
            Err(Error::ReplayGuard { message }) => {
                assert!(message.contains("webhook delivery could not be recorded"), "{message}");
                assert!(message.contains("503"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(closed.forget(key).await, Err(Error::ReplayGuard { .. })));
        assert!(open.first_delivery(key, in_a_day).await.unwrap());
        open.forget(key).await.unwrap();
    })
    .await;
}
