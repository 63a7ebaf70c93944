//! Helpers shared by the unit tests of several modules (compiled only for
//! tests). Nothing here runs in the program.

use std::io::Write;
use std::sync::Arc;

use parking_lot::Mutex;

/// A log sink for `tracing_subscriber::fmt().with_writer(..)`: every line
/// written is kept, so a test can check what was (or was not) logged.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
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
