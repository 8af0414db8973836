//! A throwaway `redis-server` per test: free loopback port, no persistence, temp dir,
//! killed by PID when the guard drops (also when the test panics).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Overrides where `redis-server` is looked up.
pub const SERVER_ENV: &str = "OAUTH_LINK_REDIS_SERVER";

/// Longest wait for a started server to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The `redis-server` executable: `$OAUTH_LINK_REDIS_SERVER`, else the first on `PATH`.
/// Panics with installation instructions when there is none: the tests need a real Redis
/// and must not pass silently without one.
pub fn redis_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os(SERVER_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            is_executable(&path),
            "{SERVER_ENV}={} is not an executable file; point it at redis-server or unset it",
            path.display()
        );
        return path;
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var).map(|dir| dir.join("redis-server")).find(|p| is_executable(p)).unwrap_or_else(
        || {
            panic!(
                "redis-server was not found on PATH ({}). The oauth-link-redis tests run against a real Redis: \
                 install it with `sudo apt-get install redis-server` (Debian/Ubuntu; `brew install redis` on macOS), \
                 or set {SERVER_ENV} to the redis-server executable",
                std::env::join_paths(std::env::split_paths(&path_var)).unwrap_or_default().to_string_lossy()
            )
        },
    )
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

/// A unique, empty temporary directory, removed by [`TempDir`]'s drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
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
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `redis-server`, killed when dropped.
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    password: Option<String>,
    child: Option<Child>,
    dir: TempDir,
}

impl RedisServer {
    /// Starts a server without password.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts a server requiring `password`.
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

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL to its PID) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (after [`stop`](Self::stop)); it comes
    /// back empty, as a Redis without persistence does.
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
        let log_path = self.dir.0.join("redis.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let mut command = Command::new(&self.binary);
        command
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir.0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        if let Some(password) = &self.password {
            command.arg("--requirepass").arg(password);
        }
        let child = command.spawn().map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.child = None;
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("redis-server exited with {status} on port {}; log:\n{log}", self.port));
            }
            if answers_ping(self.port) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!(
                    "redis-server did not answer on port {} within {READY_TIMEOUT:?}; log:\n{log}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nobody listens on right now.
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

/// A child process killed (by PID) when dropped, so a failing test leaves none behind.
pub struct ChildGuard(pub Option<Child>);

impl ChildGuard {
    /// Waits at most `timeout` for the child to exit; returns its output. Panics on timeout
    /// (the child is then killed by the drop).
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
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
