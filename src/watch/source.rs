//! watch stage: the notify watcher itself, and the fallback to polling.
//!
//! Owns the OS watcher and the set of directories it watches; hands raw
//! events to the driver through a bounded queue. It never filters, debounces
//! or reads file contents.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use notify::{Config, PollWatcher, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::WatchError;
use super::filter::TREES;

/// How often the poll fallback looks at the disk.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Raw events waiting for the driver. When it is full, events are dropped and
/// the overflow flag makes the driver ask for a rescan instead.
const QUEUE: usize = 8192;

/// Where the directories to watch are.
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    pub git_dir: Option<PathBuf>,
    pub common_dir: Option<PathBuf>,
}

impl Layout {
    /// The directory holding `refs/heads/` (the common dir of a linked
    /// worktree, the git dir otherwise).
    pub fn refs_heads(&self) -> Option<PathBuf> {
        self.common_dir
            .as_ref()
            .or(self.git_dir.as_ref())
            .map(|d| d.join("refs").join("heads"))
    }
}

/// The sending half, shared by every watcher this source creates.
#[derive(Clone)]
struct Sink {
    tx: mpsc::Sender<notify::Result<notify::Event>>,
    overflowed: Arc<AtomicBool>,
}

impl Sink {
    fn handler(&self) -> impl FnMut(notify::Result<notify::Event>) + Send + 'static {
        let sink = self.clone();
        // `try_send`, not `blocking_send`: the poll watcher may call the
        // handler from the thread that calls `watch`, which can be a runtime
        // thread, and a full queue must not stall the OS watcher either.
        move |res| {
            if sink.tx.try_send(res).is_err() {
                sink.overflowed.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// The live watcher and what it watches.
pub struct Source {
    watcher: Box<dyn Watcher + Send>,
    backend: &'static str,
    layout: Layout,
    sink: Sink,
}

/// What the driver reads raw events from.
pub struct Events {
    pub rx: mpsc::Receiver<notify::Result<notify::Event>>,
    pub overflowed: Arc<AtomicBool>,
}

impl Source {
    /// Starts the native watcher (the poll watcher if `force_poll`, or if the
    /// native one cannot start or hits its limit) and watches every directory
    /// of the layout that exists. Returns the reason for a fallback, if any.
    pub fn start(
        layout: Layout,
        force_poll: bool,
    ) -> Result<(Source, Events, Option<String>), WatchError> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let overflowed = Arc::new(AtomicBool::new(false));
        let sink = Sink {
            tx,
            overflowed: overflowed.clone(),
        };
        let events = Events { rx, overflowed };
        if !force_poll {
            match RecommendedWatcher::new(sink.handler(), Config::default()) {
                Ok(watcher) => {
                    let mut source = Source {
                        watcher: Box::new(watcher),
                        backend: native_name(),
                        layout: layout.clone(),
                        sink: sink.clone(),
                    };
                    match source.watch_all() {
                        Ok(()) => return Ok((source, events, None)),
                        Err(e) if needs_polling(&e) => {
                            let reason = describe(&e);
                            let source = Source::poll(layout, sink)?;
                            return Ok((source, events, Some(reason)));
                        }
                        Err(e) => return Err(WatchError::Notify(describe(&e))),
                    }
                }
                Err(e) if needs_polling(&e) => {
                    let reason = describe(&e);
                    let source = Source::poll(layout, sink)?;
                    return Ok((source, events, Some(reason)));
                }
                Err(e) => return Err(WatchError::Notify(describe(&e))),
            }
        }
        let source = Source::poll(layout, sink)?;
        Ok((source, events, None))
    }

    fn poll(layout: Layout, sink: Sink) -> Result<Source, WatchError> {
        let config = Config::default().with_poll_interval(POLL_INTERVAL);
        let watcher = PollWatcher::new(sink.handler(), config)
            .map_err(|e| WatchError::Notify(describe(&e)))?;
        let mut source = Source {
            watcher: Box::new(watcher),
            backend: "poll",
            layout,
            sink,
        };
        source
            .watch_all()
            .map_err(|e| WatchError::Notify(describe(&e)))?;
        Ok(source)
    }

    /// Replaces the native watcher with the poll watcher, watching the same
    /// directories. The old watcher is dropped, which stops its thread.
    pub fn fall_back_to_polling(&mut self) -> Result<(), WatchError> {
        let poll = Source::poll(self.layout.clone(), self.sink.clone())?;
        *self = poll;
        Ok(())
    }

    pub fn backend(&self) -> &'static str {
        self.backend
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Watches a tree (`workflows/`, `config/`) recursively, e.g. once it has
    /// been created after start. A tree that vanished again is no error.
    pub fn watch_tree(&mut self, dir: &Path) -> notify::Result<()> {
        ignore_missing(self.watcher.watch(dir, RecursiveMode::Recursive))
    }

    fn watch_all(&mut self) -> notify::Result<()> {
        let layout = self.layout.clone();
        // The root must be watchable; the rest may be missing.
        self.watcher
            .watch(&layout.root, RecursiveMode::NonRecursive)?;
        for tree in TREES {
            let dir = layout.root.join(tree);
            if dir.is_dir() {
                self.watch_tree(&dir)?;
            }
        }
        if let Some(git_dir) = &layout.git_dir {
            ignore_missing(self.watcher.watch(git_dir, RecursiveMode::NonRecursive))?;
        }
        if let Some(common) = &layout.common_dir
            && Some(common) != layout.git_dir.as_ref()
        {
            // packed-refs lives in the common dir of a linked worktree.
            ignore_missing(self.watcher.watch(common, RecursiveMode::NonRecursive))?;
        }
        if let Some(heads) = layout.refs_heads()
            && heads.is_dir()
        {
            ignore_missing(self.watcher.watch(&heads, RecursiveMode::Recursive))?;
        }
        Ok(())
    }
}

fn ignore_missing(res: notify::Result<()>) -> notify::Result<()> {
    match res {
        Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => Ok(()),
        Err(notify::Error {
            kind: notify::ErrorKind::Io(ref io),
            ..
        }) if io.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn native_name() -> &'static str {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        "inotify"
    } else if cfg!(target_os = "macos") {
        "fsevent"
    } else if cfg!(windows) {
        "windows"
    } else {
        "kqueue"
    }
}

/// A watch limit or an unsupported filesystem: polling still works there.
pub fn needs_polling(e: &notify::Error) -> bool {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => true,
        notify::ErrorKind::Io(io) => {
            io.kind() == std::io::ErrorKind::Unsupported
                || matches!(
                    io.raw_os_error(),
                    // ENOSPC (watch limit), EMFILE (instance limit), ENOSYS.
                    Some(28) | Some(24) | Some(38)
                )
        }
        notify::ErrorKind::Generic(msg) => {
            let msg = msg.to_ascii_lowercase();
            msg.contains("not supported") || msg.contains("unsupported")
        }
        _ => false,
    }
}

/// A watcher error in words, with the paths it concerns.
pub fn describe(e: &notify::Error) -> String {
    let what = match &e.kind {
        notify::ErrorKind::MaxFilesWatch => {
            "the system limit on watches is reached (raise fs.inotify.max_user_watches)".to_string()
        }
        notify::ErrorKind::Io(io) => io.to_string(),
        notify::ErrorKind::Generic(msg) => msg.clone(),
        notify::ErrorKind::PathNotFound => "path not found".to_string(),
        notify::ErrorKind::WatchNotFound => "watch not found".to_string(),
        notify::ErrorKind::InvalidConfig(c) => format!("invalid watcher configuration: {c:?}"),
    };
    if e.paths.is_empty() {
        what
    } else {
        let paths: Vec<String> = e.paths.iter().map(|p| p.display().to_string()).collect();
        format!("{what} ({})", paths.join(", "))
    }
}
