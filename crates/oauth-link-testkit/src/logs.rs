//! What `tracing` writes during a test, captured to prove no secret reaches a log.

use std::sync::{Arc, Mutex};

use tracing::subscriber::DefaultGuard;

/// The text every `tracing` event of this thread writes while [`CapturedLogs::install`]'s
/// guard lives (plain `fmt` output, no colours).
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl std::fmt::Debug for CapturedLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapturedLogs").field("bytes", &self.0.lock().map_or(0, |b| b.len())).finish()
    }
}

impl CapturedLogs {
    /// Starts capturing events up to `level` on this thread; stops when the guard drops.
    ///
    /// `tracing` caches per callsite whether anyone listens, process-wide: a test that
    /// counts on seeing an event should run alone in its test binary.
    pub fn install(&self, level: tracing::Level) -> DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_captured_while_the_guard_lives() {
        let logs = CapturedLogs::default();
        {
            let _guard = logs.install(tracing::Level::DEBUG);
            tracing::debug!(answer = 42, "captured");
            tracing::trace!("too detailed");
        }
        tracing::info!("after the guard");
        let text = logs.text();
        assert!(text.contains("captured") && text.contains("answer=42"), "{text}");
        assert!(!text.contains("too detailed") && !text.contains("after the guard"), "{text}");
    }
}
