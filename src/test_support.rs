//! Helpers shared by the unit tests of several modules (compiled only for
//! tests). Nothing here runs in the program.

use std::io::Write;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::diagnostic::ConfigError;

/// A log sink for `tracing_subscriber::fmt().with_writer(..)`: every line
/// written is kept, so a test can check what was (or was not) logged.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Runs `f` with every event at `level` or above written to a new
    /// [`Captured`] (on this thread); what `f` returns, and the log.
    pub fn during<R>(level: tracing::Level, f: impl FnOnce() -> R) -> (R, Captured) {
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(level)
            .with_ansi(false)
            .finish();
        (tracing::subscriber::with_default(subscriber, f), log)
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Asserts that `errors` are those `want` lists, in order: each at its
/// file, its message starting with the text given. `case` names the case
/// in a failure.
pub fn assert_errors<'e>(
    case: &str,
    errors: impl IntoIterator<Item = &'e ConfigError>,
    want: &[(&str, &str)],
) {
    let got: Vec<(&str, &str)> = errors
        .into_iter()
        .map(|e| (e.file.as_str(), e.message.as_str()))
        .collect();
    assert_eq!(got.len(), want.len(), "{case}: {got:?}");
    for ((file, message), (want_file, prefix)) in got.iter().zip(want) {
        assert_eq!(file, want_file, "{case}");
        assert!(message.starts_with(prefix), "{case}: {message}");
    }
}
