//! The Redis deployments the race, restart and dedupe tests run against: one
//! `redis-server`, and a three-node Redis Cluster (both from `oauth_link_testkit`). One
//! test body per idea takes a [`Topology`]; [`per_topology!`] makes one test per topology.

// Each test binary uses part of it.
#![allow(dead_code)]

use std::time::Duration;

use oauth_link_redis::{RedisReplayGuard, RedisReplayGuardBuilder};
use oauth_link_testkit::redis_server::{RedisCluster, RedisServer};

/// One Redis server, or a Redis Cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    Single,
    Cluster,
}

/// One test per topology, named `<body>::single` and `<body>::cluster`, each calling the
/// async (or, with `sync`, plain) function `body(Topology)` under the given attributes.
macro_rules! per_topology {
    ($(#[$attr:meta])* async $body:ident) => {
        mod $body {
            use super::*;
            $(#[$attr])*
            async fn single() {
                super::$body(Topology::Single).await
            }
            $(#[$attr])*
            async fn cluster() {
                super::$body(Topology::Cluster).await
            }
        }
    };
    ($(#[$attr:meta])* sync $body:ident) => {
        mod $body {
            use super::*;
            $(#[$attr])*
            fn single() {
                super::$body(Topology::Single)
            }
            $(#[$attr])*
            fn cluster() {
                super::$body(Topology::Cluster)
            }
        }
    };
}
pub(crate) use per_topology;

/// Where a guard finds its Redis, as text a child process receives:
/// `single <url>` or `cluster <url>,<url>,...`.
#[derive(Debug, Clone)]
pub struct Seeds {
    pub topology: Topology,
    pub urls: Vec<String>,
}

impl Seeds {
    /// Guard settings for this deployment.
    pub fn builder(&self) -> RedisReplayGuardBuilder {
        match self.topology {
            Topology::Single => RedisReplayGuard::builder(&self.urls[0]),
            Topology::Cluster => RedisReplayGuard::cluster_builder(&self.urls),
        }
    }

    pub fn encode(&self) -> String {
        let kind = match self.topology {
            Topology::Single => "single",
            Topology::Cluster => "cluster",
        };
        format!("{kind} {}", self.urls.join(","))
    }

    pub fn decode(text: &str) -> Self {
        let (kind, urls) = text.split_once(' ').expect("`<topology> <urls>`");
        let topology = match kind {
            "single" => Topology::Single,
            "cluster" => Topology::Cluster,
            other => panic!("unknown topology {other:?}"),
        };
        Self { topology, urls: urls.split(',').map(str::to_owned).collect() }
    }
}

/// A running deployment of either topology.
pub enum Redis {
    Single(RedisServer),
    Cluster(RedisCluster),
}

impl Redis {
    pub fn start(topology: Topology) -> Self {
        match topology {
            Topology::Single => Redis::Single(RedisServer::start()),
            Topology::Cluster => Redis::Cluster(RedisCluster::start()),
        }
    }

    pub fn seeds(&self) -> Seeds {
        match self {
            Redis::Single(server) => Seeds { topology: Topology::Single, urls: vec![server.url()] },
            Redis::Cluster(cluster) => Seeds { topology: Topology::Cluster, urls: cluster.urls() },
        }
    }

    /// Guard settings for this deployment.
    pub fn builder(&self) -> RedisReplayGuardBuilder {
        self.seeds().builder()
    }

    /// The node holding `key` (always 0 for one server).
    pub fn node_for_key(&self, key: &str) -> usize {
        match self {
            Redis::Single(_) => 0,
            Redis::Cluster(cluster) => cluster.node_for_key(key),
        }
    }

    pub fn port(&self, node: usize) -> u16 {
        match self {
            Redis::Single(server) => server.port(),
            Redis::Cluster(cluster) => cluster.ports()[node],
        }
    }

    /// Kills `node` (the server itself for one server).
    pub fn stop(&mut self, node: usize) {
        match self {
            Redis::Single(server) => server.stop(),
            Redis::Cluster(cluster) => cluster.stop_node(node),
        }
    }

    /// Starts `node` again on its port; it comes back empty.
    pub fn restart(&mut self, node: usize) {
        match self {
            Redis::Single(server) => server.restart(),
            Redis::Cluster(cluster) => cluster.restart_node(node),
        }
    }

    /// A direct connection to look at what the guards stored.
    pub async fn inspector(&self) -> Inspector {
        Inspector::connect(self.seeds()).await
    }
}

/// A plain connection of the `redis` crate, to either topology.
pub enum Inspector {
    Single(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Inspector {
    /// To the one server at `url`.
    pub async fn single(url: &str) -> Self {
        Self::connect(Seeds { topology: Topology::Single, urls: vec![url.to_owned()] }).await
    }

    pub async fn connect(seeds: Seeds) -> Self {
        let connecting = async {
            match seeds.topology {
                Topology::Single => {
                    let client = redis::Client::open(seeds.urls[0].as_str()).unwrap();
                    Inspector::Single(client.get_multiplexed_async_connection().await.expect("inspector connect"))
                }
                Topology::Cluster => {
                    let client = redis::cluster::ClusterClient::new(seeds.urls).unwrap();
                    Inspector::Cluster(client.get_async_connection().await.expect("inspector connect"))
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), connecting).await.expect("inspector connect timed out")
    }

    pub async fn query<T: redis::FromRedisValue>(&mut self, cmd: &mut redis::Cmd) -> T {
        let reply = async {
            match self {
                Inspector::Single(conn) => cmd.query_async(conn).await,
                Inspector::Cluster(conn) => cmd.query_async(conn).await,
            }
        };
        tokio::time::timeout(Duration::from_secs(5), reply)
            .await
            .expect("inspector command timed out")
            .expect("inspector command")
    }

    pub async fn pttl(&mut self, key: &str) -> i64 {
        self.query(redis::cmd("PTTL").arg(key)).await
    }

    pub async fn get(&mut self, key: &str) -> Option<String> {
        self.query(redis::cmd("GET").arg(key)).await
    }

    pub async fn exists(&mut self, key: &str) -> bool {
        self.query::<i64>(redis::cmd("EXISTS").arg(key)).await == 1
    }
}
