//! Throwaway Redis for tests: a `redis-server` per test ([`RedisServer`]) or a
//! three-node Redis Cluster ([`RedisCluster`]) on free loopback ports, no persistence,
//! temporary directories, every process killed by PID when the handle drops (also when
//! the test panics).
//!
//! The tests that use it need a real Redis and must not pass silently without one:
//! starting a server without `redis-server` (or a cluster without `redis-cli`) installed
//! panics with installation instructions. [`SERVER_ENV`] and [`CLI_ENV`] point at other
//! executables.
//!
//! Std only: no extra dependency for the crates that use it.

use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Environment variable overriding where `redis-server` is looked up.
pub const SERVER_ENV: &str = "OAUTH_LINK_REDIS_SERVER";

/// Environment variable overriding where `redis-cli` is looked up.
pub const CLI_ENV: &str = "OAUTH_LINK_REDIS_CLI";

/// Longest wait for a started server to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The `redis-server` executable: `$OAUTH_LINK_REDIS_SERVER`, else the first on `PATH`.
///
/// # Panics
///
/// With installation instructions when there is none.
pub fn redis_server_binary() -> PathBuf {
    find_binary(
        "redis-server",
        SERVER_ENV,
        "install it with `sudo apt-get install redis-server` (Debian/Ubuntu; `brew install redis` on macOS)",
    )
}

/// The `redis-cli` executable (creates clusters): `$OAUTH_LINK_REDIS_CLI`, else the first
/// on `PATH`.
///
/// # Panics
///
/// With installation instructions when there is none.
pub fn redis_cli_binary() -> PathBuf {
    find_binary(
        "redis-cli",
        CLI_ENV,
        "install it with `sudo apt-get install redis-tools` (Debian/Ubuntu; redis-server pulls it in; \
         `brew install redis` on macOS)",
    )
}

/// `$env_var` if set (must be executable), else the first `name` on `PATH`; panics with
/// `hint` when there is none.
fn find_binary(name: &str, env_var: &str, hint: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env_var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            is_executable(&path),
            "{env_var}={} is not an executable file; point it at {name} or unset it",
            path.display()
        );
        return path;
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var).map(|dir| dir.join(name)).find(|p| is_executable(p)).unwrap_or_else(|| {
        panic!(
            "{name} was not found on PATH ({}). These tests run against a real Redis: {hint}, \
             or set {env_var} to the {name} executable",
            std::env::join_paths(std::env::split_paths(&path_var)).unwrap_or_default().to_string_lossy()
        )
    })
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// A unique, empty temporary directory, removed with its contents when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<tmp>/oauth-link-redis-<tag>-<pid>-<n>-<nanos>`.
    ///
    /// # Panics
    ///
    /// When the directory cannot be created.
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "oauth-link-redis-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        Self(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `redis-server` on `127.0.0.1`, killed (by PID) when dropped.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    password: Option<String>,
    child: Option<Child>,
    dir: TempDir,
}

impl RedisServer {
    /// Starts a server without password on a free port.
    ///
    /// # Panics
    ///
    /// When `redis-server` is missing (with installation instructions) or does not start.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts a server requiring `password` on a free port.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_with_password(password: &str) -> Self {
        Self::start_with(Some(password.to_owned()))
    }

    fn start_with(password: Option<String>) -> Self {
        let binary = redis_server_binary();
        let mut last_failure = String::new();
        // A free port can be taken between probing and binding: try a few.
        for _ in 0..5 {
            let mut server = Self {
                binary: binary.clone(),
                port: free_port(),
                password: password.clone(),
                child: None,
                dir: TempDir::new("server"),
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("could not start redis-server: {last_failure}");
    }

    /// `redis://[:password@]127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// The port the server listens on (kept across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id, `None` while stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (SIGKILL to its PID) and waits for it to exit. Does nothing when
    /// it is already stopped.
    pub fn stop(&mut self) {
        kill(&mut self.child);
    }

    /// Starts the server again on the same port (stopping it first if it runs); it comes
    /// back empty, as a Redis without persistence does.
    ///
    /// # Panics
    ///
    /// When it cannot listen on its port again within 5 s.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(failure) if Instant::now() >= deadline => panic!("could not restart redis-server: {failure}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut command = Command::new(&self.binary);
        command.arg("--port").arg(self.port.to_string()).args(["--bind", "127.0.0.1"]);
        if let Some(password) = &self.password {
            command.arg("--requirepass").arg(password);
        }
        self.child = Some(spawn_ready(command, self.dir.path(), self.port)?);
        Ok(())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Kills the child (SIGKILL to its PID), if any, and reaps it.
fn kill(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Runs `command` (a `redis-server` with its port and options set) without persistence in
/// `dir`, logging to `dir/redis.log`, and waits until it answers on `port`.
fn spawn_ready(mut command: Command, dir: &Path, port: u16) -> Result<Child, String> {
    let log_path = dir.join("redis.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    command
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    let mut child =
        Some(command.spawn().map_err(|e| format!("cannot run {}: {e}", command.get_program().to_string_lossy()))?);
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(format!("redis-server exited with {status} on port {port}; log:\n{log}"));
        }
        if answers_ping(port) {
            return Ok(child.take().expect("child is running"));
        }
        if Instant::now() >= deadline {
            kill(&mut child);
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(format!("redis-server did not answer on port {port} within {READY_TIMEOUT:?}; log:\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A loopback port nobody listens on right now.
///
/// # Panics
///
/// When no port can be bound at all.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// True when something on 127.0.0.1:`port` answers an inline `PING` like Redis does
/// (`+PONG`, or `-NOAUTH` when a password is required).
fn answers_ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 16];
    matches!(stream.read(&mut reply), Ok(n) if reply[..n].starts_with(b"+PONG") || reply[..n].starts_with(b"-NOAUTH"))
}

/// A Redis Cluster of three primaries (no replicas) on `127.0.0.1`, each node its own
/// `redis-server --cluster-enabled yes` in its own temporary directory; every node is
/// killed (by PID) when dropped.
///
/// Ports come from 10000..22767, below Linux's ephemeral range, with the cluster bus port
/// (port + 10000) free too, so clusters of tests running in parallel do not collide.
#[derive(Debug)]
pub struct RedisCluster {
    server: PathBuf,
    cli: PathBuf,
    password: Option<String>,
    nodes: Vec<ClusterNode>,
}

#[derive(Debug)]
struct ClusterNode {
    port: u16,
    child: Option<Child>,
    dir: TempDir,
}

/// Nodes of a [`RedisCluster`].
const CLUSTER_NODES: usize = 3;

/// Longest wait for a cluster to be created, or to be whole again after a restart.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);

impl RedisCluster {
    /// Starts three nodes without password and joins them into a cluster; returns once
    /// every node reports `cluster_state:ok`.
    ///
    /// # Panics
    ///
    /// When `redis-server` or `redis-cli` is missing (with installation instructions), or
    /// the cluster does not form within 30 s.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// As [`start`](Self::start), every node requiring `password` (also between nodes).
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_with_password(password: &str) -> Self {
        Self::start_with(Some(password.to_owned()))
    }

    fn start_with(password: Option<String>) -> Self {
        let server = redis_server_binary();
        let cli = redis_cli_binary();
        let mut cluster = Self { server, cli, password, nodes: Vec::new() };
        for _ in 0..CLUSTER_NODES {
            let mut last_failure = String::new();
            let started = (0..10).any(|_| {
                let mut node = ClusterNode { port: free_cluster_port(), child: None, dir: TempDir::new("cluster") };
                match spawn_node(&cluster.server, cluster.password.as_deref(), &mut node) {
                    Ok(()) => {
                        cluster.nodes.push(node);
                        true
                    }
                    Err(failure) => {
                        last_failure = failure;
                        false
                    }
                }
            });
            assert!(started, "could not start a cluster node: {last_failure}");
        }
        let mut create = cluster.cli_command();
        create.arg("--cluster").arg("create");
        for port in cluster.ports() {
            create.arg(format!("127.0.0.1:{port}"));
        }
        create.args(["--cluster-replicas", "0", "--cluster-yes"]);
        let output = cluster.run_cli(create, CLUSTER_TIMEOUT);
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        cluster.wait_until_ok();
        cluster
    }

    /// `redis://[:password@]127.0.0.1:<port>/0` for every node, in node order (seed URLs).
    pub fn urls(&self) -> Vec<String> {
        self.ports()
            .into_iter()
            .map(|port| match &self.password {
                Some(password) => format!("redis://:{password}@127.0.0.1:{port}/0"),
                None => format!("redis://127.0.0.1:{port}/0"),
            })
            .collect()
    }

    /// The nodes' ports, in node order (kept across restarts).
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// The process id of node `index`, `None` while it is stopped.
    ///
    /// # Panics
    ///
    /// When there is no node `index`.
    pub fn pid(&self, index: usize) -> Option<u32> {
        self.nodes[index].child.as_ref().map(Child::id)
    }

    /// Runs `redis-cli -p <port of node index> <args>` (password from the environment) and
    /// returns what it printed: raw text for `CLUSTER NODES`, `OK`, an integer, an error.
    ///
    /// # Panics
    ///
    /// When there is no node `index`, or `redis-cli` cannot run or takes over 10 s.
    pub fn cli(&self, index: usize, args: &[&str]) -> String {
        self.cli_query(self.nodes[index].port, args)
    }

    /// The cluster node id of node `index` (`CLUSTER MYID`).
    ///
    /// # Panics
    ///
    /// As [`cli`](Self::cli), or when the node is stopped.
    pub fn node_id(&self, index: usize) -> String {
        let id = self.cli(index, &["CLUSTER", "MYID"]).trim().to_owned();
        assert!(id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()), "node {index}: CLUSTER MYID said {id:?}");
        id
    }

    /// The index of the node whose slots hold `key` (from `CLUSTER NODES` as a running
    /// node sees it).
    ///
    /// # Panics
    ///
    /// When no running node answers or none owns the slot.
    pub fn node_for_key(&self, key: &str) -> usize {
        let slot = key_slot(key);
        let running = self.nodes.iter().find(|n| n.child.is_some()).expect("a running node");
        let text = self.cli_query(running.port, &["CLUSTER", "NODES"]);
        let owner = text
            .lines()
            .filter(|line| line.split(' ').nth(2).is_some_and(|flags| flags.contains("master")))
            .find(|line| line.split(' ').skip(8).any(|range| slot_range_contains(range, slot)))
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|addr| addr.split(['@', ',']).next())
            .and_then(|addr| addr.rsplit(':').next())
            .and_then(|port| port.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("no primary owns slot {slot} of {key:?}; CLUSTER NODES:\n{text}"));
        self.nodes.iter().position(|n| n.port == owner).unwrap_or_else(|| panic!("port {owner} is not ours"))
    }

    /// Kills node `index` (SIGKILL to its PID); its slots are unserved until it restarts.
    ///
    /// # Panics
    ///
    /// When there is no node `index`.
    pub fn stop_node(&mut self, index: usize) {
        kill(&mut self.nodes[index].child);
    }

    /// Starts node `index` again (stopping it first if it runs) on the same port and
    /// directory, so it rejoins with its identity and slots from `nodes.conf`, empty as a
    /// Redis without persistence; returns once every node reports `cluster_state:ok`.
    ///
    /// # Panics
    ///
    /// When it cannot listen on its port again within 5 s, or the cluster is not whole
    /// again within 30 s.
    pub fn restart_node(&mut self, index: usize) {
        self.stop_node(index);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match spawn_node(&self.server, self.password.as_deref(), &mut self.nodes[index]) {
                Ok(()) => break,
                Err(failure) if Instant::now() >= deadline => {
                    panic!("could not restart cluster node {index}: {failure}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        self.wait_until_ok();
    }

    /// Polls until every running node reports `cluster_state:ok`.
    fn wait_until_ok(&self) {
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            loop {
                let info = self.cli_query(node.port, &["CLUSTER", "INFO"]);
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster is not ok on port {} within {CLUSTER_TIMEOUT:?}:\n{info}",
                    node.port
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// `redis-cli` with the password (if any) passed through the environment, not argv.
    fn cli_command(&self) -> Command {
        let mut command = Command::new(&self.cli);
        if let Some(password) = &self.password {
            command.env("REDISCLI_AUTH", password);
        }
        command
    }

    fn run_cli(&self, mut command: Command, timeout: Duration) -> std::process::Output {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.cli.display()));
        ChildGuard::new(child).wait_with_timeout(timeout)
    }

    /// The raw reply of `redis-cli -p <port> <args>` (empty when it fails).
    fn cli_query(&self, port: u16, args: &[&str]) -> String {
        let mut command = self.cli_command();
        command.args(["-h", "127.0.0.1", "-p"]).arg(port.to_string()).args(args);
        let output = self.run_cli(command, Duration::from_secs(10));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            kill(&mut node.child);
        }
    }
}

/// Starts `node` as a cluster-enabled `redis-server` on its port, in its directory.
fn spawn_node(server: &Path, password: Option<&str>, node: &mut ClusterNode) -> Result<(), String> {
    let mut command = Command::new(server);
    command
        .arg("--port")
        .arg(node.port.to_string())
        .args(["--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
        // A node down for a test's short outage is not declared failed (which would stop
        // the whole cluster serving), and a restarted one is back quickly.
        .args(["--cluster-node-timeout", "5000"]);
    if let Some(password) = password {
        command.arg("--requirepass").arg(password).arg("--masterauth").arg(password);
    }
    node.child = Some(spawn_ready(command, node.dir.path(), node.port)?);
    Ok(())
}

/// True when a `CLUSTER NODES` slot field (`5`, `0-5460`; `[...]` migration markers never
/// match) holds `slot`.
fn slot_range_contains(range: &str, slot: u16) -> bool {
    let bounds = match range.split_once('-') {
        Some((low, high)) => low.parse::<u16>().ok().zip(high.parse::<u16>().ok()),
        None => range.parse::<u16>().ok().map(|s| (s, s)),
    };
    bounds.is_some_and(|(low, high)| (low..=high).contains(&slot))
}

/// The Redis Cluster hash slot of `key`: CRC16 (XMODEM) of the key, or of its hash tag
/// (the part between the first `{` and the next `}`, when not empty), modulo 16384.
pub fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = bytes
        .iter()
        .position(|b| *b == b'{')
        .and_then(|open| {
            let rest = &bytes[open + 1..];
            rest.iter().position(|b| *b == b'}').filter(|len| *len > 0).map(|len| &rest[..len])
        })
        .unwrap_or(bytes);
    let mut crc: u16 = 0;
    for byte in hashed {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc % 16384
}

/// A loopback port in 10000..22767 that is free, with its cluster bus port (+10000) free
/// too. Random, so that parallel tests rarely probe the same one.
fn free_cluster_port() -> u16 {
    for _ in 0..1000 {
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let port = 10_000 + (random % 12_768) as u16;
        let free = |p: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok();
        if free(port) && free(port + 10_000) {
            return port;
        }
    }
    panic!("no free loopback port pair (port, port + 10000) in 10000..32767");
}

/// A child process killed (by PID) when dropped, so a failing test leaves none behind.
#[derive(Debug)]
pub struct ChildGuard(Option<Child>);

impl ChildGuard {
    /// Takes charge of `child`.
    pub fn new(child: Child) -> Self {
        Self(Some(child))
    }

    /// Waits at most `timeout` for the child to exit and returns its output (capture it
    /// with `Stdio::piped()`).
    ///
    /// # Panics
    ///
    /// On timeout (the child is then killed by the drop), or when already collected.
    pub fn wait_with_timeout(&mut self, timeout: Duration) -> std::process::Output {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.0.as_mut().expect("child already collected");
            if child.try_wait().expect("poll child").is_some() {
                return self.0.take().expect("child").wait_with_output().expect("collect child output");
            }
            assert!(Instant::now() < deadline, "child process did not finish within {timeout:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        kill(&mut self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_dirs_are_unique_and_removed() {
        let (a, b) = (TempDir::new("t"), TempDir::new("t"));
        assert_ne!(a.path(), b.path());
        assert!(a.path().is_dir());
        let path = a.path().to_owned();
        drop(a);
        assert!(!path.exists());
    }

    #[test]
    fn key_slots_match_redis() {
        // Values from `CLUSTER KEYSLOT` and the Redis Cluster specification.
        assert_eq!(key_slot("123456789"), 12739);
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
        assert_eq!(key_slot("foo{}{bar}"), key_slot("foo{}{bar}"));
        assert_ne!(key_slot("foo{}{bar}"), key_slot("bar"));
        assert_eq!(key_slot("foo{{bar}}zap"), key_slot("{bar"));
    }

    #[test]
    fn slot_ranges() {
        assert!(slot_range_contains("0-5460", 0) && slot_range_contains("0-5460", 5460));
        assert!(!slot_range_contains("0-5460", 5461));
        assert!(slot_range_contains("7", 7) && !slot_range_contains("7", 8));
        assert!(!slot_range_contains("[5461->-abc]", 5461));
    }

    #[test]
    fn cluster_ports_leave_room_for_the_bus() {
        for _ in 0..20 {
            let port = free_cluster_port();
            assert!((10_000..22_768).contains(&port), "{port}");
        }
    }

    #[test]
    fn a_missing_binary_panics_with_the_hint() {
        let panic = std::panic::catch_unwind(|| {
            find_binary("surely-not-installed-xyz", "OAUTH_LINK_TESTKIT_UNSET_VAR_XYZ", "install the xyz package")
        })
        .unwrap_err();
        let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains("surely-not-installed-xyz was not found on PATH"), "{text}");
        assert!(text.contains("install the xyz package"), "{text}");
        assert!(text.contains("OAUTH_LINK_TESTKIT_UNSET_VAR_XYZ"), "{text}");
    }
}
