//! Throwaway Redis for tests: a `redis-server` per test on a free loopback port, no
//! persistence, its own temporary directory, killed by PID when the handle drops (also
//! when the test panics).
//!
//! The tests that use it need a real Redis and must not pass silently without one:
//! starting a server without `redis-server` installed panics with installation
//! instructions. [`SERVER_ENV`] points at another executable.
//!
//! Std only: no extra dependency for the crates that use it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Environment variable overriding where `redis-server` is looked up.
pub const SERVER_ENV: &str = "OAUTH_LINK_REDIS_SERVER";

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
