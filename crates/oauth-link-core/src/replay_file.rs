//! A replay guard shared by the processes of one machine, through a directory.
//!
//! Each used state is one file named by its nonce, created with `create_new` (`O_EXCL`),
//! which the OS makes atomic: of two processes consuming the same state, one creates the
//! file and the other finds it. The file holds the expiry; expired files are swept now and
//! then. Suits a command-line tool or several workers on one host; app instances on several
//! hosts need a networked guard (Redis).

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::replay::ReplayGuard;
use crate::state::Nonce;

/// Sweep expired files every this many consumes.
const SWEEP_EVERY: u32 = 256;

/// Replay guard backed by a directory of marker files.
#[derive(Debug, Clone)]
pub struct FileReplayGuard {
    dir: Arc<PathBuf>,
    clock: Arc<dyn Clock>,
    consumes: Arc<AtomicU32>,
}

impl FileReplayGuard {
    /// A guard keeping its marker files in `dir` (created when missing, mode 0700 on Unix).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        create_private_dir(&dir).map_err(|e| Error::ReplayGuard {
            message: format!("cannot create the replay directory {}: {e}; set a writable replay_dir", dir.display()),
        })?;
        Ok(Self { dir: Arc::new(dir), clock: Arc::new(SystemClock), consumes: Arc::default() })
    }

    /// Sets the time source.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The directory in use.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, nonce: Nonce) -> PathBuf {
        self.dir.join(format!("{:032x}", nonce.as_u128()))
    }

    fn unavailable(&self, e: std::io::Error) -> Error {
        Error::ReplayGuard { message: format!("replay directory {}: {e}", self.dir.display()) }
    }

    fn consume_blocking(&self, nonce: Nonce, expires_at: DateTime<Utc>) -> Result<bool> {
        let now = self.clock.now().timestamp_millis();
        if self.consumes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(now);
        }
        let path = self.path(nonce);
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    file.write_all(expires_at.timestamp_millis().to_string().as_bytes())
                        .map_err(|e| self.unavailable(e))?;
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    // A leftover from an expired state may be reclaimed; a live one means replay.
                    if read_expiry(&path).is_some_and(|expiry| expiry > now) {
                        return Ok(false);
                    }
                    match std::fs::remove_file(&path) {
                        Ok(()) => continue,
                        Err(e) if e.kind() == ErrorKind::NotFound => continue,
                        Err(e) => return Err(self.unavailable(e)),
                    }
                }
                Err(e) => return Err(self.unavailable(e)),
            }
        }
        // Another process reclaimed the same stale file at the same moment: it won.
        Ok(false)
    }

    fn sweep(&self, now: i64) {
        let Ok(entries) = std::fs::read_dir(&*self.dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if read_expiry(&path).is_some_and(|expiry| expiry <= now) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

fn read_expiry(path: &Path) -> Option<i64> {
    // An empty file is one being written right now: treat it as live.
    let text = std::fs::read_to_string(path).ok()?;
    if text.is_empty() {
        return Some(i64::MAX);
    }
    text.trim().parse().ok()
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[async_trait]
impl ReplayGuard for FileReplayGuard {
    async fn consume(&self, nonce: Nonce, expires_at: DateTime<Utc>) -> Result<bool> {
        let guard = self.clone();
        tokio::task::spawn_blocking(move || guard.consume_blocking(nonce, expires_at))
            .await
            .map_err(|e| Error::ReplayGuard { message: format!("replay check did not finish: {e}") })?
    }

    async fn release(&self, nonce: Nonce) -> Result<()> {
        match tokio::fs::remove_file(self.path(nonce)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.unavailable(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("oauth-link-replay-{name}-{}", Nonce::random().as_u128()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test]
    async fn consume_release_and_expiry() {
        let dir = temp_dir("basic");
        let clock = ManualClock::starting_now();
        let guard = FileReplayGuard::new(&dir).unwrap().with_clock(Arc::new(clock.clone()));
        let nonce = Nonce::random();
        let exp = clock.now() + chrono::Duration::seconds(60);
        assert!(guard.consume(nonce, exp).await.unwrap());
        assert!(!guard.consume(nonce, exp).await.unwrap());
        // A second guard on the same directory (another process) sees it too.
        let other = FileReplayGuard::new(&dir).unwrap().with_clock(Arc::new(clock.clone()));
        assert!(!other.consume(nonce, exp).await.unwrap());
        guard.release(nonce).await.unwrap();
        guard.release(nonce).await.unwrap();
        assert!(other.consume(nonce, exp).await.unwrap());
        // Once expired, the marker is reclaimed.
        clock.advance(Duration::from_secs(61));
        assert!(guard.consume(nonce, clock.now() + chrono::Duration::seconds(60)).await.unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_consumers_exactly_one_wins() {
        let dir = temp_dir("race");
        let nonce = Nonce::random();
        let exp = Utc::now() + chrono::Duration::minutes(5);
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let guard = FileReplayGuard::new(&dir).unwrap();
                tokio::spawn(async move { guard.consume(nonce, exp).await.unwrap() })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn sweep_removes_expired_markers() {
        let dir = temp_dir("sweep");
        let clock = ManualClock::starting_now();
        let guard = FileReplayGuard::new(&dir).unwrap().with_clock(Arc::new(clock.clone()));
        let exp = clock.now() + chrono::Duration::seconds(1);
        for _ in 0..SWEEP_EVERY - 1 {
            guard.consume(Nonce::random(), exp).await.unwrap();
        }
        clock.advance(Duration::from_secs(2));
        guard.consume(Nonce::random(), clock.now() + chrono::Duration::seconds(60)).await.unwrap();
        let left = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(left, 1, "only the live marker remains");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unwritable_dir_is_a_clear_error() {
        let err = FileReplayGuard::new("/proc/oauth-link-cannot-exist").unwrap_err();
        assert!(err.to_string().contains("replay_dir"), "{err}");
    }
}
